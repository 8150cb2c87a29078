"""Rendering notification emails (text + HTML) from ``registry/templates/notifications/email/``.

Every email links to the AMI page and carries an unsubscribe link (a signed token) — also as
``List-Unsubscribe`` / ``List-Unsubscribe-Post`` headers, so mail clients offer one-click
unsubscribe (RFC 8058).
"""
from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from notifications.event_types import EventType
from notifications.fanout import site_url
from notifications.models import EmailNotification, Webhook
from notifications.tokens import unsubscribe_token_make

Reason = EmailNotification.Reason

SUBJECTS = {
    EventType.AMI_APPROVED: "AMI “{name}” was approved",
    EventType.AMI_REJECTED: "AMI “{name}” was rejected",
    EventType.AMI_DEPRECATED: "AMI “{name}” was deprecated",
    EventType.AMI_REVOKED: "AMI “{name}” was revoked",
    EventType.SCAN_FAILED: "Security scan of “{name}” failed",
    EventType.COPY_COMPLETED: "“{name}” is now available in {region}",
    EventType.REVIEW_POSTED: "New review of “{name}”",
    EventType.REVIEW_HIDDEN: "Your review of “{name}” was hidden by a moderator",
    EventType.VERSION_PUBLISHED: "New version of “{name}” published",
    EventType.CHANNEL_MOVED: "A channel of “{name}” moved",
}
SUBJECT_PREFIX = "[CWS Registry] "


def _unsubscribe(email: EmailNotification) -> tuple[str, str]:
    """(link, what it switches off) for this email."""
    if email.reason == Reason.SUBSCRIPTION and email.subscription_id:
        token = unsubscribe_token_make(kind="sub", user_id=email.user_id, subscription_id=email.subscription_id)
        what = "emails from this subscription"
    elif email.reason == Reason.LAUNCHED:
        token = unsubscribe_token_make(kind="launched", user_id=email.user_id)
        what = "revocation notices for AMIs you launched"
    else:
        token = unsubscribe_token_make(kind="own", user_id=email.user_id)
        what = "emails about your own AMIs and reviews"
    return site_url(reverse("web:notifications-unsubscribe", args=[token])), what


def reason_text(email: EmailNotification) -> str:
    """Why this user got this email, in a sentence."""
    if email.reason == Reason.OWNER:
        return "You receive this email because you own this AMI."
    if email.reason == Reason.REVIEW_AUTHOR:
        return "You receive this email because you wrote this review."
    if email.reason == Reason.LAUNCHED:
        return "You receive this email because you recorded a launch of this AMI."
    sub = email.subscription
    if sub is not None:
        return f"You receive this email because you subscribed to {sub.get_target_type_display().lower()} " \
               f"“{sub.target_label}”."
    return "You receive this email because you subscribed to this AMI's events."


def event_email(email: EmailNotification) -> EmailMultiAlternatives:
    """The message for one ``EmailNotification`` (not sent)."""
    event = email.event
    data = event.data or {}
    ami = data.get("ami") or {}
    subject = SUBJECT_PREFIX + SUBJECTS.get(event.type, event.get_type_display()).format(
        name=ami.get("name", "an AMI"), region=data.get("region", ""))
    unsubscribe_url, unsubscribe_what = _unsubscribe(email)
    context = {"email": email, "event": event, "data": data, "ami": ami, "user": email.user,
               "reason_text": reason_text(email), "unsubscribe_url": unsubscribe_url,
               "unsubscribe_what": unsubscribe_what, "settings_url": site_url(reverse("web:notifications-home"))}
    text = render_to_string("notifications/email/event.txt", context)
    html = render_to_string("notifications/email/event.html", context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[email.user.email],
        headers={"List-Unsubscribe": f"<{unsubscribe_url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                 "X-Registry-Event": event.type, "X-Registry-Event-Id": str(event.pk)})
    message.attach_alternative(html, "text/html")
    return message


def webhook_disabled_email(webhook: Webhook, recipients: list[str]) -> EmailMultiAlternatives:
    context = {"webhook": webhook, "url": site_url(reverse("web:notifications-webhook", args=[webhook.pk])),
               "threshold": settings.REGISTRY_WEBHOOK_DISABLE_AFTER_FAILURES}
    message = EmailMultiAlternatives(
        subject=f"{SUBJECT_PREFIX}Webhook “{webhook.name}” was disabled after repeated failures",
        body=render_to_string("notifications/email/webhook_disabled.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL, to=recipients)
    message.attach_alternative(render_to_string("notifications/email/webhook_disabled.html", context), "text/html")
    return message
