"""Sharing REST API (API.md, *Sharing*): status codes, bodies and database state."""
import pytest

from amis.models import AMI
from registry.models import AuditEvent, Community
from sharing.models import Share
from sharing.services import share_create
from tests.conftest import client_for
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db

ORG_ARN = "arn:aws:organizations::123456789012:organization/o-exampleorgid"
OU_ARN = "arn:aws:organizations::123456789012:ou/o-exampleorgid/ou-ab12-cdefgh34"


def url(ami, suffix=""):
    ref = ami if isinstance(ami, str) else str(ami.pk)
    return f"/api/v1/amis/{ref}/shares/{suffix}"


@pytest.fixture
def sync(mocker):
    """AWS launch-permission sync is the AWS lifecycle's job: assert the hand-over only."""
    return {"add": mocker.patch("sharing.sync.share_sync_enqueue"),
            "remove": mocker.patch("sharing.sync.share_removal_enqueue")}


def test_owner_lists_grants(user, other_user, sync):
    ami = AMIFactory(creator=user)
    share_create(ami=ami, user=user, grantee_type="user", grantee="bob")
    share_create(ami=ami, user=user, grantee_type="account", grantee="210987654321")

    response = client_for(user).get(url(ami))

    assert response.status_code == 200
    body = response.json()
    assert [(s["grantee_type"], s["grantee"], s["permission"], s["sync_state"]) for s in body] == [
        ("user", "bob", "launch", "synced"), ("account", "210987654321", "launch", "pending")]
    assert {"id", "grantee_type", "grantee", "permission", "sync_state", "created_at"} <= set(body[0])


@pytest.mark.parametrize("grantee_type, grantee, sync_state", [
    ("account", "210987654321", "pending"),
    ("organization", ORG_ARN, "pending"),
    ("organizational_unit", OU_ARN, "pending"),
    ("user", "bob", "synced"),
    ("community", "cloudworkstation", "synced"),
])
def test_post_each_grantee_type(user, other_user, sync, grantee_type, grantee, sync_state):
    ami = AMIFactory(creator=user)

    response = client_for(user).post(url(ami), {"grantee_type": grantee_type, "grantee": grantee})

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["grantee_type"], body["grantee"], body["sync_state"]) == (grantee_type, grantee, sync_state)
    share = Share.objects.get(pk=body["id"])
    assert (share.ami_id, share.grantee, share.sync_state) == (ami.pk, grantee, sync_state)
    assert sync["add"].call_count == (1 if sync_state == "pending" else 0)
    assert AuditEvent.objects.filter(action="share.create", target_id=str(share.pk)).count() == 1


def test_post_with_launch_and_copy_permission(user, sync):
    ami = AMIFactory(creator=user)
    response = client_for(user).post(url(ami), {"grantee_type": "account", "grantee": "210987654321",
                                                "permission": "launch_and_copy"})
    assert response.status_code == 201
    assert Share.objects.get().permission == "launch_and_copy"


@pytest.mark.parametrize("body, field", [
    ({"grantee_type": "account", "grantee": "1234"}, "grantee"),
    ({"grantee_type": "account", "grantee": 12345}, "grantee"),          # a JSON number: text, too short
    ({"grantee_type": "organization", "grantee": "o-exampleorgid"}, "grantee"),
    ({"grantee_type": "organizational_unit", "grantee": ORG_ARN}, "grantee"),
    ({"grantee_type": "user", "grantee": "nobody"}, "grantee"),
    ({"grantee_type": "user", "grantee": "alice"}, "grantee"),           # the owner
    ({"grantee_type": "community", "grantee": "nowhere"}, "grantee"),
    ({"grantee_type": "team", "grantee": "x"}, "grantee_type"),
    ({"grantee_type": ["account"], "grantee": "210987654321"}, "grantee_type"),
    ({"grantee": "210987654321"}, "grantee_type"),
    ({"grantee_type": "account"}, "grantee"),
    ({"grantee_type": "account", "grantee": ""}, "grantee"),
    ({"grantee_type": "account", "grantee": {"id": 1}}, "grantee"),
    ({"grantee_type": "user", "grantee": "x" * 300}, "grantee"),
    ({"grantee_type": "account", "grantee": "210987654321", "permission": "root"}, "permission"),
])
def test_post_bad_grantee_is_400_naming_the_field(user, sync, body, field):
    ami = AMIFactory(creator=user)
    response = client_for(user).post(url(ami), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Share.objects.exists()


def test_post_duplicate_is_409(user, other_user, sync):
    ami = AMIFactory(creator=user)
    client = client_for(user)
    assert client.post(url(ami), {"grantee_type": "user", "grantee": "bob"}).status_code == 201
    again = client.post(url(ami), {"grantee_type": "user", "grantee": "bob"})
    assert again.status_code == 409 and again.json()["code"] == "duplicate_share"
    assert Share.objects.count() == 1


def test_post_on_revoked_is_409(user, moderator):
    ami = AMIFactory(creator=user, status=AMI.Status.REVOKED)
    response = client_for(moderator).post(url(ami), {"grantee_type": "user", "grantee": "alice"})
    assert response.status_code == 409 and response.json()["current_status"] == "revoked"
    assert not Share.objects.exists()


def test_moderator_may_manage_any_grants(user, moderator, other_user, sync):
    ami = AMIFactory(creator=user, visibility=AMI.Visibility.PRIVATE)
    client = client_for(moderator)
    created = client.post(url(ami), {"grantee_type": "user", "grantee": "bob"})
    assert created.status_code == 201
    assert len(client.get(url(ami)).json()) == 1
    assert client.delete(url(ami, str(created.json()["id"]))).status_code == 204


def test_non_owner_who_sees_the_ami_gets_403(user, other_user):
    ami = AMIFactory(creator=user)  # approved + public: bob can see it
    client = client_for(other_user)
    assert client.get(url(ami)).status_code == 403
    assert client.post(url(ami), {"grantee_type": "user", "grantee": "bob"}).status_code == 403
    share = share_create(ami=ami, user=user, grantee_type="community", grantee="cloudworkstation")
    response = client.delete(url(ami, str(share.pk)))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert Share.objects.filter(pk=share.pk).exists()


def test_grantee_does_not_manage_grants(user, other_user):
    ami = AMIFactory(creator=user, visibility=AMI.Visibility.PRIVATE)
    share_create(ami=ami, user=user, grantee_type="user", grantee="bob")
    assert client_for(other_user).get(url(ami)).status_code == 403


def test_invisible_ami_is_404_not_403(user, other_user, sync):
    ami = AMIFactory(creator=user, visibility=AMI.Visibility.PRIVATE)
    client = client_for(other_user)
    assert client.get(url(ami)).status_code == 404
    assert client.post(url(ami), {"grantee_type": "user", "grantee": "bob"}).status_code == 404
    share = share_create(ami=ami, user=user, grantee_type="account", grantee="210987654321")
    assert client.delete(url(ami, str(share.pk))).status_code == 404
    assert Share.objects.filter(pk=share.pk).exists()
    assert client_for(None).get(url(ami)).status_code == 404


def test_anonymous_on_a_public_ami_is_401(user):
    ami = AMIFactory(creator=user)
    assert client_for(None).get(url(ami)).status_code == 401
    assert client_for(None).post(url(ami), {"grantee_type": "user", "grantee": "alice"}).status_code == 401


def test_delete_removes_access_at_once(user, other_user):
    ami = AMIFactory(creator=user, visibility=AMI.Visibility.PRIVATE)
    share_id = client_for(user).post(url(ami), {"grantee_type": "user", "grantee": "bob"}).json()["id"]
    bob = client_for(other_user)
    assert bob.get(f"/api/v1/amis/{ami.pk}/ratings/").status_code == 200  # bob sees it now

    response = client_for(user).delete(url(ami, str(share_id)))

    assert response.status_code == 204
    assert not Share.objects.filter(pk=share_id).exists()
    assert bob.get(f"/api/v1/amis/{ami.pk}/ratings/").status_code == 404
    assert bob.post(f"/api/v1/amis/{ami.pk}/ratings/", {"rating": 5}).status_code == 404
    assert AuditEvent.objects.filter(action="share.delete", target_id=str(share_id)).count() == 1


def test_community_member_sees_after_share_and_not_after_delete(user, make_user):
    lab = Community.objects.create(slug="vision-lab", name="Vision lab")
    member = make_user("member")
    lab.memberships.create(user=member)
    ami = AMIFactory(creator=user, visibility=AMI.Visibility.PRIVATE)
    member_client = client_for(member)
    ratings = f"/api/v1/amis/{ami.ami_id}/ratings/"
    assert member_client.get(ratings).status_code == 404

    share_id = client_for(user).post(url(ami), {"grantee_type": "community", "grantee": "vision-lab"}).json()["id"]
    assert member_client.get(ratings).status_code == 200
    assert member_client.post(ratings, {"rating": 4}).status_code == 201

    assert client_for(user).delete(url(ami, str(share_id))).status_code == 204
    assert member_client.get(ratings).status_code == 404


def test_delete_aws_grant_queues_removal(user, sync):
    ami = AMIFactory(creator=user)
    share_id = client_for(user).post(url(ami), {"grantee_type": "account", "grantee": "210987654321"}).json()["id"]
    assert client_for(user).delete(url(ami, str(share_id))).status_code == 204
    sync["remove"].assert_called_once_with(ami_id=ami.pk, grantee_type="account", grantee="210987654321")
    assert not Share.objects.exists()


def test_delete_grant_of_another_ami_is_404(user, sync):
    mine, other = AMIFactory(creator=user), AMIFactory(creator=user)
    share = share_create(ami=other, user=user, grantee_type="account", grantee="210987654321")
    assert client_for(user).delete(url(mine, str(share.pk))).status_code == 404
    assert Share.objects.filter(pk=share.pk).exists()
