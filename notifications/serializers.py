"""Output serializers of the notifications API (inputs live on their views)."""
from rest_framework import serializers

from notifications.models import NotificationSettings, Subscription, Webhook, WebhookAttempt, WebhookDelivery


class SubscriptionOutputSerializer(serializers.ModelSerializer):
    template = serializers.SerializerMethodField()
    ami = serializers.SerializerMethodField()
    webhook = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    event_types = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Subscription
        fields = ["id", "target_type", "template", "ami", "lineage_key", "event_types", "email", "webhook",
                  "created_at", "updated_at"]
        read_only_fields = fields

    def get_template(self, sub) -> dict | None:
        return {"slug": sub.template.slug, "name": sub.template.name} if sub.template_id else None

    def get_ami(self, sub) -> dict | None:
        return {"id": str(sub.ami.pk), "ami_id": sub.ami.ami_id, "name": sub.ami.name} if sub.ami_id else None


class WebhookOutputSerializer(serializers.ModelSerializer):
    owner_type = serializers.SerializerMethodField()
    community = serializers.SlugRelatedField(source="owner_community", slug_field="slug", read_only=True,
                                             allow_null=True)
    secret_hint = serializers.CharField(read_only=True, help_text="The secret's last characters.")

    class Meta:
        model = Webhook
        fields = ["id", "name", "url", "owner_type", "community", "is_active", "consecutive_failures",
                  "disabled_at", "disabled_reason", "last_delivery_at", "secret_hint", "created_at", "updated_at"]
        read_only_fields = fields

    def get_owner_type(self, hook) -> str:
        return "community" if hook.owner_community_id else "user"


class WebhookWithSecretOutputSerializer(WebhookOutputSerializer):
    """Only in the answers to create and rotate-secret: the one time the API shows the secret."""

    secret = serializers.CharField(read_only=True, help_text="HMAC-SHA256 key of the X-Registry-Signature header.")

    class Meta(WebhookOutputSerializer.Meta):
        fields = WebhookOutputSerializer.Meta.fields + ["secret"]
        read_only_fields = fields


class WebhookAttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "url", "status_code", "latency_ms", "response_excerpt", "error", "succeeded", "at"]
        read_only_fields = fields


class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.pk", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    occurred_at = serializers.DateTimeField(source="event.occurred_at", read_only=True)
    attempt_log = WebhookAttemptOutputSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "occurred_at", "is_test", "state", "attempts", "next_attempt_at",
                  "last_status_code", "last_error", "created_at", "finished_at", "attempt_log"]
        read_only_fields = fields


class NotificationSettingsOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = NotificationSettings
        fields = ["own_activity_email", "launched_revocation_email"]
        read_only_fields = fields
