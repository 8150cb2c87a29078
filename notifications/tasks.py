"""Celery entry points for notifications: ids in, one service call, follow-ups enqueued here.

Every task has a stable ``name=`` (queued messages carry it) and ``acks_late``: each service is
idempotent (unique rows, claims, finished states), so a message redelivered after a crash is
safe. Webhook retries are not Celery retries: the delivery row records the attempt and when the
next one is due, and the task schedules itself with that countdown — so the backoff survives a
lost message (the sweep finds due rows) and every attempt is in the delivery log.
"""
from __future__ import annotations

import smtplib

from celery import shared_task

from notifications import delivery, fanout

TASK = dict(acks_late=True)


@shared_task(name="notifications.event_fan_out", **TASK)
def event_fan_out_task(audit_event_id: int) -> None:
    """Audit event → notification event, emails, webhook deliveries; then queue the sending."""
    result = fanout.event_fan_out(audit_event_id=audit_event_id)
    for email_id in result.email_ids:
        email_send_task.delay(email_id)
    for delivery_id in result.delivery_ids:
        webhook_deliver_task.delay(delivery_id)


@shared_task(name="notifications.webhook_deliver", **TASK)
def webhook_deliver_task(delivery_id: int) -> None:
    """One attempt; re-schedules itself with the backoff countdown when another is due."""
    outcome = delivery.webhook_deliver(delivery_id=delivery_id)
    if outcome.disabled_webhook_id is not None:
        webhook_disabled_notice_task.delay(outcome.disabled_webhook_id)
    if outcome.retry_in is not None:
        # NOTE: without a broker (eager mode) this runs at once: the demo retries without waiting.
        webhook_deliver_task.apply_async((delivery_id,), countdown=outcome.retry_in)


@shared_task(name="notifications.email_send", autoretry_for=(smtplib.SMTPException, OSError),
             retry_backoff=30, retry_backoff_max=1800, retry_jitter=True, max_retries=5, **TASK)
def email_send_task(email_id: int) -> None:
    delivery.email_send(email_id=email_id)


@shared_task(name="notifications.webhook_disabled_notice", autoretry_for=(smtplib.SMTPException, OSError),
             retry_backoff=30, retry_jitter=True, max_retries=5, **TASK)
def webhook_disabled_notice_task(webhook_id: int) -> None:
    delivery.webhook_disabled_notice_send(webhook_id=webhook_id)


@shared_task(name="notifications.resume", **TASK)
def notifications_resume_task() -> None:
    """Beat: re-queue what a lost message left behind (see ``delivery.notifications_resumable``)."""
    work = delivery.notifications_resumable()
    for audit_event_id in work.audit_event_ids:
        event_fan_out_task.delay(audit_event_id)
    for email_id in work.email_ids:
        email_send_task.delay(email_id)
    for delivery_id in work.delivery_ids:
        webhook_deliver_task.delay(delivery_id)


@shared_task(name="notifications.prune", **TASK)
def notifications_prune_task() -> None:
    """Beat: drop notification history older than the retention period."""
    delivery.notifications_prune()
