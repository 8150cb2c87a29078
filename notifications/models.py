"""Notifications: what happened (events), who asked to hear about it (subscriptions), where to
tell them (webhooks, email) and what was sent (deliveries, attempts, emails).

An ``Event`` is made from one committed audit event (or a webhook test) and frozen: every
delivery and retry of it carries the same CloudEvent id and data. Deliveries are unique per
(event, webhook) and emails per (event, user), so a redelivered fan-out task sends nothing twice.
"""
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from notifications.event_types import EventType


class Event(models.Model):
    """One notification-worthy event (a CloudEvent), frozen when it is fanned out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False,
                          help_text="The CloudEvent id: the same on every delivery and retry.")
    type = models.CharField(max_length=40, choices=EventType.choices)
    # One event per audit event: the idempotency key of the fan-out. Null for webhook tests.
    # NOTE: no foreign key — the audit log is append-only and pruned by its own retention job.
    audit_event_id = models.BigIntegerField(null=True, blank=True, unique=True)
    # SET_NULL: the event (and its delivery log) outlives a deleted draft entry.
    ami = models.ForeignKey("amis.AMI", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    template_id_at_event = models.BigIntegerField(null=True, blank=True,
                                                  help_text="The AMI's template when the event happened.")
    # Versions/channels plug in here: an opaque key (publisher/template), no foreign key yet.
    lineage_key = models.CharField(max_length=200, blank=True, default="")
    subject = models.CharField(max_length=200, blank=True, default="", help_text="CloudEvent subject.")
    data = models.JSONField(default=dict, blank=True, help_text="CloudEvent data (frozen).")
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "notification_events"
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["type", "-occurred_at"], name="notif_event_type_idx"),
                   models.Index(fields=["ami", "-occurred_at"], name="notif_event_ami_idx")]

    def __str__(self):
        return f"{self.type} {self.subject} ({self.pk})"


class NotificationSettings(models.Model):
    """Per-user switches for the notifications nobody subscribes to (own activity, revocations)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_settings")
    own_activity_email = models.BooleanField(
        default=True, help_text="Email me about my own AMIs and reviews (approved, rejected, hidden, ...).")
    launched_revocation_email = models.BooleanField(
        default=True, help_text="Email me when an AMI I recorded a launch of is revoked.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "notification_settings"
        verbose_name_plural = "notification settings"

    def __str__(self):
        return f"notification settings of {self.user_id}"


class Webhook(models.Model):
    """An HTTPS endpoint that receives signed CloudEvents, owned by a user or by a community."""

    # CASCADE: a user's endpoints go with the account; a community's with the community.
    owner_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="webhooks")
    owner_community = models.ForeignKey("registry.Community", null=True, blank=True, on_delete=models.CASCADE,
                                        related_name="webhooks")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000)
    # The HMAC key; needed in clear text to sign. Shown to its managers only.
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True, default="")
    # Set when the "your webhook was disabled" email has been queued (so it goes out once).
    disabled_notice_at = models.DateTimeField(null=True, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "notification_webhooks"
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=(Q(owner_user__isnull=False, owner_community__isnull=True)
                                              | Q(owner_user__isnull=True, owner_community__isnull=False)),
                                   name="webhook_one_owner"),
        ]
        indexes = [models.Index(fields=["owner_user"], name="webhook_owner_user_idx"),
                   models.Index(fields=["owner_community"], name="webhook_owner_community_idx")]

    def __str__(self):
        return f"{self.name} ({self.owner_label})"

    @property
    def owner_label(self) -> str:
        if self.owner_community_id:
            return f"community {self.owner_community.slug}"
        return f"user {self.owner_user.get_username()}" if self.owner_user_id else "nobody"

    @property
    def secret_hint(self) -> str:
        return f"…{self.secret[-4:]}" if self.secret else ""


class Subscription(models.Model):
    """A user asks to hear about events of one target (a template, an AMI, a lineage)."""

    class TargetType(models.TextChoices):
        TEMPLATE = "template", "Template"
        AMI = "ami", "AMI"
        LINEAGE = "lineage", "Lineage"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    target_type = models.CharField(max_length=20, choices=TargetType.choices)
    template = models.ForeignKey("templates.Template", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+")
    ami = models.ForeignKey("amis.AMI", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    lineage_key = models.CharField(max_length=200, blank=True, default="")
    # A list of EventType values. JSON, not an array column: the embedded SQLite demo must work.
    event_types = models.JSONField(default=list)
    email = models.BooleanField(default=True)
    # SET_NULL: deleting an endpoint keeps the subscription's email channel.
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="subscriptions")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "notification_subscriptions"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(target_type__in=["template", "ami", "lineage"]),
                                   name="subscription_target_type_valid"),
            models.CheckConstraint(
                condition=(Q(target_type="template", template__isnull=False, ami__isnull=True, lineage_key="")
                           | Q(target_type="ami", ami__isnull=False, template__isnull=True, lineage_key="")
                           | (Q(target_type="lineage", ami__isnull=True, template__isnull=True)
                              & ~Q(lineage_key=""))),
                name="subscription_target_matches_type"),
        ]
        indexes = [models.Index(fields=["ami"], name="subscription_ami_idx"),
                   models.Index(fields=["template"], name="subscription_template_idx"),
                   models.Index(fields=["lineage_key"], name="subscription_lineage_idx"),
                   models.Index(fields=["user", "-created_at"], name="subscription_user_idx")]

    def __str__(self):
        return f"{self.user_id} → {self.target_type} {self.target_label}"

    @property
    def target_label(self) -> str:
        if self.target_type == self.TargetType.TEMPLATE and self.template_id:
            return self.template.slug
        if self.target_type == self.TargetType.AMI and self.ami_id:
            return self.ami.name
        return self.lineage_key


class WebhookDelivery(models.Model):
    """One event to one endpoint, tried up to ``REGISTRY_WEBHOOK_MAX_ATTEMPTS`` times."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    is_test = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker claims the row for the length of one attempt (redelivered messages then wait).
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "notification_webhook_deliveries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "webhook"], name="webhook_delivery_once"),
            models.CheckConstraint(condition=Q(state__in=["pending", "retrying", "succeeded", "failed"]),
                                   name="webhook_delivery_state_valid"),
        ]
        indexes = [models.Index(fields=["webhook", "-created_at"], name="webhook_delivery_log_idx"),
                   models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due_idx")]

    def __str__(self):
        return f"{self.event.type} → {self.webhook_id}: {self.state}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what the endpoint answered, and how fast."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    url = models.URLField(max_length=2000)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    succeeded = models.BooleanField(default=False)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "notification_webhook_attempts"
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_once")]

    def __str__(self):
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error[:40]}"


class EmailNotification(models.Model):
    """One email about one event to one user (whatever made them a recipient)."""

    class Reason(models.TextChoices):
        OWNER = "owner", "You own this AMI"
        REVIEW_AUTHOR = "review_author", "You wrote this review"
        LAUNCHED = "launched", "You recorded a launch of this AMI"
        SUBSCRIPTION = "subscription", "You subscribed"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="emails")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    subscription = models.ForeignKey(Subscription, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "notification_emails"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="notification_email_once"),
            models.CheckConstraint(condition=Q(state__in=["pending", "sent", "failed"]),
                                   name="notification_email_state_valid"),
            models.CheckConstraint(condition=Q(reason__in=["owner", "review_author", "launched", "subscription"]),
                                   name="notification_email_reason_valid"),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="notification_email_due_idx")]

    def __str__(self):
        return f"{self.event.type} → {self.user_id}: {self.state}"
