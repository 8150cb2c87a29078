"""Sending: webhook attempts (retries, backoff, disabling), emails, and the sweeps that resume
work whose message was lost. Each function is the body of one task in ``notifications.tasks``.

Delivery is at-least-once: a receiver may see one CloudEvent twice (a worker killed after the
POST, before the row was updated) and deduplicates by its ``id``. A claim on the row
(``claimed_until``) keeps two workers from attempting the same delivery at the same time.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications import http
from notifications.emails import event_email, webhook_disabled_email
from notifications.mapping import RULES
from notifications.models import EmailNotification, Event, Webhook, WebhookAttempt, WebhookDelivery
from notifications.payloads import cloudevent_body, request_headers
from registry.audit import audit_record
from registry.models import AuditEvent, CommunityMembership

logger = logging.getLogger(__name__)
DState = WebhookDelivery.State
# A message that arrives this early for a delivery whose retry is not yet due is dropped (the
# countdown message or the sweep brings it back on time); allows for clock skew between hosts.
DUE_TOLERANCE = timedelta(seconds=2)


def backoff_seconds(attempt: int) -> int:
    """Delay before attempt ``attempt + 1``: base · 2^(attempt−1), capped, with ±20 % jitter."""
    base = settings.REGISTRY_WEBHOOK_RETRY_BASE_SECONDS
    delay = min(base * (2 ** max(attempt - 1, 0)), settings.REGISTRY_WEBHOOK_RETRY_MAX_SECONDS)
    return max(0, round(delay * random.uniform(0.8, 1.2)))


@dataclass
class DeliveryOutcome:
    retry_in: int | None = None          # seconds until the next attempt, when one is due
    disabled_webhook_id: int | None = None  # this attempt disabled the endpoint: tell its owners


def _claim(model, pk: int, states, seconds: int) -> bool:
    now = timezone.now()
    return bool(model.objects.filter(pk=pk, state__in=states)
                .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
                .update(claimed_until=now + timedelta(seconds=seconds), attempts=F("attempts") + 1))


def webhook_deliver(*, delivery_id: int) -> DeliveryOutcome:
    """Make one attempt of a webhook delivery (task ``notifications.webhook_deliver``).

    Success (2xx) finishes it and resets the endpoint's failure count. A failure is logged as an
    attempt; 5xx, 408, 429 and network errors are retried with exponential backoff up to
    ``REGISTRY_WEBHOOK_MAX_ATTEMPTS``; refusals (SSRF rules), other 4xx and unfollowed redirects
    are not. ``REGISTRY_WEBHOOK_DISABLE_AFTER_FAILURES`` consecutive failed attempts disable the
    endpoint. Test deliveries are tried once and never count against the endpoint.
    Idempotent: a finished, claimed or not-yet-due delivery is left alone.
    """
    row = WebhookDelivery.objects.filter(pk=delivery_id).values("state", "next_attempt_at").first()
    if row is None or row["state"] not in (DState.PENDING, DState.RETRYING):
        return DeliveryOutcome()
    if row["next_attempt_at"] and row["next_attempt_at"] > timezone.now() + DUE_TOLERANCE:
        return DeliveryOutcome()
    timeout = settings.REGISTRY_WEBHOOK_TIMEOUT_SECONDS
    if not _claim(WebhookDelivery, delivery_id, (DState.PENDING, DState.RETRYING),
                  seconds=int(timeout * (http.MAX_REDIRECTS + 1) * 2) + 30):
        return DeliveryOutcome()
    delivery = WebhookDelivery.objects.select_related("webhook", "event").get(pk=delivery_id)
    webhook, number = delivery.webhook, delivery.attempts
    if not webhook.is_active and not delivery.is_test:
        _finish(delivery, DState.FAILED, error="the endpoint is disabled")
        return DeliveryOutcome()

    body = cloudevent_body(delivery.event)
    headers = request_headers(secret=webhook.secret, body=body, delivery_id=delivery.pk, attempt=number,
                              event=delivery.event)
    result = http.safe_post(webhook.url, body=body, headers=headers, timeout=timeout)

    outcome = DeliveryOutcome()
    with transaction.atomic():
        WebhookAttempt.objects.create(delivery=delivery, number=number, url=result.final_url or webhook.url,
                                      status_code=result.status_code, latency_ms=result.latency_ms,
                                      response_excerpt=result.excerpt, error=result.error[:2000],
                                      succeeded=result.succeeded)
        hook = Webhook.objects.select_for_update().get(pk=webhook.pk)
        hook.last_delivery_at = timezone.now()
        fields = ["last_delivery_at", "updated_at"]
        if result.succeeded:
            if not delivery.is_test:
                hook.consecutive_failures = 0
                fields.append("consecutive_failures")
            hook.save(update_fields=fields)
            _finish(delivery, DState.SUCCEEDED, status_code=result.status_code)
            return outcome
        error = result.error or f"HTTP {result.status_code}"
        if not delivery.is_test:
            hook.consecutive_failures += 1
            fields.append("consecutive_failures")
        hook.save(update_fields=fields)
        if (not delivery.is_test and hook.is_active
                and hook.consecutive_failures >= settings.REGISTRY_WEBHOOK_DISABLE_AFTER_FAILURES):
            _disable(hook, reason=f"{hook.consecutive_failures} consecutive failed attempts; last: {error}")
            outcome.disabled_webhook_id = hook.pk
        if (result.retryable and not delivery.is_test and hook.is_active
                and number < settings.REGISTRY_WEBHOOK_MAX_ATTEMPTS):
            outcome.retry_in = backoff_seconds(number)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                state=DState.RETRYING, claimed_until=None, last_status_code=result.status_code,
                last_error=error[:2000], next_attempt_at=timezone.now() + timedelta(seconds=outcome.retry_in))
        else:
            _finish(delivery, DState.FAILED, status_code=result.status_code, error=error)
    return outcome


def _finish(delivery: WebhookDelivery, state: str, *, status_code: int | None = None, error: str = "") -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=state, claimed_until=None, next_attempt_at=None, finished_at=timezone.now(),
        last_status_code=status_code, last_error=error[:2000])


def _disable(hook: Webhook, *, reason: str) -> None:
    """Turn a failing endpoint off (the caller holds its row lock). Audited, by the system."""
    hook.is_active = False
    hook.disabled_at = timezone.now()
    hook.disabled_reason = reason[:2000]
    hook.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"])
    audit_record(actor=None, action="webhook.disable", target=hook, before={"is_active": True},
                 after={"is_active": False, "consecutive_failures": hook.consecutive_failures}, reason=reason)


def webhook_disabled_notice_send(*, webhook_id: int) -> bool:
    """Email the endpoint's owner(s) that it was disabled (task ``notifications.webhook_disabled_notice``).

    A user's endpoint: that user. A community's: its admins and whoever created it. Sent once per
    disabling (``disabled_notice_at`` is claimed first; re-enabling clears it).
    """
    now = timezone.now()
    if not Webhook.objects.filter(pk=webhook_id, is_active=False, disabled_notice_at__isnull=True).update(
            disabled_notice_at=now):
        return False
    hook = Webhook.objects.select_related("owner_user", "owner_community", "created_by").get(pk=webhook_id)
    users = [hook.owner_user] if hook.owner_user_id else [
        m.user for m in CommunityMembership.objects.filter(
            community_id=hook.owner_community_id, role=CommunityMembership.Role.ADMIN).select_related("user")]
    if hook.owner_community_id and hook.created_by_id:
        users.append(hook.created_by)
    recipients = sorted({u.email for u in users if u is not None and u.is_active and u.email})
    if not recipients:
        return False
    try:
        webhook_disabled_email(hook, recipients).send()
    except Exception:
        Webhook.objects.filter(pk=webhook_id).update(disabled_notice_at=None)  # let a retry send it
        raise
    return True


def email_send(*, email_id: int) -> bool:
    """Send one notification email (task ``notifications.email_send``). Idempotent: a sent email
    is not sent again; a failure is recorded and re-raised for the task's retry, and after
    ``REGISTRY_EMAIL_MAX_ATTEMPTS`` the email is marked failed."""
    if not _claim(EmailNotification, email_id, (EmailNotification.State.PENDING,), seconds=120):
        return False
    email = EmailNotification.objects.select_related("event", "user", "subscription__template",
                                                     "subscription__ami").get(pk=email_id)
    try:
        event_email(email).send()
    except Exception as exc:
        final = email.attempts >= settings.REGISTRY_EMAIL_MAX_ATTEMPTS
        EmailNotification.objects.filter(pk=email_id).update(
            claimed_until=None, error=f"{type(exc).__name__}: {exc}"[:2000],
            state=EmailNotification.State.FAILED if final else EmailNotification.State.PENDING)
        if final:
            logger.error("notification email %s failed for good: %s", email_id, exc)
            return False
        raise
    EmailNotification.objects.filter(pk=email_id).update(state=EmailNotification.State.SENT, sent_at=timezone.now(),
                                                         claimed_until=None, error="")
    return True


# --- sweeps (beat) -------------------------------------------------------------------------------

@dataclass
class Resumable:
    audit_event_ids: list[int]
    email_ids: list[int]
    delivery_ids: list[int]


def notifications_resumable(*, now=None) -> Resumable:
    """Work whose task message was lost (broker outage, crashed worker): audit events of the last
    day that should have been fanned out, emails still pending, deliveries due and unclaimed."""
    now = now or timezone.now()
    settle = now - timedelta(minutes=5)  # give the normal path time to run first
    fanned = Event.objects.filter(audit_event_id__isnull=False).values("audit_event_id")
    audit_ids = list(AuditEvent.objects.filter(action__in=list(RULES), at__gte=now - timedelta(days=1),
                                               at__lt=settle).exclude(pk__in=fanned)
                     .values_list("pk", flat=True)[:500])
    unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    email_ids = list(EmailNotification.objects.filter(unclaimed, state=EmailNotification.State.PENDING,
                                                      created_at__lt=settle).values_list("pk", flat=True)[:500])
    delivery_ids = list(WebhookDelivery.objects.filter(unclaimed).filter(
        Q(state=DState.PENDING, created_at__lt=settle)
        | Q(state=DState.RETRYING, next_attempt_at__lt=now - timedelta(minutes=1))).values_list("pk", flat=True)[:500])
    return Resumable(audit_ids, email_ids, delivery_ids)


def notifications_prune(*, now=None) -> int:
    """Delete events (with their deliveries, attempts and emails) older than
    ``REGISTRY_NOTIFICATION_RETENTION_DAYS``. Returns the number of events deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.REGISTRY_NOTIFICATION_RETENTION_DAYS)
    deleted, by_model = Event.objects.filter(occurred_at__lt=cutoff).delete()
    return by_model.get(Event._meta.label, 0)

