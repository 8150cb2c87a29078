"""Institution policies: validation, who may change them, and each rule's effect on check/filter."""
import pytest

from amis.models import AMI
from registry.models import AuditEvent, Community, CommunityMembership
from amis.policy import Policy, policy_check, policy_for_user, policy_validate
from amis.selectors import ami_filter_by_policy
from registry.errors import InvalidInput
from tests.conftest import client_for
from tests.factories import AMIFactory, AMIRegionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def institution(user):
    inst = Community.objects.create(slug="uni-a", name="University A", kind=Community.Kind.INSTITUTION)
    CommunityMembership.objects.create(community=inst, user=user)
    return inst


def _set(inst, **policy):
    inst.policy = policy
    inst.save()


def test_validation_names_every_problem():
    with pytest.raises(InvalidInput) as exc:
        policy_validate({"min_rating": 7, "allowed_regions": ["mars-1"], "allowed_owner_accounts": ["12"],
                         "allowed_architectures": ["sparc"], "blocked_amis": ["nope"], "colour": "red",
                         "require_passed_scan": "yes"})
    assert set(exc.value.errors) == {"policy.min_rating", "policy.allowed_regions", "policy.allowed_owner_accounts",
                                     "policy.allowed_architectures", "policy.blocked_amis", "policy.colour",
                                     "policy.require_passed_scan"}
    assert policy_validate({"allowed_regions": ["us-east-1", "us-east-1"], "min_rating": 4}) == {
        "allowed_regions": ["us-east-1"], "min_rating": 4.0}
    with pytest.raises(InvalidInput):
        policy_validate(["not", "an", "object"])


def test_policy_api_permissions_and_audit(institution, user, other_user, moderator):
    url = "/api/v1/communities/uni-a/policy"
    body = {"policy": {"require_passed_scan": True, "allowed_regions": ["us-east-1"]}}
    assert client_for(other_user).get(url).status_code == 404          # not a member: invisible
    assert client_for(user).get(url).json()["policy"] == {}
    assert client_for(user).put(url, body, format="json").status_code == 403   # member, not admin
    CommunityMembership.objects.filter(community=institution, user=user).update(role="admin")
    resp = client_for(user).put(url, body, format="json")
    assert resp.status_code == 200 and resp.json()["policy"] == body["policy"]
    bad = client_for(moderator).put(url, {"policy": {"min_rating": "high"}}, format="json")
    assert bad.status_code == 400 and "policy.min_rating" in bad.json()["errors"]
    arn = client_for(moderator).put(url, {"policy": {}, "aws_role_arn": "arn:aws:iam::111122223333:role/Copy"},
                                    format="json")
    assert arn.status_code == 200 and arn.json()["aws_role_arn"].endswith("role/Copy")
    assert client_for(moderator).put(url, {"policy": {}, "aws_role_arn": "nope"}, format="json").status_code == 400
    events = AuditEvent.objects.filter(action="policy.update", target_id=str(institution.pk)).order_by("at", "id")
    assert events.count() == 2
    assert events[0].before["policy"] == {} and events[0].after["policy"] == body["policy"]
    open_community = Community.objects.get(slug="cloudworkstation")
    resp = client_for(moderator).put("/api/v1/communities/cloudworkstation/policy", {"policy": {}}, format="json")
    assert resp.status_code == 400 and resp.json()["code"] == "not_an_institution"
    assert open_community.policy == {}


def test_each_rule(institution, user):
    good = AMIFactory(verified=True, scan_status="passed", rating_avg=4.5, owner_account_id="111111111111")
    rules = {
        "require_verified_signature": (True, dict(verified=False), "signature"),
        "require_passed_scan": (True, dict(scan_status="failed"), "scan"),
        "min_rating": (4, dict(rating_avg=3.9), "rating"),
        "allowed_owner_accounts": (["111111111111"], dict(owner_account_id="222222222222"), "owner"),
        "allowed_architectures": (["x86_64"], dict(architecture="arm64"), "architecture"),
    }
    for rule, (value, bad_fields, word) in rules.items():
        _set(institution, **{rule: value})
        policy = policy_for_user(user)
        bad = AMIFactory(**{**dict(verified=True, scan_status="passed", rating_avg=4.5,
                                   owner_account_id="111111111111"), **bad_fields})
        assert policy_check(good, policy) == [], rule
        reasons = policy_check(bad, policy)
        assert len(reasons) == 1 and word in reasons[0] and "uni-a" in reasons[0], (rule, reasons)
        allowed = set(ami_filter_by_policy(AMI.objects.filter(pk__in=[good.pk, bad.pk]), policy=policy))
        assert allowed == {good}, rule


def test_regions_and_blocked(institution, user):
    east = AMIFactory()
    west = AMIFactory(source_region="us-west-2")
    AMIRegionFactory(ami=east, region="eu-west-1")
    _set(institution, allowed_regions=["us-east-1"])
    policy = policy_for_user(user)
    assert policy_check(east, policy) == [] and policy_check(west, policy) != []
    assert policy_check(east, policy, region="eu-west-1") == ["region eu-west-1 not allowed (policy of uni-a)"]
    assert set(ami_filter_by_policy(AMI.objects.all(), policy=policy)) == {east}
    assert not ami_filter_by_policy(AMI.objects.all(), policy=policy, region="eu-west-1").exists()

    copy_id = east.regions.get(region="eu-west-1").image_id
    policy = Policy(blocked_amis=frozenset({copy_id}), sources=["uni-a"])     # a regional copy's id blocks all
    assert policy_check(east, policy) and not policy_check(west, policy)
    assert set(ami_filter_by_policy(AMI.objects.all(), policy=policy)) == {west}
    policy = Policy(blocked_amis=frozenset({str(west.pk)}))
    assert set(ami_filter_by_policy(AMI.objects.all(), policy=policy)) == {east}


def test_strictest_combination_across_institutions(institution, user):
    _set(institution, allowed_regions=["us-east-1", "eu-west-1"], min_rating=3)
    other = Community.objects.create(slug="lab-b", name="Lab B", kind="institution",
                                     policy={"allowed_regions": ["eu-west-1", "ap-south-1"], "min_rating": 4,
                                             "require_passed_scan": True})
    CommunityMembership.objects.create(community=other, user=user)
    policy = policy_for_user(user)
    assert policy.allowed_regions == {"eu-west-1"} and policy.min_rating == 4 and policy.require_passed_scan
    assert policy.sources == ["lab-b", "uni-a"]
    assert client_for(user).get("/api/v1/me/policy").json()["allowed_regions"] == ["eu-west-1"]


def test_no_institution_no_policy(user, other_user):
    assert policy_for_user(other_user).is_empty and policy_for_user(None).is_empty
    ami = AMIFactory(verified=False, scan_status="failed")
    assert policy_check(ami, policy_for_user(other_user)) == []
