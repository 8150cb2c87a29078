"""Pages and feeds of notifications, mounted in the ``web`` namespace by registry/web_urls.py."""
from django.urls import path

from notifications import feeds, views

urlpatterns = [
    path("me/notifications/", views.notifications_home, name="notifications-home"),
    path("me/notifications/settings/", views.settings_save, name="notifications-settings"),
    path("me/notifications/subscriptions/", views.subscription_add, name="notifications-subscribe"),
    path("me/notifications/subscriptions/<int:sub_id>/delete/", views.subscription_remove,
         name="notifications-unsubscribe-one"),
    path("me/notifications/webhooks/new/", views.webhook_new, name="notifications-webhook-new"),
    path("me/notifications/webhooks/<int:webhook_id>/", views.webhook_detail, name="notifications-webhook"),
    path("me/notifications/webhooks/<int:webhook_id>/<slug:action>/", views.webhook_action,
         name="notifications-webhook-action"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe, name="notifications-unsubscribe"),
    path("feeds/approvals.atom", feeds.ApprovalsFeed(), name="feed-approvals"),
    path("feeds/templates/<str:ref>.atom", feeds.TemplateApprovalsFeed(), name="feed-template"),
    path("feeds/lineages/<uuid:lineage_id>.atom", feeds.LineageVersionsFeed(), name="feed-lineage"),
]
