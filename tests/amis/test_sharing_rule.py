"""The sharing rule: moderation gates public and community listing, never sharing.

A private submission is ready at once (no moderator) and its grantees see it immediately; a
community or public one waits for a moderator; a draft is its owner's alone."""
import pytest

from amis.models import AMI
from amis.selectors import ami_requires_moderation
from amis.services import ami_submit
from registry.errors import InvalidInput
from registry.models import AuditEvent, Community
from sharing.models import Share
from sharing.services import share_create
from tests.amis.helpers import client_for, make_ami, url

pytestmark = pytest.mark.django_db
S, V = AMI.Status, AMI.Visibility


@pytest.fixture
def people(make_user):
    owner, colleague, member, stranger = (make_user(n) for n in ("owner", "colleague", "member", "stranger"))
    lab = Community.objects.create(slug="genomics-lab", name="Genomics lab")
    lab.memberships.create(user=member)
    return {"owner": owner, "colleague": colleague, "member": member, "stranger": stranger,
            "moderator": make_user("mod", moderator=True), "lab": lab}


def _draft_shared(people, **fields):
    ami = make_ami(people["owner"], status=S.DRAFT, **fields)
    share_create(ami=ami, user=people["owner"], grantee_type="user", grantee="colleague")
    share_create(ami=ami, user=people["owner"], grantee_type="community", grantee="genomics-lab")
    return ami


@pytest.mark.parametrize("visibility, public_requested, moderated", [
    (V.PRIVATE, False, False), (V.COMMUNITY, False, True), (V.PUBLIC, False, True), (V.PRIVATE, True, True)])
def test_only_listing_requires_moderation(user, visibility, public_requested, moderated):
    ami = make_ami(user, status=S.DRAFT, visibility=visibility, public_requested=public_requested)
    assert ami_requires_moderation(ami=ami) is moderated


def test_private_submission_is_ready_at_once_and_grantees_see_it(people):
    ami = _draft_shared(people, visibility=V.PRIVATE)
    # A draft: nobody but its owner sees it — not its grantees, not a moderator.
    for who in ("colleague", "member", "stranger", "moderator"):
        assert client_for(people[who]).get(url(ami)).status_code == 404, who

    body = client_for(people["owner"]).post(url(ami, "/submit"), {}, format="json").json()

    assert body["status"] == "approved" and body["visibility"] == "private" and body["approved_at"]
    ami.refresh_from_db()
    assert ami.status == S.APPROVED and ami.approved_by is None  # no moderator took part
    event = AuditEvent.objects.get(action="ami.submit", target_id=str(ami.pk))
    assert event.after == {"status": "approved", "visibility": "private", "moderation": "not_required"}
    assert not AuditEvent.objects.filter(action="ami.approve", target_id=str(ami.pk)).exists()
    for who in ("colleague", "member"):
        assert client_for(people[who]).get(url(ami)).status_code == 200, who
    # Not listed beyond its grantees.
    assert client_for(people["stranger"]).get(url(ami)).status_code == 404
    assert client_for(None).get(url(ami)).status_code == 404


@pytest.mark.parametrize("visibility, body", [(V.PUBLIC, {}), (V.PRIVATE, {"public": True}), (V.COMMUNITY, {})])
def test_listing_waits_for_a_moderator_but_grantees_see_it_meanwhile(people, visibility, body):
    ami = _draft_shared(people, visibility=visibility)

    answer = client_for(people["owner"]).post(url(ami, "/submit"), body, format="json").json()

    assert answer["status"] == "pending_review"
    event = AuditEvent.objects.get(action="ami.submit", target_id=str(ami.pk))
    assert event.after["moderation"] == "required"
    assert client_for(people["colleague"]).get(url(ami)).status_code == 200
    assert client_for(people["member"]).get(url(ami)).status_code == 200
    assert client_for(people["moderator"]).get(url(ami)).status_code == 200
    assert client_for(people["stranger"]).get(url(ami)).status_code == 404
    assert client_for(None).get(url(ami)).status_code == 404
    client_for(people["moderator"]).post(url(ami, "/approve"), format="json")
    ami.refresh_from_db()
    assert ami.status == S.APPROVED and ami.approved_by == people["moderator"]
    assert client_for(people["stranger"]).get(url(ami)).status_code == 200


def test_private_request_to_go_public_in_aws_waits_for_a_moderator(people):
    ami = make_ami(people["owner"], status=S.DRAFT, visibility=V.PRIVATE, public_requested=True)
    assert ami_submit(ami=ami, user=people["owner"]).status == S.PENDING_REVIEW


def test_a_grant_to_everyone_is_a_listing_and_needs_moderation(people):
    everyone, _ = Community.objects.get_or_create(slug="cloudworkstation", defaults={"name": "CW", "is_default": True})
    private = make_ami(people["owner"], status=S.APPROVED, visibility=V.PRIVATE)
    with pytest.raises(InvalidInput) as refused:
        share_create(ami=private, user=people["owner"], grantee_type="community", grantee=everyone.slug)
    assert "grantee" in refused.value.errors
    assert not Share.objects.filter(ami=private).exists()
    # Over HTTP: a 400 naming the field.
    response = client_for(people["owner"]).post(f"/api/v1/amis/{private.pk}/shares/",
                                                 {"grantee_type": "community", "grantee": everyone.slug})
    assert response.status_code == 400 and "grantee" in response.json()["errors"]
    listed = make_ami(people["owner"], status=S.APPROVED, visibility=V.COMMUNITY)
    assert share_create(ami=listed, user=people["owner"], grantee_type="community", grantee=everyone.slug)


def test_moderator_sees_their_own_draft_but_not_others(people):
    theirs = make_ami(people["moderator"], status=S.DRAFT, visibility=V.PRIVATE)
    others = make_ami(people["owner"], status=S.DRAFT, visibility=V.PRIVATE)
    mod = client_for(people["moderator"])
    assert mod.get(url(theirs)).status_code == 200
    assert mod.get(url(others)).status_code == 404
