"""Use-cases that change notification state: subscriptions, switches, webhooks, unsubscribe,
test events. API views, pages and admin actions call these; each owns its transaction, checks
who may do it, and writes its audit event (secrets never go into the audit log)."""
from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from amis.models import AMI
from notifications import http
from notifications.event_types import SUBSCRIBABLE
from notifications.fanout import webhook_test_event
from notifications.models import NotificationSettings, Subscription, Webhook, WebhookDelivery
from notifications.selectors import community_webhooks_manageable, webhook_get_manageable
from notifications.tasks import webhook_deliver_task
from notifications.tokens import unsubscribe_token_read
from registry.audit import audit_record
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.models import Community
from registry.permissions import is_moderator
from templates.models import Template

NAME_MAX = 100
URL_MAX = 2000
Target = Subscription.TargetType


def _require_user(user) -> None:
    if user is None or not user.is_authenticated:
        raise Forbidden("sign in to manage notifications")


def _clean_event_types(event_types) -> list[str]:
    if not isinstance(event_types, (list, tuple)) or not event_types:
        raise InvalidInput("event_types: name at least one event type",
                           errors={"event_types": ["Choose at least one event type."]})
    unknown = [t for t in event_types if t not in SUBSCRIBABLE]
    if unknown:
        raise InvalidInput(f"event_types: unknown event type(s) {', '.join(map(str, unknown))}",
                           errors={"event_types": [f"Unknown: {', '.join(map(str, unknown))}. Known: "
                                                   f"{', '.join(SUBSCRIBABLE)}."]})
    return [t for t in SUBSCRIBABLE if t in set(event_types)]  # canonical order, no duplicates


def _check_webhook_for(user, webhook: Webhook | None) -> None:
    if webhook is not None and webhook_get_manageable(user=user, webhook_id=webhook.pk) is None:
        raise InvalidInput("webhook: not one of your webhooks", errors={"webhook": ["Unknown webhook."]})


def _subscription_view(sub: Subscription) -> dict:
    return {"target_type": sub.target_type, "target": sub.target_label, "event_types": sub.event_types,
            "email": sub.email, "webhook": sub.webhook_id}


@transaction.atomic
def subscription_create(*, user, target_type: str, event_types, email: bool = True, webhook: Webhook | None = None,
                        template: Template | None = None, ami: AMI | None = None, lineage_key: str = "") -> Subscription:
    """Subscribe ``user`` to one target's events by email and/or a webhook they manage.

    The caller resolved the target (an AMI it found visible to ``user``, a template). 400 without
    a channel or an event type; 409 when the same subscription (target, channel) exists.
    """
    _require_user(user)
    types = _clean_event_types(event_types)
    if not email and webhook is None:
        raise InvalidInput("choose email, a webhook, or both", errors={"email": ["Choose at least one channel."]})
    _check_webhook_for(user, webhook)
    targets = {Target.TEMPLATE: {"template": template}, Target.AMI: {"ami": ami},
               Target.LINEAGE: {"lineage_key": (lineage_key or "").strip()}}
    if target_type not in targets or not next(iter(targets[target_type].values())):
        raise InvalidInput("a subscription needs a template, an AMI or a lineage",
                           errors={"target": ["Name what to subscribe to."]})
    target = targets[target_type]
    if Subscription.objects.filter(user=user, target_type=target_type, webhook=webhook, email=email,
                                   **target).exists():
        raise Conflict("you already have this subscription", code="duplicate_subscription")
    sub = Subscription(user=user, target_type=target_type, event_types=types, email=email, webhook=webhook, **target)
    sub.full_clean()
    sub.save()
    audit_record(actor=user, action="subscription.create", target=sub, after=_subscription_view(sub))
    return sub


@transaction.atomic
def subscription_update(*, subscription: Subscription, user, **changes) -> Subscription:
    """Change a subscription's event types and channels (its target is fixed: make a new one)."""
    _require_user(user)
    sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if sub.user_id != user.pk:
        raise NotFound("subscription not found")
    before = _subscription_view(sub)
    if "event_types" in changes:
        sub.event_types = _clean_event_types(changes["event_types"])
    if "email" in changes:
        sub.email = bool(changes["email"])
    if "webhook" in changes:
        _check_webhook_for(user, changes["webhook"])
        sub.webhook = changes["webhook"]
    if not sub.email and sub.webhook_id is None:
        raise InvalidInput("choose email, a webhook, or both", errors={"email": ["Choose at least one channel."]})
    sub.save(update_fields=["event_types", "email", "webhook", "updated_at"])
    audit_record(actor=user, action="subscription.update", target=sub, before=before, after=_subscription_view(sub))
    return sub


@transaction.atomic
def subscription_delete(*, subscription: Subscription, user) -> None:
    _require_user(user)
    if subscription.user_id != user.pk:
        raise NotFound("subscription not found")
    audit_record(actor=user, action="subscription.delete", target=subscription, before=_subscription_view(subscription))
    subscription.delete()


@transaction.atomic
def notification_settings_update(*, user, own_activity_email: bool | None = None,
                                 launched_revocation_email: bool | None = None) -> NotificationSettings:
    """Switch the unsubscribed notifications (own AMIs and reviews; launched-and-revoked) on or off."""
    _require_user(user)
    prefs, _ = NotificationSettings.objects.select_for_update().get_or_create(user=user)
    before = {"own_activity_email": prefs.own_activity_email, "launched_revocation_email": prefs.launched_revocation_email}
    if own_activity_email is not None:
        prefs.own_activity_email = bool(own_activity_email)
    if launched_revocation_email is not None:
        prefs.launched_revocation_email = bool(launched_revocation_email)
    prefs.save()
    after = {"own_activity_email": prefs.own_activity_email, "launched_revocation_email": prefs.launched_revocation_email}
    if after != before:
        audit_record(actor=user, action="notification_settings.update", target=prefs, before=before, after=after)
    return prefs


@transaction.atomic
def unsubscribe_apply(*, token: str) -> str:
    """Follow an email's unsubscribe link (no login: the signed token is the credential).
    Returns what was switched off. 400 for a bad token; a second use changes nothing."""
    data = unsubscribe_token_read(token)
    if data is None:
        raise InvalidInput("this unsubscribe link is not valid", code="invalid_token")
    if data.kind == "sub":
        sub = Subscription.objects.select_for_update().filter(pk=data.subscription_id, user_id=data.user_id).first()
        if sub is None:
            return "that subscription no longer exists"
        user = sub.user
        before = _subscription_view(sub)
        if sub.webhook_id:  # the webhook channel stays: only the emails stop
            sub.email = False
            sub.save(update_fields=["email", "updated_at"])
            audit_record(actor=user, action="subscription.unsubscribe", target=sub, before=before,
                         after=_subscription_view(sub))
            return f"emails from your subscription to {sub.target_label} (its webhook still receives events)"
        label = sub.target_label
        audit_record(actor=user, action="subscription.unsubscribe", target=sub, before=before)
        sub.delete()
        return f"your subscription to {label}"
    prefs, _ = NotificationSettings.objects.select_for_update().get_or_create(user_id=data.user_id)
    field = "own_activity_email" if data.kind == "own" else "launched_revocation_email"
    if getattr(prefs, field):
        setattr(prefs, field, False)
        prefs.save(update_fields=[field, "updated_at"])
        audit_record(actor=prefs.user, action="notification_settings.update", target=prefs,
                     before={field: True}, after={field: False}, reason="unsubscribe link")
    return ("emails about your own AMIs and reviews" if data.kind == "own"
            else "revocation notices for AMIs you launched")


# --- webhooks ------------------------------------------------------------------------------------

def _clean_webhook_fields(*, name=None, url=None) -> dict:
    out = {}
    if name is not None:
        name = str(name).strip()
        if not name or len(name) > NAME_MAX or "\x00" in name:
            raise InvalidInput(f"name: 1 to {NAME_MAX} characters", errors={"name": [f"1 to {NAME_MAX} characters."]})
        out["name"] = name
    if url is not None:
        url = str(url).strip()
        problem = "longer than 2000 characters" if len(url) > URL_MAX else ("contains a NUL character"
                                                                           if "\x00" in url else http.url_problem(url))
        if problem:
            raise InvalidInput(f"url: {problem}", errors={"url": [problem[0].upper() + problem[1:] + "."]})
        out["url"] = url
    return out


def _webhook_view(hook: Webhook) -> dict:
    return {"name": hook.name, "url": hook.url, "is_active": hook.is_active, "owner": hook.owner_label}


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def webhook_create(*, user, name: str, url: str, community: Community | None = None) -> Webhook:
    """A new endpoint for ``user`` (or for ``community``, which they must manage), with a fresh
    secret. The URL is checked now for form and literal addresses; host names at every delivery."""
    _require_user(user)
    if community is not None and not community_webhooks_manageable(community=community, user=user):
        raise Forbidden("only the community's admins and moderators manage its webhooks")
    fields = _clean_webhook_fields(name=name, url=url)
    hook = Webhook(owner_user=None if community else user, owner_community=community, secret=_new_secret(),
                   created_by=user, **fields)
    hook.save()
    audit_record(actor=user, action="webhook.create", target=hook, after=_webhook_view(hook))
    return hook


@transaction.atomic
def webhook_update(*, webhook: Webhook, user, name=None, url=None, is_active: bool | None = None) -> Webhook:
    """Rename, re-point, disable or re-enable an endpoint. Re-enabling clears the failure count."""
    hook = _locked_manageable(webhook, user)
    before = _webhook_view(hook)
    for key, value in _clean_webhook_fields(name=name, url=url).items():
        setattr(hook, key, value)
    if is_active is not None:
        _set_active(hook, bool(is_active), by=user)
    hook.save()
    after = _webhook_view(hook)
    if after != before:
        audit_record(actor=user, action="webhook.update", target=hook, before=before, after=after)
    return hook


def _set_active(hook: Webhook, active: bool, *, by) -> None:
    if active == hook.is_active:
        return
    hook.is_active = active
    if active:  # a fresh start: the count, the reason and the "disabled" notice
        hook.consecutive_failures, hook.disabled_at, hook.disabled_reason = 0, None, ""
        hook.disabled_notice_at = None
    else:
        hook.disabled_at, hook.disabled_reason = timezone.now(), f"disabled by {by.get_username()}"


@transaction.atomic
def webhook_moderate(*, webhook: Webhook, moderator, is_active: bool) -> Webhook:
    """A moderator switches any endpoint off (an abusive or broken receiver) or on again (admin)."""
    if not is_moderator(moderator):
        raise Forbidden("only moderators may do this")
    hook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    before = _webhook_view(hook)
    _set_active(hook, bool(is_active), by=moderator)
    hook.save()
    if _webhook_view(hook) != before:
        audit_record(actor=moderator, action="webhook.moderate", target=hook, before=before,
                     after=_webhook_view(hook))
    return hook


@transaction.atomic
def webhook_secret_rotate(*, webhook: Webhook, user) -> Webhook:
    """A new signing secret; the old one stops working at once."""
    hook = _locked_manageable(webhook, user)
    hook.secret = _new_secret()
    hook.save(update_fields=["secret", "updated_at"])
    audit_record(actor=user, action="webhook.secret_rotate", target=hook)
    return hook


@transaction.atomic
def webhook_delete(*, webhook: Webhook, user) -> None:
    hook = _locked_manageable(webhook, user)
    audit_record(actor=user, action="webhook.delete", target=hook, before=_webhook_view(hook))
    hook.delete()


@transaction.atomic
def webhook_test_send(*, webhook: Webhook, user) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to the endpoint (tried once, also when it is disabled, and
    never counted against it). The delivery shows in the endpoint's log."""
    hook = _locked_manageable(webhook, user)
    event = webhook_test_event(webhook=hook, user=user)
    delivery = WebhookDelivery.objects.create(webhook=hook, event=event, is_test=True)
    delivery_id = delivery.pk
    transaction.on_commit(lambda: webhook_deliver_task.delay(delivery_id))
    return delivery


def _locked_manageable(webhook: Webhook, user) -> Webhook:
    _require_user(user)
    if webhook_get_manageable(user=user, webhook_id=webhook.pk) is None:
        raise NotFound("webhook not found")
    # of=self: the owner joins are outer joins, which PostgreSQL cannot lock.
    return (Webhook.objects.select_for_update(of=("self",)).select_related("owner_user", "owner_community")
            .get(pk=webhook.pk))
