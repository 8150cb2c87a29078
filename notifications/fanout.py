"""From a committed audit event to frozen notification events, emails and webhook deliveries.

``event_fan_out`` is the body of the ``notifications.event_fan_out`` task. It is idempotent: one
``Event`` per audit event (unique ``audit_event_id``), one email per (event, user), one delivery
per (event, webhook); a redelivered task creates nothing twice and enqueues only what is still
pending.

Who hears about an event:
- without subscribing: the AMI's owner (every AMI event, and reviews of their AMI); a review's
  author (their review was hidden); for a revocation, everyone who recorded a launch of the AMI
  (an ``ami_downloads`` row with their user). Switches in ``NotificationSettings``.
- subscribers of the AMI, its template or its lineage for that event type: by email and/or
  through the webhook the subscription names.
Nobody hears about an AMI they cannot see (``amis.selectors.ami_list_visible_to``); for a
revocation, whoever could see it just before. A community's webhook carries only what the
anonymous public may see: its receivers are unknown to us.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from amis.models import AMI, Download
from amis.selectors import ami_list_visible_to
from notifications.event_types import EventType
from notifications.mapping import REVIEW_EVENTS, Rule, ami_ref_of, lineage_key_of, rule_for
from notifications.models import EmailNotification, Event, NotificationSettings, Subscription, Webhook, WebhookDelivery
from ratings.models import Rating
from registry.models import AuditEvent

logger = logging.getLogger(__name__)
Reason = EmailNotification.Reason
# When a user is a recipient for several reasons, the email names the first of these.
REASON_ORDER = [Reason.OWNER, Reason.REVIEW_AUTHOR, Reason.LAUNCHED, Reason.SUBSCRIPTION]


def site_url(path: str) -> str:
    """An absolute link into the site (emails, payloads, feeds are read outside it)."""
    return settings.REGISTRY_SITE_URL.rstrip("/") + path


def ami_summary(ami: AMI) -> dict:
    """The AMI as every payload names it."""
    return {
        "id": str(ami.pk), "ami_id": ami.ami_id, "name": ami.name, "version": ami.version,
        "template": ami.template.slug if ami.template_id else None, "status": ami.status,
        "source_region": ami.source_region, "architecture": ami.architecture,
        "url": site_url(reverse("web:ami-detail", args=[ami.pk])),
        "api_url": site_url(f"/api/v1/amis/{ami.pk}"),
    }


# --- building the event -------------------------------------------------------------------------

@dataclass
class Draft:
    """What an audit event says, resolved against the database (before anything is written)."""

    rule: Rule
    audit: AuditEvent
    ami: AMI | None
    rating: Rating | None = None
    data: dict = field(default_factory=dict)


def _draft(audit: AuditEvent) -> Draft | None:
    rule = rule_for(audit)
    if rule is None:
        return None
    rating = None
    if rule.event_type in REVIEW_EVENTS:
        rating = Rating.objects.select_related("user", "ami").filter(pk=audit.target_id).first() \
            if audit.target_type == "ratings.rating" and audit.target_id.isdigit() else None
        ami = rating.ami if rating is not None else None
    else:
        ref = ami_ref_of(audit)
        ami = AMI.objects.select_related("template", "creator").filter(pk=ref).first() if _is_uuid(ref) else None
    if ami is None:
        # The entry (or the review) was deleted before the fan-out ran: nothing left to tell.
        logger.info("audit event %s (%s): its AMI is gone, no notification", audit.pk, audit.action)
        return None
    return Draft(rule=rule, audit=audit, ami=ami, rating=rating, data=_data(rule.event_type, audit, ami, rating))


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def _data(event_type: str, audit: AuditEvent, ami: AMI, rating: Rating | None) -> dict:
    after = audit.after or {}
    data: dict = {"ami": ami_summary(ami)}
    if audit.reason:
        data["reason"] = audit.reason
    if event_type == EventType.AMI_DEPRECATED and after.get("replacement"):
        # Named only when the public may see it: the same data goes to every recipient.
        replacement = ami_list_visible_to(user=None).filter(pk=after["replacement"]).first() \
            if _is_uuid(after["replacement"]) else None
        if replacement is not None:
            data["replacement"] = {"id": str(replacement.pk), "name": replacement.name,
                                   "url": site_url(reverse("web:ami-detail", args=[replacement.pk]))}
    elif event_type == EventType.SCAN_FAILED:
        data["scan"] = {"security_score": after.get("security_score"), "findings": after.get("findings") or []}
    elif event_type == EventType.COPY_COMPLETED:
        data["region"] = after.get("region", "")
        data["region_ami_id"] = after.get("ami_id", "")
    elif event_type in REVIEW_EVENTS and rating is not None:
        review = {"id": rating.pk, "rating": rating.rating,
                  "reviewer": rating.user.get_username() if rating.user_id else "deleted user"}
        if event_type == EventType.REVIEW_POSTED:
            review["review"] = rating.review  # a hidden review's text is never re-broadcast
        data["review"] = review
    elif event_type in (EventType.VERSION_PUBLISHED, EventType.CHANNEL_MOVED):
        data["lineage_key"] = lineage_key_of(audit)
        data["details"] = after
    return data


# --- recipients ---------------------------------------------------------------------------------

class _Visibility:
    """Answers "may this user see the AMI (as of the event)?" with one query per distinct user."""

    def __init__(self, ami: AMI, event_type: str):
        self.ami, self.revoked_as_listed = ami, event_type == EventType.AMI_REVOKED
        self._public = self._ask(None)
        self._cache: dict[int, bool] = {}

    def _ask(self, user) -> bool:
        return ami_list_visible_to(user=user, revoked_as_listed=self.revoked_as_listed).filter(pk=self.ami.pk).exists()

    @property
    def public(self) -> bool:
        return self._public

    def user(self, user) -> bool:
        if self._public:
            return True
        if user.pk not in self._cache:
            self._cache[user.pk] = self._ask(user)
        return self._cache[user.pk]


@dataclass
class Plan:
    emails: dict = field(default_factory=dict)      # user id → (user, reason, subscription | None)
    webhooks: dict = field(default_factory=dict)    # webhook id → webhook


def _settings_for(user_ids) -> dict[int, NotificationSettings]:
    return {s.user_id: s for s in NotificationSettings.objects.filter(user_id__in=user_ids)}


def _plan(draft: Draft) -> Plan:
    event_type, ami, audit = draft.rule.event_type, draft.ami, draft.audit
    actor_id = audit.actor_id
    visible = _Visibility(ami, event_type)
    plan = Plan()
    candidates: list[tuple] = []  # (user, reason, subscription)

    # Implicit recipients.
    if event_type == EventType.REVIEW_HIDDEN:
        if draft.rating is not None and draft.rating.user_id:
            candidates.append((draft.rating.user, Reason.REVIEW_AUTHOR, None))
    elif ami.creator_id:
        candidates.append((ami.creator, Reason.OWNER, None))
    if event_type == EventType.AMI_REVOKED:
        launcher_ids = Download.objects.filter(ami=ami, user__isnull=False).values("user_id").distinct()
        for launcher in get_user_model().objects.filter(pk__in=launcher_ids):
            candidates.append((launcher, Reason.LAUNCHED, None))

    # Subscriptions of the AMI, its template, its lineage.
    target = Q(ami=ami)
    if ami.template_id:
        target |= Q(template_id=ami.template_id)
    lineage_key = lineage_key_of(audit)
    if lineage_key:
        target |= Q(lineage_key=lineage_key)
    for sub in Subscription.objects.filter(target).select_related("user", "webhook", "webhook__owner_community"):
        if event_type not in (sub.event_types or []):
            continue
        if sub.email:
            candidates.append((sub.user, Reason.SUBSCRIPTION, sub))
        hook = sub.webhook
        if hook is not None and hook.is_active:
            if hook.owner_community_id:
                allowed = visible.public
            else:
                allowed = hook.owner_user_id == sub.user_id and sub.user.is_active and visible.user(sub.user)
            if allowed:
                plan.webhooks[hook.pk] = hook

    prefs = _settings_for({user.pk for user, _reason, _sub in candidates})
    for user, reason, sub in candidates:
        if not user.is_active or not user.email:
            continue
        if user.pk == actor_id and not draft.rule.tell_actor:
            continue  # nobody is emailed about what they just did themselves
        pref = prefs.get(user.pk)
        if reason in (Reason.OWNER, Reason.REVIEW_AUTHOR) and pref is not None and not pref.own_activity_email:
            continue
        if reason == Reason.LAUNCHED and pref is not None and not pref.launched_revocation_email:
            continue
        if not visible.user(user):
            continue
        current = plan.emails.get(user.pk)
        if current is None or REASON_ORDER.index(reason) < REASON_ORDER.index(current[1]):
            plan.emails[user.pk] = (user, reason, sub)
    return plan


# --- the use-case ------------------------------------------------------------------------------

@dataclass
class FanOut:
    event: Event | None
    email_ids: list[int]
    delivery_ids: list[int]


def event_fan_out(*, audit_event_id: int) -> FanOut:
    """Turn one committed audit event into an Event plus its emails and webhook deliveries.

    Called by the ``notifications.event_fan_out`` task (and the catch-up sweep). Idempotent.
    Returns what is pending so the caller enqueues it (after this function's commit).
    """
    existing = Event.objects.filter(audit_event_id=audit_event_id).first()
    if existing is not None and existing.fanned_out_at is not None:
        return FanOut(existing, [], [])
    audit = AuditEvent.objects.filter(pk=audit_event_id).first()
    draft = _draft(audit) if audit is not None else None
    if draft is None:
        return FanOut(None, [], [])
    plan = _plan(draft)
    with transaction.atomic():
        event, _created = Event.objects.get_or_create(audit_event_id=audit_event_id, defaults={
            "type": draft.rule.event_type, "ami": draft.ami, "template_id_at_event": draft.ami.template_id,
            "lineage_key": lineage_key_of(draft.audit), "subject": f"amis/{draft.ami.pk}",
            "data": draft.data, "occurred_at": draft.audit.at})
        EmailNotification.objects.bulk_create(
            [EmailNotification(event=event, user=user, reason=reason, subscription=sub)
             for user, reason, sub in plan.emails.values()], ignore_conflicts=True)
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(event=event, webhook=hook) for hook in plan.webhooks.values()], ignore_conflicts=True)
        Event.objects.filter(pk=event.pk).update(fanned_out_at=timezone.now())
    email_ids = list(EmailNotification.objects.filter(event=event, state=EmailNotification.State.PENDING)
                     .values_list("pk", flat=True))
    delivery_ids = list(WebhookDelivery.objects.filter(event=event, state=WebhookDelivery.State.PENDING)
                        .values_list("pk", flat=True))
    return FanOut(event, email_ids, delivery_ids)


def webhook_test_event(*, webhook: Webhook, user) -> Event:
    """A ``webhook.test`` event (no audit event behind it: nothing changed)."""
    return Event.objects.create(
        type=EventType.WEBHOOK_TEST, subject=f"webhooks/{webhook.pk}", occurred_at=timezone.now(),
        data={"message": "This is a test event from the Community AMI Registry.",
              "webhook": {"id": webhook.pk, "name": webhook.name}, "requested_by": user.get_username()})
