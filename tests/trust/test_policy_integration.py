"""Institution policies applied where members get AMIs: browse (GET /amis/) and the resolver's
registry tier; ?policy=report shows what would be blocked without enforcing."""
import pytest

from registry.models import Community, CommunityMembership
from tests.conftest import client_for
from tests.factories import AMIFactory, AMIRegionFactory, TemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def template():
    tpl = TemplateFactory()
    tpl.document = {"name": tpl.name, "slug": tpl.slug, "description": "d", "base": "ubuntu-22.04",
                    "package_manager": "apt", "packages": {"system": ["git"]}, "ami_config": {}}
    tpl.save()
    return tpl


@pytest.fixture
def institution(user):
    inst = Community.objects.create(slug="uni", name="Uni", kind="institution", policy={"require_passed_scan": True})
    CommunityMembership.objects.create(community=inst, user=user)
    return inst


@pytest.fixture
def two_amis(template):
    # The unscanned one is far more popular: without a policy the resolver prefers it.
    scanned = AMIFactory(template=template, scan_status="passed", name="scanned")
    popular = AMIFactory(template=template, scan_status="failed", name="popular", rating_sum=50, rating_count=10,
                         download_count=500)
    return scanned, popular


def _resolve(who, template, **params):
    return client_for(who).get(f"/api/v1/ami/resolve/{template.slug}", {"region": "us-east-1",
                                                                         "architecture": "x86_64", **params})


def test_resolver_registry_tier_skips_what_the_policy_forbids(user, other_user, institution, template, two_amis):
    scanned, popular = two_amis
    outsider = _resolve(other_user, template)
    assert outsider.status_code == 200 and outsider.json()["registry_id"] == str(popular.pk)

    member = _resolve(user, template)
    assert member.status_code == 200, member.content
    body = member.json()
    assert body["resolution_method"] == "registry" and body["registry_id"] == str(scanned.pk)
    registry = next(t for t in body["tried"] if t["tier"] == "registry")
    assert registry["outcome"] == "found" and "skipped by institution policy" in registry["reason"]
    assert "popular" in registry["reason"] and "security scan not passed" in registry["reason"]
    assert "policy_report" not in body


def test_report_mode_does_not_enforce(user, institution, template, two_amis):
    scanned, popular = two_amis
    resp = _resolve(user, template, policy="report")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["registry_id"] == str(popular.pk)        # not enforced
    report = body["policy_report"]
    assert report["mode"] == "report" and report["sources"] == ["uni"]
    assert [(b["registry_id"], b["region"]) for b in report["would_block"]] == [(str(popular.pk), "us-east-1")]
    assert "security scan not passed" in report["would_block"][0]["reasons"][0]
    assert _resolve(user, template, policy="maybe").status_code == 400


def test_policy_forbidding_everything_refuses_the_registry_tier(user, institution, template, two_amis):
    institution.policy = {"allowed_architectures": ["arm64"]}
    institution.save()
    resp = _resolve(user, template, strategy="ami_required")
    assert resp.status_code == 422 and resp.json()["code"] == "no_ami_available"
    registry = next(t for t in resp.json()["tried"] if t["tier"] == "registry")
    assert registry["outcome"] == "refused" and "architecture x86_64 not allowed" in registry["reason"]


def test_policy_update_invalidates_cached_resolutions(user, moderator, institution, template, two_amis,
                                                      django_capture_on_commit_callbacks):
    scanned, popular = two_amis
    assert _resolve(user, template).json()["registry_id"] == str(scanned.pk)
    assert _resolve(user, template).json()["cached"] is True
    with django_capture_on_commit_callbacks(execute=True):
        resp = client_for(moderator).put("/api/v1/communities/uni/policy", {"policy": {}}, format="json")
    assert resp.status_code == 200
    # The member's cached answer was computed under the old policy: it is not served again.
    answer = _resolve(user, template).json()
    assert answer["registry_id"] == str(popular.pk) and answer["cached"] is False


@pytest.mark.parametrize("policy,expected", [
    ({"require_passed_scan": True}, {"scanned"}),
    ({"require_verified_signature": True}, {"verified"}),
    ({"min_rating": 4}, {"rated"}),
    ({"allowed_owner_accounts": ["111122223333"]}, {"owned"}),
    ({"allowed_architectures": ["arm64"]}, {"arm"}),
    ({"allowed_regions": ["eu-west-1"]}, {"copied"}),
])
def test_browse_applies_each_rule(user, other_user, institution, policy, expected):
    AMIFactory(name="scanned", scan_status="passed")
    AMIFactory(name="verified", verified=True)
    AMIFactory(name="rated", rating_avg=4.5, rating_sum=9, rating_count=2)
    AMIFactory(name="owned", owner_account_id="111122223333")
    AMIFactory(name="arm", architecture="arm64")
    AMIRegionFactory(ami=AMIFactory(name="copied"), region="eu-west-1")
    institution.policy = policy
    institution.save()
    names = {a["name"] for a in client_for(user).get("/api/v1/amis/", {"page_size": 100}).json()["results"]}
    assert names == expected
    everyone = {a["name"] for a in client_for(other_user).get("/api/v1/amis/", {"page_size": 100}).json()["results"]}
    assert everyone == {"scanned", "verified", "rated", "owned", "arm", "copied"}


def test_browse_blocked_ami(user, institution):
    keep, blocked = AMIFactory(name="keep"), AMIFactory(name="blocked")
    institution.policy = {"blocked_amis": [blocked.ami_id]}
    institution.save()
    names = {a["name"] for a in client_for(user).get("/api/v1/amis/").json()["results"]}
    assert names == {"keep"}
