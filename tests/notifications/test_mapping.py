"""The audit → event mapping, for every event type, through the real services that change state.

Each test makes the change the way the API would (the service), lets the transaction "commit"
(on-commit callbacks run, Celery is eager), and checks the notification Event that resulted:
its type, the AMI it names, its data. Plus: what is not worth telling makes no event, and a
rolled-back change announces nothing at all.
"""
import pytest
from django.db import transaction

from amis.models import AMI
from amis.services import ami_approve, ami_deprecate, ami_reject, ami_revoke
from notifications.event_types import SUBSCRIBABLE, EventType
from notifications.mapping import RULES
from notifications.models import Event
from ratings.services import rating_hide, rating_submit
from registry.audit import audit_record
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db


def only_event() -> Event:
    events = list(Event.objects.all())
    assert len(events) == 1, [e.type for e in events]
    return events[0]


def test_every_subscribable_type_has_a_rule():
    assert {rule.event_type for rule in RULES.values()} == set(SUBSCRIBABLE)


def test_approve(committed, pending_ami, moderator):
    with committed():
        ami_approve(ami=pending_ami, moderator=moderator)
    event = only_event()
    assert event.type == EventType.AMI_APPROVED
    assert event.ami_id == pending_ami.pk and event.subject == f"amis/{pending_ami.pk}"
    assert event.data["ami"]["name"] == "genomics-1" and event.data["ami"]["template"] == "genomics"
    assert event.data["ami"]["url"].endswith(f"/amis/{pending_ami.pk}/")


def test_reject_carries_the_reason(committed, pending_ami, moderator):
    with committed():
        ami_reject(ami=pending_ami, moderator=moderator, reason="No SSH hardening")
    event = only_event()
    assert (event.type, event.data["reason"]) == (EventType.AMI_REJECTED, "No SSH hardening")


def test_deprecate_names_a_public_replacement(committed, user):
    ami, newer = AMIFactory(creator=user), AMIFactory(creator=user, name="v2")
    with committed():
        ami_deprecate(ami=ami, user=user, reason="superseded", replacement=newer)
    event = only_event()
    assert event.type == EventType.AMI_DEPRECATED
    assert event.data["replacement"]["id"] == str(newer.pk) and event.data["reason"] == "superseded"


def test_revoke(committed, moderator):
    ami = AMIFactory()
    with committed():
        ami_revoke(ami=ami, moderator=moderator, reason="leaks credentials")
    event = only_event()
    assert (event.type, event.data["reason"], event.data["ami"]["status"]) == (EventType.AMI_REVOKED,
                                                                                "leaks credentials", "revoked")


@pytest.mark.parametrize("result, expected", [("failed", EventType.SCAN_FAILED), ("passed", None), ("error", None)])
def test_scan_only_a_failed_verdict_is_an_event(committed, result, expected):
    ami = AMIFactory()
    with committed():  # the scanner's own audit call (amis/scanner.py), with its real shape
        audit_record(actor=None, action="ami.scan", target=ami, before={"scan_status": "not_scanned"},
                     after={"scan_status": result, "result": result, "security_score": 3.5,
                            "findings": ["ssh_password_auth"]})
    if expected is None:
        assert not Event.objects.exists()
    else:
        event = only_event()
        assert event.type == expected
        assert event.data["scan"] == {"security_score": 3.5, "findings": ["ssh_password_auth"]}


def test_copy_completed(committed):
    ami = AMIFactory()
    with committed():  # amis/aws_copy.py copy_image_step's audit call, with its real shape
        audit_record(actor=ami.creator, action="ami.copy_completed", target=ami,
                     after={"region": "eu-west-1", "ami_id": "ami-0123456789abcdef0", "operation": "x"})
    event = only_event()
    assert (event.type, event.data["region"], event.data["region_ami_id"]) == (
        EventType.COPY_COMPLETED, "eu-west-1", "ami-0123456789abcdef0")


def test_review_posted_and_replaced(committed, other_user):
    ami = AMIFactory()
    with committed():
        rating_submit(ami=ami, user=other_user, rating=2, review="")  # stars only: nothing to tell
    assert not Event.objects.exists()
    with committed():
        rating, _ = rating_submit(ami=ami, user=other_user, rating=4, review="Boots fast, CUDA works")
    event = only_event()
    assert event.type == EventType.REVIEW_POSTED
    assert event.data["review"] == {"id": rating.pk, "rating": 4, "reviewer": "bob",
                                    "review": "Boots fast, CUDA works"}
    with committed():
        rating_submit(ami=ami, user=other_user, rating=5, review="Boots fast, CUDA works")  # same text
    assert Event.objects.count() == 1


def test_review_hidden_keeps_the_text_out(committed, other_user, moderator):
    ami = AMIFactory()
    rating, _ = rating_submit(ami=ami, user=other_user, rating=1, review="buy cheap watches")
    with committed():
        rating_hide(rating=rating, moderator=moderator, reason="spam")
    event = only_event()
    assert event.type == EventType.REVIEW_HIDDEN and event.data["reason"] == "spam"
    assert "review" not in event.data["review"] and event.data["review"]["reviewer"] == "bob"


@pytest.mark.parametrize("action, expected", [("version.publish", EventType.VERSION_PUBLISHED),
                                              ("channel.move", EventType.CHANNEL_MOVED)])
def test_versions_and_channels_plug_in_by_audit_action(committed, action, expected):
    ami = AMIFactory()
    details = {"lineage_key": "lab-x/genomics", "version": "1.4.0", "channel": "stable"}
    with committed():
        audit_record(actor=None, action=action, target=ami, after=details)
    event = only_event()
    assert event.type == expected and event.lineage_key == "lab-x/genomics"
    assert event.data["details"] == details and event.data["lineage_key"] == "lab-x/genomics"


def test_unmapped_actions_make_no_event(committed, user):
    ami = AMIFactory(creator=user, status=AMI.Status.DRAFT)
    with committed():
        audit_record(actor=user, action="ami.update", target=ami, after={"name": "x"})
        audit_record(actor=user, action="share.create", target=ami, after={})
    assert not Event.objects.exists()


def test_a_rolled_back_change_announces_nothing(committed, pending_ami, moderator, make_user):
    make_user("watcher")
    with committed() as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                ami_approve(ami=pending_ami, moderator=moderator)
                raise RuntimeError("the request failed after the approval was written")
    assert callbacks == [] and not Event.objects.exists()
    pending_ami.refresh_from_db()
    assert pending_ami.status == AMI.Status.PENDING_REVIEW


def test_fan_out_is_idempotent(committed, pending_ami, moderator):
    from notifications.fanout import event_fan_out
    from registry.models import AuditEvent

    with committed():
        ami_approve(ami=pending_ami, moderator=moderator)
    audit_id = AuditEvent.objects.get(action="ami.approve").pk
    first = only_event()
    again = event_fan_out(audit_event_id=audit_id)  # a redelivered task message
    assert again.event == first and again.email_ids == [] and Event.objects.count() == 1
