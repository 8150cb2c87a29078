"""Read queries for notifications. Who may see or manage what is decided here, once.

- A subscription is its user's alone.
- A user's webhook is managed by that user; a community's by its admins and by moderators
  (the same rule as the community's policy: ``amis.policy.community_policy_editable_by``).
"""
from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from notifications.models import NotificationSettings, Subscription, Webhook, WebhookAttempt, WebhookDelivery
from registry.models import Community, CommunityMembership
from registry.permissions import is_moderator
from amis.policy import community_policy_editable_by


def subscription_list_for(*, user) -> QuerySet[Subscription]:
    return (Subscription.objects.filter(user=user).select_related("template", "ami", "webhook")
            .order_by("-created_at", "-id"))


def subscription_get_for(*, user, subscription_id) -> Subscription | None:
    return subscription_list_for(user=user).filter(pk=subscription_id).first() if str(subscription_id).isdigit() \
        else None


def communities_managed_by(*, user) -> QuerySet[Community]:
    """Communities whose webhooks ``user`` manages (moderators: every community)."""
    if not user.is_authenticated:
        return Community.objects.none()
    if is_moderator(user):
        return Community.objects.all().order_by("slug")
    return Community.objects.filter(memberships__user=user,
                                    memberships__role=CommunityMembership.Role.ADMIN).distinct().order_by("slug")


def community_webhooks_manageable(*, community: Community, user) -> bool:
    return community_policy_editable_by(community, user)


def webhook_list_manageable_by(*, user) -> QuerySet[Webhook]:
    """The caller's own endpoints and those of the communities they manage."""
    if not user.is_authenticated:
        return Webhook.objects.none()
    own = Q(owner_user=user)
    if is_moderator(user):
        own |= Q(owner_community__isnull=False)
    else:
        own |= Q(owner_community__in=communities_managed_by(user=user))
    return Webhook.objects.filter(own).select_related("owner_user", "owner_community").order_by("name", "id")


def webhook_get_manageable(*, user, webhook_id) -> Webhook | None:
    if not str(webhook_id).isdigit():
        return None
    return webhook_list_manageable_by(user=user).filter(pk=webhook_id).first()


def delivery_list_for(*, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery log, newest first, each with its attempts (2 queries a page)."""
    return (WebhookDelivery.objects.filter(webhook=webhook).select_related("event")
            .prefetch_related(Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number")))
            .order_by("-created_at", "-id"))


def notification_settings_for(*, user) -> NotificationSettings:
    """The user's switches (defaults, unsaved, when they never changed them)."""
    return NotificationSettings.objects.filter(user=user).first() or NotificationSettings(user=user)
