"""Lifecycle over HTTP: every legal transition, every illegal one (409 + current status),
owner vs moderator vs other (403 for a visible AMI, 404 for an invisible one), edit + delete."""
import pytest

from amis.models import AMI
from amis.services import TRANSITIONS
from amis.signals import ami_changed
from registry.models import AuditEvent
from tests.amis.helpers import client_for, make_ami, url

pytestmark = pytest.mark.django_db
S = AMI.Status

# action → (target status, who may do it, body)
ACTIONS = {
    "submit": (S.PENDING_REVIEW, "owner", {"public": True}),
    "approve": (S.APPROVED, "moderator", {}),
    "reject": (S.REJECTED, "moderator", {"reason": "needs a description"}),
    "deprecate": (S.DEPRECATED, "owner", {"reason": "superseded"}),
    "revoke": (S.REVOKED, "moderator", {"reason": "malware found"}),
}
CASES = [(status, action) for status in S.values for action in ACTIONS]


@pytest.mark.parametrize("status, action", CASES)
def test_every_transition_legal_or_409(user, moderator, status, action):
    ami = make_ami(user, status=status, visibility=AMI.Visibility.PUBLIC)
    target, who, body = ACTIONS[action]
    actor = user if who == "owner" else moderator
    events = AuditEvent.objects.filter(action=f"ami.{action}").count()

    response = client_for(actor).post(url(ami, f"/{action}"), body, format="json")

    ami.refresh_from_db()
    if status == S.DRAFT and actor == moderator:
        # A draft is its owner's alone: to a moderator it does not exist.
        assert response.status_code == 404, response.json()
        assert ami.status == status
    elif target in TRANSITIONS[status]:
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == target == ami.status
        event = AuditEvent.objects.filter(action=f"ami.{action}").latest("at")
        assert event.before == {"status": status} and event.after["status"] == target
        assert event.actor == actor
        assert event.reason == body.get("reason", "")
    else:
        assert response.status_code == 409, response.json()
        body = response.json()
        assert body["code"] == "invalid_transition" and body["current_status"] == status
        assert f"'{status}'" in body["message"]
        assert ami.status == status
        assert AuditEvent.objects.filter(action=f"ami.{action}").count() == events


def test_full_flow_with_reject_edit_resubmit(user, moderator):
    ami = make_ami(user, status=S.DRAFT, visibility=AMI.Visibility.PRIVATE)
    owner, mod = client_for(user), client_for(moderator)
    assert owner.post(url(ami, "/submit"), {"public": True}, format="json").json()["status"] == "pending_review"
    assert owner.patch(url(ami), {"name": "edited while pending"}, format="json").status_code == 409
    rejected = mod.post(url(ami, "/reject"), {"reason": "describe the GPU driver"}, format="json").json()
    assert rejected["status"] == "rejected" and rejected["status_reason"] == "describe the GPU driver"
    edited = owner.patch(url(ami), {"description": "CUDA 12.4 driver", "tags": {"gpu": "nvidia"}}, format="json")
    assert edited.status_code == 200 and edited.json()["description"] == "CUDA 12.4 driver"
    assert owner.post(url(ami, "/submit"), {}, format="json").json()["status"] == "pending_review"
    approved = mod.post(url(ami, "/approve"), format="json").json()
    assert approved["status"] == "approved" and approved["approved_at"] and approved["visibility"] == "public"
    # Anonymous now finds it.
    assert client_for(None).get(url(ami)).status_code == 200


def test_submit_public_false_makes_it_private(user):
    ami = make_ami(user, status=S.DRAFT, visibility=AMI.Visibility.PUBLIC)
    body = client_for(user).post(url(ami, "/submit"), {"public": False}, format="json").json()
    assert body["visibility"] == "private"


def test_reject_and_revoke_require_a_reason(user, moderator):
    pending = make_ami(user, status=S.PENDING_REVIEW)
    approved = make_ami(user, status=S.APPROVED)
    for ami, action in ((pending, "reject"), (approved, "revoke")):
        for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 5}):
            response = client_for(moderator).post(url(ami, f"/{action}"), body, format="json")
            assert response.status_code == 400, (action, body)
            assert "reason" in response.json()["errors"]


def test_deprecate_with_replacement(user, moderator):
    old = make_ami(user, status=S.APPROVED)
    new = make_ami(user, status=S.APPROVED)
    response = client_for(user).post(url(old, "/deprecate"), {"reason": "v2", "replacement": new.ami_id},
                                     format="json")
    assert response.status_code == 200 and response.json()["replacement"] == new.ami_id
    old.refresh_from_db()
    assert old.replacement == new and old.deprecated_at is not None


@pytest.mark.parametrize("replacement", ["ami-0000000000000dead", "not-an-id", "self"])
def test_deprecate_with_bad_replacement_is_400(user, replacement):
    ami = make_ami(user, status=S.APPROVED)
    ref = ami.ami_id if replacement == "self" else replacement
    response = client_for(user).post(url(ami, "/deprecate"), {"replacement": ref}, format="json")
    assert response.status_code == 400 and "replacement" in response.json()["errors"]
    ami.refresh_from_db()
    assert ami.status == S.APPROVED


def test_deprecate_replacement_must_be_visible_to_the_actor(user, other_user):
    ami = make_ami(user, status=S.APPROVED)
    hidden = make_ami(other_user, status=S.DRAFT)
    response = client_for(user).post(url(ami, "/deprecate"), {"replacement": hidden.ami_id}, format="json")
    assert response.status_code == 400


# --- permissions: 403 when visible but not yours, 404 when invisible -----------------------------------

@pytest.mark.parametrize("action", ["submit", "deprecate", "approve", "reject", "revoke"])
def test_other_user_gets_403_on_a_visible_ami(user, other_user, action):
    status = {"submit": S.DRAFT, "deprecate": S.APPROVED, "approve": S.PENDING_REVIEW,
              "reject": S.PENDING_REVIEW, "revoke": S.APPROVED}[action]
    # Approved + public entries are visible to everyone → 403; draft/pending ones are invisible → 404.
    ami = make_ami(user, status=S.APPROVED, visibility=AMI.Visibility.PUBLIC)
    if status != S.APPROVED:
        ami.status = status
        ami.save(update_fields=["status"])
    response = client_for(other_user).post(url(ami, f"/{action}"), {"reason": "x"}, format="json")
    expected = 403 if status == S.APPROVED else 404  # a draft/pending entry is invisible to others
    assert response.status_code == expected, response.json()
    ami.refresh_from_db()
    assert ami.status == status


@pytest.mark.parametrize("action", ["approve", "reject", "revoke"])
def test_owner_cannot_moderate_own_ami(user, action):
    status = S.APPROVED if action == "revoke" else S.PENDING_REVIEW
    ami = make_ami(user, status=status)
    response = client_for(user).post(url(ami, f"/{action}"), {"reason": "x"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_moderator_may_deprecate_but_not_submit_for_the_owner(user, moderator):
    # A rejected entry (a draft is invisible to moderators): submitting is its owner's decision.
    rejected = make_ami(user, status=S.REJECTED)
    assert client_for(moderator).post(url(rejected, "/submit"), {}, format="json").status_code == 403
    draft = make_ami(user, status=S.DRAFT)
    assert client_for(moderator).post(url(draft, "/submit"), {}, format="json").status_code == 404
    approved = make_ami(user, status=S.APPROVED)
    assert client_for(moderator).post(url(approved, "/deprecate"), {}, format="json").status_code == 200


def test_patch_permissions_and_fields(user, other_user, moderator):
    ami = make_ami(user, status=S.APPROVED, visibility=AMI.Visibility.PUBLIC)
    assert client_for(other_user).patch(url(ami), {"name": "mine now"}, format="json").status_code == 403
    assert client_for(None).patch(url(ami), {"name": "anon"}, format="json").status_code == 401
    response = client_for(user).patch(url(ami), {"status": "approved", "architecture": "arm64"}, format="json")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"status", "architecture"}
    response = client_for(moderator).patch(url(ami), {"category": "Genomics"}, format="json")
    assert response.status_code == 200 and response.json()["category"] == "Genomics"
    event = AuditEvent.objects.get(action="ami.update")
    assert event.before == {"category": "Machine Learning"} and event.after == {"category": "Genomics"}


def test_patch_revoked_is_409(user):
    ami = make_ami(user, status=S.REVOKED)
    response = client_for(user).patch(url(ami), {"name": "again"}, format="json")
    assert response.status_code == 409 and response.json()["current_status"] == "revoked"


@pytest.mark.parametrize("status, expected", [(S.DRAFT, 204), (S.REJECTED, 204), (S.PENDING_REVIEW, 409),
                                              (S.APPROVED, 409), (S.DEPRECATED, 409), (S.REVOKED, 409)])
def test_delete_only_draft_or_rejected(user, status, expected):
    ami = make_ami(user, status=status)
    response = client_for(user).delete(url(ami))
    assert response.status_code == expected
    assert AMI.objects.filter(pk=ami.pk).exists() == (expected != 204)
    if expected == 204:
        event = AuditEvent.objects.get(action="ami.delete")
        assert event.before["ami_id"] == ami.ami_id and event.actor == user
    else:
        assert response.json()["current_status"] == status


def test_delete_by_others(user, other_user, moderator):
    public = make_ami(user, status=S.APPROVED)
    draft = make_ami(user, status=S.DRAFT)
    assert client_for(other_user).delete(url(public)).status_code == 403
    assert client_for(other_user).delete(url(draft)).status_code == 404
    rejected = make_ami(user, status=S.REJECTED)
    assert client_for(moderator).delete(url(draft)).status_code == 404  # a draft is its owner's alone
    assert client_for(moderator).delete(url(rejected)).status_code == 403
    assert AMI.objects.filter(pk__in=[public.pk, draft.pk, rejected.pk]).count() == 3


def test_transitions_send_ami_changed_now_and_after_commit(user, moderator, django_capture_on_commit_callbacks):
    ami = make_ami(user, status=S.PENDING_REVIEW)
    received = []

    def receiver(sender, ami_id, **kwargs):
        received.append(ami_id)

    ami_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(moderator).post(url(ami, "/approve"), format="json")
    finally:
        ami_changed.disconnect(receiver)
    assert response.status_code == 200
    assert received == [ami.pk, ami.pk]


def test_delete_deregister_flag_is_validated(user):
    ami = make_ami(user, status=S.DRAFT)
    response = client_for(user).delete(url(ami) + "?deregister=maybe")
    assert response.status_code == 400 and "deregister" in response.json()["errors"]
    assert AMI.objects.filter(pk=ami.pk).exists()
