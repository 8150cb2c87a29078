"""Webhook delivery against a real local HTTP receiver (http.server on port 0): CloudEvents body,
HMAC signature checked with the secret, retries with backoff on 500, no retry on 4xx, disabling
after repeated failures (and the email saying so), and the SSRF rules."""
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from cloudevents.core.formats.json import JSONFormat
from django.core import mail
from django.utils import timezone

from amis.services import ami_approve
from notifications import delivery as delivery_module
from notifications.delivery import backoff_seconds, webhook_deliver
from notifications.http import safe_post, url_problem
from notifications.models import Event, Webhook, WebhookDelivery
from notifications.payloads import SIGNATURE_HEADER, cloudevent_body, signature_valid
from notifications.services import subscription_create, webhook_create, webhook_test_send, webhook_update
from registry.errors import InvalidInput
from registry.models import AuditEvent
from tests.notifications.conftest import user_webhook

pytestmark = pytest.mark.django_db
S = WebhookDelivery.State


def approve_with_hook(committed, pending_ami, moderator, hook):
    subscription_create(user=hook.owner_user, target_type="ami", ami=pending_ami, event_types=["ami.approved"],
                        email=False, webhook=hook)
    with committed():
        ami_approve(ami=pending_ami, moderator=moderator)
    return WebhookDelivery.objects.get(webhook=hook)


def test_delivery_is_a_signed_cloudevent(committed, pending_ami, moderator, user, receiver, allow_private):
    hook = user_webhook(user, receiver.url, secret="whsec_s3cret")
    delivery = approve_with_hook(committed, pending_ami, moderator, hook)
    [request] = receiver.requests
    # The signature, verified the way docs/notifications.md tells receivers to.
    header = request.headers[SIGNATURE_HEADER.lower()]
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    expected = hmac.new(b"whsec_s3cret", f"{t}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, v1)
    assert signature_valid("whsec_s3cret", request.body, header)
    assert not signature_valid("another-secret", request.body, header)
    assert not signature_valid("whsec_s3cret", request.body + b" ", header)
    # A valid CloudEvents 1.0 structured-mode event (parsed by the SDK).
    assert request.headers["content-type"].startswith("application/cloudevents+json")
    event = JSONFormat().read(None, request.body)
    assert event.get_specversion() == "1.0" and event.get_type() == "ami.approved"
    assert event.get_id() == str(Event.objects.get().pk) and event.get_subject() == f"amis/{pending_ami.pk}"
    assert event.get_data()["ami"]["id"] == str(pending_ami.pk)
    assert request.headers["x-registry-delivery"] == str(delivery.pk) and request.headers["x-registry-attempt"] == "1"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (S.SUCCEEDED, 1, 200)
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok" and attempt.latency_ms is not None


def test_retries_on_500_until_it_succeeds(committed, pending_ami, moderator, user, receiver, allow_private,
                                          fast_retries):
    receiver.respond((500, b"database down"), (503, b"still down"))
    hook = user_webhook(user, receiver.url)
    delivery = approve_with_hook(committed, pending_ami, moderator, hook)
    assert len(receiver.requests) == 3
    assert len({r.json()["id"] for r in receiver.requests}) == 1  # the same event, deduplicable by id
    assert [r.headers["x-registry-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (S.SUCCEEDED, 3)
    log = [(a.number, a.status_code, a.response_excerpt) for a in delivery.attempt_log.all()]
    assert log == [(1, 500, "database down"), (2, 503, "still down"), (3, 200, "ok")]
    hook.refresh_from_db()
    assert hook.consecutive_failures == 0 and hook.is_active


def test_backoff_is_exponential_and_scheduled_on_the_row(user, receiver, allow_private, settings, monkeypatch):
    settings.REGISTRY_WEBHOOK_RETRY_BASE_SECONDS, settings.REGISTRY_WEBHOOK_RETRY_MAX_SECONDS = 30, 600
    monkeypatch.setattr(delivery_module.random, "uniform", lambda a, b: 1.0)
    assert [backoff_seconds(n) for n in range(1, 7)] == [30, 60, 120, 240, 480, 600]
    receiver.respond(500)
    hook = user_webhook(user, receiver.url)
    event = Event.objects.create(type="ami.approved", occurred_at=timezone.now(), data={})
    row = WebhookDelivery.objects.create(webhook=hook, event=event)
    outcome = webhook_deliver(delivery_id=row.pk)
    assert outcome.retry_in == 30
    row.refresh_from_db()
    assert row.state == S.RETRYING and row.next_attempt_at > timezone.now() + timedelta(seconds=25)
    # A message arriving before the retry is due does nothing (the countdown one will come).
    assert webhook_deliver(delivery_id=row.pk).retry_in is None and len(receiver.requests) == 1


def test_gives_up_after_max_attempts_and_4xx_is_not_retried(user, receiver, allow_private, fast_retries):
    receiver.default = (500, b"no", {})
    hook = user_webhook(user, receiver.url)
    event = Event.objects.create(type="ami.approved", occurred_at=timezone.now(), data={})
    row = WebhookDelivery.objects.create(webhook=hook, event=event)
    while webhook_deliver(delivery_id=row.pk).retry_in is not None:
        pass
    row.refresh_from_db()
    assert (row.state, row.attempts, len(receiver.requests)) == (S.FAILED, 4, 4)

    receiver.requests.clear()
    receiver.default = (410, b"gone", {})
    other = WebhookDelivery.objects.create(webhook=hook, event=Event.objects.create(
        type="ami.approved", occurred_at=timezone.now(), data={}))
    assert webhook_deliver(delivery_id=other.pk).retry_in is None
    other.refresh_from_db()
    assert (other.state, other.attempts, other.last_status_code) == (S.FAILED, 1, 410)


def test_repeated_failures_disable_the_endpoint_and_email_its_owner(committed, user, receiver, allow_private,
                                                                    settings, fast_retries):
    settings.REGISTRY_WEBHOOK_DISABLE_AFTER_FAILURES = 5
    receiver.default = (500, b"broken", {})
    hook = user_webhook(user, receiver.url, name="lab-ci")
    from notifications.tasks import webhook_deliver_task

    with committed():
        for _ in range(3):  # three events; each is tried up to 4 times, but the 5th failure disables
            event = Event.objects.create(type="ami.approved", occurred_at=timezone.now(), data={})
            webhook_deliver_task.delay(WebhookDelivery.objects.create(webhook=hook, event=event).pk)
    hook.refresh_from_db()
    assert not hook.is_active and hook.consecutive_failures == 5
    assert "5 consecutive failed attempts" in hook.disabled_reason and "HTTP 500" in hook.disabled_reason
    assert len(receiver.requests) == 5  # nothing is sent to a disabled endpoint
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {S.FAILED}
    [message] = mail.outbox
    assert message.to == ["alice@example.org"]
    assert message.subject == "[CWS Registry] Webhook “lab-ci” was disabled after repeated failures"
    assert "5 consecutive failed delivery attempts" in message.body and receiver.url in message.body
    assert AuditEvent.objects.filter(action="webhook.disable", target_id=str(hook.pk)).count() == 1

    # Re-enabling resets the count; the notice will be sent again next time.
    webhook_update(webhook=hook, user=user, is_active=True)
    hook.refresh_from_db()
    assert hook.is_active and hook.consecutive_failures == 0 and hook.disabled_notice_at is None


def test_test_event_is_tried_once_and_does_not_count(committed, user, receiver, allow_private):
    receiver.respond(500)
    hook = user_webhook(user, receiver.url)
    with committed():
        row = webhook_test_send(webhook=hook, user=user)
    row.refresh_from_db()
    assert (row.state, row.attempts, row.is_test) == (S.FAILED, 1, True)
    assert receiver.requests[0].json()["type"] == "webhook.test"
    hook.refresh_from_db()
    assert hook.consecutive_failures == 0


# --- SSRF ----------------------------------------------------------------------------------------

def test_loopback_receiver_is_refused_when_private_addresses_are_not_allowed(committed, pending_ami, moderator,
                                                                           user, receiver, settings):
    assert settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES is False  # the production default
    hook = user_webhook(user, receiver.url.replace("127.0.0.1", "localhost"))  # a name, resolved at delivery
    delivery = approve_with_hook(committed, pending_ami, moderator, hook)
    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.state == S.FAILED and delivery.attempts == 1  # refusals are not retried
    assert "refused: localhost resolves to" in delivery.last_error and "loopback" in delivery.last_error


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:8080/x", "loopback"), ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.5/x", "private"), ("http://[::1]/x", "loopback"), ("http://[fd00:ec2::254]/", "private"),
    ("http://[::ffff:127.0.0.1]/x", "loopback"), ("http://100.64.0.1/", "non-public"), ("http://0.0.0.0/", "unspecified"),
    ("ftp://example.org/x", "only http"), ("http://user:pw@example.org/", "credentials"), ("http:///x", "no host"),
])
def test_urls_refused_at_creation(user, url, reason):
    assert reason in (url_problem(url) or "")
    with pytest.raises(InvalidInput):
        webhook_create(user=user, name="x", url=url)
    assert not Webhook.objects.exists()


def test_every_resolved_address_is_checked(settings, monkeypatch):
    import socket

    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, type=0: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))])
    result = safe_post("https://hooks.example.org/x", body=b"{}", headers={})
    assert result.refused and "hooks.example.org resolves to 10.1.2.3 is a private address" in result.error


def test_redirect_to_a_private_address_is_refused(receiver, settings):
    # Only the receiver's own address is allowed; it redirects to the cloud metadata service.
    settings.REGISTRY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver.respond((307, b"", {"Location": "http://169.254.169.254/latest/meta-data/iam/"}))
    result = safe_post(receiver.url, body=b"{}", headers={})
    assert len(receiver.requests) == 1
    assert result.refused and not result.retryable
    assert "169.254.169.254 is a link-local (cloud metadata) address" in result.error
    assert "redirected to http://169.254.169.254/latest/meta-data/iam/" in result.error


def test_allowed_307_redirect_is_followed_with_the_same_body(receiver, allow_private):
    target = receiver.url + "/final"
    receiver.respond((308, b"", {"Location": target}))
    result = safe_post(receiver.url, body=b'{"a": 1}', headers={"X-T": "1"})
    assert result.succeeded and result.final_url == target
    assert [(r.path, r.body) for r in receiver.requests] == [("/hook", b'{"a": 1}'), ("/hook/final", b'{"a": 1}')]


def test_other_redirects_are_not_followed(receiver, allow_private):
    receiver.respond((302, b"", {"Location": "https://elsewhere.example.org/"}))
    result = safe_post(receiver.url, body=b"{}", headers={})
    assert not result.succeeded and "redirect (302) not followed" in result.error and len(receiver.requests) == 1


def test_body_is_stable_across_attempts():
    event = Event(type="ami.approved", occurred_at=timezone.now(), data={"x": 1}, subject="amis/1")
    assert cloudevent_body(event) == cloudevent_body(event)
    assert json.loads(cloudevent_body(event))["source"] == "http://127.0.0.1:8000"
