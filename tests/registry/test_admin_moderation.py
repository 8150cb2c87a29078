"""Moderation in Django admin: actions call the same services as the API and write audit events."""
import pytest
from django.test import Client

from amis.models import AMI
from ratings.models import Rating
from registry.models import AuditEvent
from tests.factories import AMIFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/amis/ami/"


@pytest.fixture
def mod_client(moderator):
    client = Client()
    client.force_login(moderator)
    return client


def test_moderator_without_is_staff_can_open_the_admin(mod_client):
    assert mod_client.get("/admin/").status_code == 200
    assert mod_client.get(CHANGELIST).status_code == 200


def test_changelist_filters_and_search(mod_client):
    AMIFactory(name="PyTorch GPU workstation", status=AMI.Status.PENDING_REVIEW)
    AMIFactory(name="RStudio server")
    resp = mod_client.get(CHANGELIST, {"q": "pytorch", "status__exact": "pending_review"})
    assert resp.status_code == 200
    assert b"PyTorch GPU workstation" in resp.content
    assert b"RStudio server" not in resp.content


def test_approve_action_changes_status_and_audits(mod_client, moderator):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW)
    resp = mod_client.post(CHANGELIST, {"action": "approve", "_selected_action": [str(ami.pk)]})
    assert resp.status_code == 302
    ami.refresh_from_db()
    assert ami.status == AMI.Status.APPROVED
    assert ami.approved_by == moderator
    event = AuditEvent.objects.get(action="ami.approve", target_id=str(ami.pk))
    assert event.actor == moderator
    assert event.before == {"status": "pending_review"} and event.after == {"status": "approved"}


def test_reject_action_asks_for_a_reason_then_rejects(mod_client):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW)
    form = mod_client.post(CHANGELIST, {"action": "reject", "_selected_action": [str(ami.pk)]})
    assert form.status_code == 200 and b'name="reason"' in form.content
    ami.refresh_from_db()
    assert ami.status == AMI.Status.PENDING_REVIEW  # nothing happens before the reason is given
    done = mod_client.post(CHANGELIST, {"action": "reject", "_selected_action": [str(ami.pk)], "apply": "Reject",
                                        "reason": "Missing description of installed software"})
    assert done.status_code == 302
    ami.refresh_from_db()
    assert ami.status == AMI.Status.REJECTED
    assert ami.status_reason == "Missing description of installed software"
    assert AuditEvent.objects.get(action="ami.reject", target_id=str(ami.pk)).reason.startswith("Missing")


def test_revoke_action(mod_client):
    ami = AMIFactory(status=AMI.Status.APPROVED)
    mod_client.post(CHANGELIST, {"action": "revoke", "_selected_action": [str(ami.pk)], "apply": "Revoke",
                                 "reason": "Contains a leaked credential"})
    ami.refresh_from_db()
    assert ami.status == AMI.Status.REVOKED
    assert AuditEvent.objects.filter(action="ami.revoke", target_id=str(ami.pk)).count() == 1


def test_illegal_transition_in_admin_reports_and_changes_nothing(mod_client):
    ami = AMIFactory(status=AMI.Status.DRAFT)
    resp = mod_client.post(CHANGELIST, {"action": "approve", "_selected_action": [str(ami.pk)]}, follow=True)
    ami.refresh_from_db()
    assert ami.status == AMI.Status.DRAFT
    assert b"cannot approve an AMI whose status is" in resp.content
    assert not AuditEvent.objects.filter(action="ami.approve").exists()


def test_moderator_can_hide_a_review(mod_client):
    rating = Rating.objects.create(ami=AMIFactory(), user=UserFactory(), rating=1, review="spam spam")
    mod_client.post("/admin/ratings/rating/", {"action": "hide", "_selected_action": [str(rating.pk)],
                                               "apply": "Hide", "reason": "spam"})
    rating.refresh_from_db()
    assert rating.is_hidden and rating.hidden_reason == "spam"
    assert AuditEvent.objects.filter(action="rating.hide", target_id=str(rating.pk)).count() == 1


def test_non_moderator_cannot_reach_admin_or_its_actions(user):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW)
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 302  # sent to the admin login page
    resp = client.post(CHANGELIST, {"action": "approve", "_selected_action": [str(ami.pk)]})
    assert resp.status_code == 302
    ami.refresh_from_db()
    assert ami.status == AMI.Status.PENDING_REVIEW


def test_staff_user_who_is_not_a_moderator_gets_no_moderation(make_user):
    staff = make_user("staffer", is_staff=True)
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW)
    client = Client()
    client.force_login(staff)
    assert client.get(CHANGELIST).status_code == 403
    client.post(CHANGELIST, {"action": "approve", "_selected_action": [str(ami.pk)]})
    ami.refresh_from_db()
    assert ami.status == AMI.Status.PENDING_REVIEW


def test_audit_log_is_read_only_in_admin(mod_client, moderator):
    event = AuditEvent.objects.create(action="test.event", actor=moderator, actor_username="mod")
    assert mod_client.get("/admin/registry/auditevent/").status_code == 200
    assert mod_client.get("/admin/registry/auditevent/add/").status_code == 403
    mod_client.post(f"/admin/registry/auditevent/{event.pk}/change/", {"action": "changed"})
    assert mod_client.post(f"/admin/registry/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.action == "test.event"


def test_moderator_logs_in_through_the_admin_login_form(moderator):
    client = Client()
    resp = client.post("/admin/login/?next=/admin/", {"username": "mod", "password": "correct-horse-battery",
                                                      "next": "/admin/"})
    assert resp.status_code == 302 and resp["Location"] == "/admin/"
    assert client.get(CHANGELIST).status_code == 200


def test_plain_user_cannot_log_in_through_the_admin_login_form(user):
    resp = Client().post("/admin/login/", {"username": user.username, "password": "correct-horse-battery"})
    assert resp.status_code == 200  # the form again, with an error
    assert b"correct username and password" in resp.content
