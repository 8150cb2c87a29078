"""Admin: moderators read subscriptions, webhooks and the delivery/email logs; the only change
made here is enabling or disabling an endpoint, through the service (audited)."""
from django.contrib import admin

from notifications.models import EmailNotification, Event, Subscription, Webhook, WebhookAttempt, WebhookDelivery
from notifications.services import webhook_moderate
from registry.admin_site import ModeratorAdmin


class _ReadOnly(ModeratorAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(_ReadOnly):
    list_display = ["user", "target_type", "template", "ami", "lineage_key", "email", "webhook", "created_at"]
    list_filter = ["target_type", "email"]
    search_fields = ["user__username", "template__slug", "ami__name", "ami__ami_id", "lineage_key"]
    list_select_related = ["user", "template", "ami", "webhook"]


@admin.register(Webhook)
class WebhookAdmin(_ReadOnly):
    list_display = ["name", "url", "owner_user", "owner_community", "is_active", "consecutive_failures",
                    "last_delivery_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "url", "owner_user__username", "owner_community__slug"]
    list_select_related = ["owner_user", "owner_community"]
    exclude = ["secret"]  # the HMAC key stays with the endpoint's managers
    actions = ["disable", "enable"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "secret"]

    @admin.action(description="Disable selected webhooks", permissions=["moderate"])
    def disable(self, request, queryset):
        for hook in queryset:
            webhook_moderate(webhook=hook, moderator=request.user, is_active=False)
        self.message_user(request, f"{queryset.count()} webhook(s) disabled.")

    @admin.action(description="Enable selected webhooks (resets the failure count)", permissions=["moderate"])
    def enable(self, request, queryset):
        for hook in queryset:
            webhook_moderate(webhook=hook, moderator=request.user, is_active=True)
        self.message_user(request, f"{queryset.count()} webhook(s) enabled.")


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "at", "status_code", "latency_ms", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = ["created_at", "webhook", "event", "state", "attempts", "last_status_code", "is_test"]
    list_filter = ["state", "is_test"]
    search_fields = ["webhook__name", "webhook__url", "event__type"]
    list_select_related = ["webhook", "event"]
    inlines = [AttemptInline]


@admin.register(EmailNotification)
class EmailNotificationAdmin(_ReadOnly):
    list_display = ["created_at", "user", "event", "reason", "state", "attempts", "sent_at"]
    list_filter = ["state", "reason"]
    search_fields = ["user__username", "user__email", "event__type"]
    list_select_related = ["user", "event"]


@admin.register(Event)
class EventAdmin(_ReadOnly):
    list_display = ["occurred_at", "type", "subject", "audit_event_id", "fanned_out_at"]
    list_filter = ["type"]
    search_fields = ["subject", "lineage_key"]
    date_hierarchy = "occurred_at"
