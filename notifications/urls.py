"""REST routes of notifications, mounted under /api/v1/ by registry/urls.py."""
from django.urls import path

from notifications import api

urlpatterns = [
    path("notifications/event-types", api.EventTypeListApi.as_view(), name="notification-event-types"),
    path("me/notifications", api.NotificationSettingsApi.as_view(), name="notification-settings"),
    path("subscriptions/", api.SubscriptionListCreateApi.as_view(), name="subscription-list"),
    path("subscriptions/<int:id>", api.SubscriptionDetailApi.as_view(), name="subscription-detail"),
    path("webhooks/", api.WebhookListCreateApi.as_view(), name="webhook-list"),
    path("webhooks/<int:id>", api.WebhookDetailApi.as_view(), name="webhook-detail"),
    path("webhooks/<int:id>/test", api.WebhookTestApi.as_view(), name="webhook-test"),
    path("webhooks/<int:id>/rotate-secret", api.WebhookSecretRotateApi.as_view(), name="webhook-rotate-secret"),
    path("webhooks/<int:id>/deliveries/", api.WebhookDeliveryListApi.as_view(), name="webhook-deliveries"),
]
