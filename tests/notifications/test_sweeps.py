"""What keeps notifications from being lost or piling up: the resume sweep (lost task messages),
email retries and the retention prune; and the admin's enable/disable action."""
import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.utils import timezone

from amis.services import ami_reject
from notifications.delivery import email_send, notifications_prune, notifications_resumable
from notifications.models import EmailNotification, Event, WebhookAttempt, WebhookDelivery
from notifications.tasks import notifications_resume_task
from registry.models import AuditEvent
from tests.notifications.conftest import user_webhook

pytestmark = pytest.mark.django_db
LATER = timedelta(minutes=10)


def test_resume_fans_out_an_audit_event_whose_message_was_lost(pending_ami, moderator, committed, monkeypatch):
    ami_reject(ami=pending_ami, moderator=moderator, reason="unsigned")  # committed, but never announced:
    assert not Event.objects.exists()                                    # the on-commit callback did not run
    audit_id = AuditEvent.objects.get(action="ami.reject").pk
    assert notifications_resumable().audit_event_ids == []  # too fresh: the normal path may still run
    assert notifications_resumable(now=timezone.now() + LATER).audit_event_ids == [audit_id]
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + LATER)  # the sweep runs ten minutes later
    with committed():
        notifications_resume_task.delay()
    assert Event.objects.get().audit_event_id == audit_id
    [message] = mail.outbox
    assert "unsigned" in message.body


def test_resume_requeues_pending_emails_and_due_deliveries(user, receiver, allow_private, committed, monkeypatch):
    event = Event.objects.create(type="ami.approved", occurred_at=timezone.now(), data={"ami": {"name": "x"}})
    email = EmailNotification.objects.create(event=event, user=user, reason="owner")
    hook = user_webhook(user, receiver.url)
    due = WebhookDelivery.objects.create(webhook=hook, event=event, state="retrying",
                                         next_attempt_at=timezone.now() - timedelta(minutes=5))
    claimed = WebhookDelivery.objects.create(webhook=user_webhook(user, receiver.url, name="b"), event=event,
                                             claimed_until=timezone.now() + timedelta(hours=1))
    work = notifications_resumable(now=timezone.now() + LATER)
    assert work.email_ids == [email.pk] and due.pk in work.delivery_ids and claimed.pk not in work.delivery_ids
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + LATER)  # the sweep runs ten minutes later
    with committed():
        notifications_resume_task.delay()
    email.refresh_from_db()
    due.refresh_from_db()
    assert email.state == "sent" and due.state == "succeeded" and len(receiver.requests) == 1


def test_email_failures_are_retried_then_given_up(user, settings, monkeypatch):
    settings.REGISTRY_EMAIL_MAX_ATTEMPTS = 2
    event = Event.objects.create(type="ami.approved", occurred_at=timezone.now(), data={"ami": {"name": "x"}})
    email = EmailNotification.objects.create(event=event, user=user, reason="owner")

    def refuse(self, fail_silently=False):
        raise smtplib.SMTPServerDisconnected("relay went away")

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse)
    with pytest.raises(smtplib.SMTPServerDisconnected):  # the task's autoretry takes it from here
        email_send(email_id=email.pk)
    email.refresh_from_db()
    assert (email.state, email.attempts, email.claimed_until) == ("pending", 1, None)
    assert "relay went away" in email.error
    assert email_send(email_id=email.pk) is False  # the last attempt: recorded, not raised
    email.refresh_from_db()
    assert (email.state, email.attempts) == ("failed", 2)
    assert email_send(email_id=email.pk) is False and email.attempts == 2  # nothing more happens


def test_prune_deletes_old_history_only(user, settings):
    settings.REGISTRY_NOTIFICATION_RETENTION_DAYS = 30
    old = Event.objects.create(type="ami.approved", occurred_at=timezone.now() - timedelta(days=31), data={})
    new = Event.objects.create(type="ami.approved", occurred_at=timezone.now() - timedelta(days=1), data={})
    hook = user_webhook(user, "https://hooks.example.org/x")
    for event in (old, new):
        d = WebhookDelivery.objects.create(webhook=hook, event=event, state="succeeded")
        WebhookAttempt.objects.create(delivery=d, number=1, url=hook.url, status_code=200, succeeded=True)
        EmailNotification.objects.create(event=event, user=user, reason="owner", state="sent")
    assert notifications_prune() == 1
    assert list(Event.objects.all()) == [new]
    assert WebhookDelivery.objects.count() == WebhookAttempt.objects.count() == EmailNotification.objects.count() == 1


def test_moderators_disable_and_enable_webhooks_in_the_admin(moderator, user):
    hook = user_webhook(user, "https://hooks.example.org/x", consecutive_failures=3)
    client = Client()
    client.force_login(moderator)
    page = client.get(f"/admin/notifications/webhook/{hook.pk}/change/")
    assert page.status_code == 200 and hook.secret.encode() not in page.content  # the secret is not shown
    for action, active in (("disable", False), ("enable", True)):
        resp = client.post("/admin/notifications/webhook/", {"action": action, "_selected_action": [hook.pk]})
        assert resp.status_code == 302
        hook.refresh_from_db()
        assert hook.is_active is active
    assert hook.consecutive_failures == 0
    assert AuditEvent.objects.filter(action="webhook.moderate", actor=moderator).count() == 2
    assert client.get("/admin/notifications/webhookdelivery/").status_code == 200
    assert client.get("/admin/notifications/emailnotification/").status_code == 200
    assert client.get("/admin/notifications/event/").status_code == 200
    assert client.get("/admin/notifications/subscription/").status_code == 200
