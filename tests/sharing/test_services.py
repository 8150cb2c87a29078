"""sharing.services: grantee validation per type, duplicates, permissions, revoked entries, audit,
and the hand-over to the AWS sync (asserted at the ``sharing.sync`` interface only)."""
import pytest

from amis.models import AMI
from amis.selectors import ami_get_visible
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.events import is_audit_announcement
from registry.models import AuditEvent, Community
from sharing.models import Share
from sharing.services import share_create, share_delete
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db

ORG_ARN = "arn:aws:organizations::123456789012:organization/o-exampleorgid"
OU_ARN = "arn:aws:organizations::123456789012:ou/o-exampleorgid/ou-ab12-cdefgh34"


@pytest.fixture
def sync(mocker):
    """The AWS side is another component's job: record that we handed the grant over, nothing more."""
    return {"add": mocker.patch("sharing.sync.share_sync_enqueue"),
            "remove": mocker.patch("sharing.sync.share_removal_enqueue")}


@pytest.mark.parametrize("grantee_type, grantee", [
    ("account", "210987654321"),
    ("organization", ORG_ARN),
    ("organizational_unit", OU_ARN),
])
def test_aws_grants_start_pending_and_are_queued_for_sync(user, sync, grantee_type, grantee):
    ami = AMIFactory(creator=user)

    share = share_create(ami=ami, user=user, grantee_type=grantee_type, grantee=f"  {grantee} ")

    assert share.grantee == grantee  # stored trimmed
    assert share.sync_state == Share.SyncState.PENDING and share.synced_at is None
    assert (share.user, share.community, share.created_by) == (None, None, user)
    sync["add"].assert_called_once_with(share_id=share.pk)
    event = AuditEvent.objects.get(action="share.create")
    assert event.actor == user and event.target_id == str(share.pk)
    assert event.after == {"grantee_type": grantee_type, "grantee": grantee, "permission": "launch",
                           "sync_state": "pending", "asked_by": "alice", "owner_account_id": "123456789012"}


def test_user_grant_resolves_the_user_and_is_synced_at_once(user, other_user, sync):
    ami = AMIFactory(creator=user, visibility=AMI.Visibility.PRIVATE)
    assert ami_get_visible(user=other_user, ref=str(ami.pk)) is None

    share = share_create(ami=ami, user=user, grantee_type="user", grantee="bob")

    assert (share.user, share.grantee, share.sync_state) == (other_user, "bob", Share.SyncState.SYNCED)
    assert share.synced_at is not None
    sync["add"].assert_not_called()
    assert ami_get_visible(user=other_user, ref=str(ami.pk)) == ami


def test_community_grant_resolves_the_community(user, make_user, sync):
    lab = Community.objects.create(slug="genomics-lab", name="Genomics lab")
    member, outsider = make_user("member"), make_user("outsider")
    lab.memberships.create(user=member)
    ami = AMIFactory(creator=user, visibility=AMI.Visibility.PRIVATE)

    share = share_create(ami=ami, user=user, grantee_type="community", grantee="Genomics-Lab")

    assert (share.community, share.grantee, share.sync_state) == (lab, "genomics-lab", Share.SyncState.SYNCED)
    sync["add"].assert_not_called()
    assert ami_get_visible(user=member, ref=ami.ami_id) == ami
    assert ami_get_visible(user=outsider, ref=ami.ami_id) is None


def test_default_community_grant_reaches_every_user(user, make_user):
    # A community entry (a private one may not be listed for everyone without a moderator).
    ami = AMIFactory(creator=user, visibility=AMI.Visibility.COMMUNITY)
    newcomer = make_user("newcomer")
    share_create(ami=ami, user=user, grantee_type="community", grantee="cloudworkstation")
    assert ami_get_visible(user=newcomer, ref=ami.ami_id) == ami
    assert ami_get_visible(user=None, ref=ami.ami_id) is None  # still not anonymous


@pytest.mark.parametrize("grantee_type, grantee, field", [
    ("account", "12345678901", "grantee"),            # 11 digits
    ("account", "1234567890123", "grantee"),          # 13 digits
    ("account", "12345678901a", "grantee"),
    ("account", "", "grantee"),
    ("organization", "o-exampleorgid", "grantee"),    # an org id, not its ARN
    ("organization", OU_ARN, "grantee"),              # an OU ARN is not an organization ARN
    ("organizational_unit", ORG_ARN, "grantee"),
    ("organizational_unit", "ou-ab12-cdefgh34", "grantee"),
    ("user", "nobody-by-that-name", "grantee"),
    ("community", "no-such-community", "grantee"),
    ("group", "123456789012", "grantee_type"),
    ("", "123456789012", "grantee_type"),
])
def test_invalid_grantees_are_refused_naming_the_field(user, grantee_type, grantee, field):
    ami = AMIFactory(creator=user)
    with pytest.raises(InvalidInput) as exc:
        share_create(ami=ami, user=user, grantee_type=grantee_type, grantee=grantee)
    assert field in exc.value.errors
    assert not Share.objects.exists()
    assert not AuditEvent.objects.filter(action="share.create").exists()


def test_inactive_users_and_the_owner_are_not_grantees(user, make_user):
    ami = AMIFactory(creator=user)
    make_user("gone", is_active=False)
    for name in ("gone", "alice"):
        with pytest.raises(InvalidInput):
            share_create(ami=ami, user=user, grantee_type="user", grantee=name)


def test_unknown_permission_is_refused(user):
    with pytest.raises(InvalidInput) as exc:
        share_create(ami=AMIFactory(creator=user), user=user, grantee_type="account", grantee="210987654321",
                     permission="admin")
    assert "permission" in exc.value.errors


@pytest.mark.parametrize("grantee_type, grantee, again", [
    ("account", "210987654321", "210987654321"),
    ("user", "bob", "bob"),
    ("community", "cloudworkstation", "CloudWorkstation"),   # same community, other spelling
])
def test_duplicates_are_409(user, other_user, sync, grantee_type, grantee, again):
    ami = AMIFactory(creator=user)
    share_create(ami=ami, user=user, grantee_type=grantee_type, grantee=grantee)
    with pytest.raises(Conflict) as exc:
        share_create(ami=ami, user=user, grantee_type=grantee_type, grantee=again)
    assert exc.value.code == "duplicate_share"
    assert Share.objects.filter(ami=ami).count() == 1
    # The same grantee on another AMI is not a duplicate.
    share_create(ami=AMIFactory(creator=user), user=user, grantee_type=grantee_type, grantee=grantee)


def test_only_owner_or_moderator_may_share(user, other_user, moderator, sync):
    ami = AMIFactory(creator=user)
    with pytest.raises(Forbidden):
        share_create(ami=ami, user=other_user, grantee_type="account", grantee="210987654321")
    # A moderator manages the entry but is not the publisher of its AWS account: no AWS grants.
    with pytest.raises(Forbidden) as refused:
        share_create(ami=ami, user=moderator, grantee_type="account", grantee="210987654321")
    assert refused.value.code == "not_in_your_account"
    share = share_create(ami=ami, user=moderator, grantee_type="user", grantee="bob")
    assert share.created_by == moderator
    with pytest.raises(Forbidden):
        share_delete(share=share, user=other_user)
    assert Share.objects.filter(pk=share.pk).exists()


def test_revoked_ami_cannot_be_shared(user, moderator):
    ami = AMIFactory(creator=user, status=AMI.Status.REVOKED)
    for actor in (user, moderator):
        with pytest.raises(Conflict) as exc:
            share_create(ami=ami, user=actor, grantee_type="user", grantee="mod" if actor == user else "alice")
        assert exc.value.extra == {"current_status": "revoked"}
    assert not Share.objects.exists()


def test_drafts_may_be_shared_but_grantees_see_them_only_once_listed(user, other_user):
    ami = AMIFactory(creator=user, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE)
    share_create(ami=ami, user=user, grantee_type="user", grantee="bob")
    assert ami_get_visible(user=other_user, ref=ami.ami_id) is None
    AMI.objects.filter(pk=ami.pk).update(status=AMI.Status.APPROVED)
    assert ami_get_visible(user=other_user, ref=ami.ami_id) == ami


def test_delete_registry_grant_removes_access_at_once(user, other_user, sync):
    ami = AMIFactory(creator=user, visibility=AMI.Visibility.PRIVATE)
    share = share_create(ami=ami, user=user, grantee_type="user", grantee="bob")
    assert ami_get_visible(user=other_user, ref=ami.ami_id) == ami

    share_delete(share=share, user=user)

    assert ami_get_visible(user=other_user, ref=ami.ami_id) is None
    assert not Share.objects.exists()
    sync["remove"].assert_not_called()  # nothing to undo in AWS
    event = AuditEvent.objects.get(action="share.delete")
    assert event.before["grantee"] == "bob" and event.actor == user
    with pytest.raises(NotFound):
        share_delete(share=share, user=user)


def test_delete_aws_grant_deletes_the_row_and_queues_the_removal(user, sync):
    ami = AMIFactory(creator=user)
    share = share_create(ami=ami, user=user, grantee_type="organizational_unit", grantee=OU_ARN)

    share_delete(share=share, user=user)

    assert not Share.objects.exists()
    sync["remove"].assert_called_once_with(ami_id=ami.pk, grantee_type="organizational_unit", grantee=OU_ARN)
    assert AuditEvent.objects.filter(action="share.delete").count() == 1


def test_sync_is_handed_over_only_after_commit(user, other_user, django_capture_on_commit_callbacks):
    """The real ``sharing.sync`` defers to on_commit: one callback per AWS grant, none for registry grants.
    (Running the callback is the AWS lifecycle's test: it needs its task and moto.)"""
    ami = AMIFactory(creator=user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        share_create(ami=ami, user=user, grantee_type="user", grantee="bob")
    assert [cb for cb in callbacks if not is_audit_announcement(cb)] == []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        share_create(ami=ami, user=user, grantee_type="account", grantee="210987654321")
    assert len([cb for cb in callbacks if not is_audit_announcement(cb)]) == 1
