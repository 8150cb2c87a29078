"""Sharing grants (table ``ami_sharing``): to AWS accounts, organizations, OUs, users, communities."""
from django.conf import settings
from django.db import models
from django.db.models import Q


class Share(models.Model):
    class GranteeType(models.TextChoices):
        ACCOUNT = "account", "AWS account"
        ORGANIZATION = "organization", "AWS organization"
        ORGANIZATIONAL_UNIT = "organizational_unit", "AWS organizational unit"
        USER = "user", "Registry user"
        COMMUNITY = "community", "Community"

    class Permission(models.TextChoices):
        LAUNCH = "launch", "Launch"
        LAUNCH_AND_COPY = "launch_and_copy", "Launch and copy (snapshot volume permission)"

    class SyncState(models.TextChoices):
        PENDING = "pending", "Pending"
        SYNCED = "synced", "Synced"
        FAILED = "failed", "Failed"
        REMOVING = "removing", "Removing"

    AWS_GRANTEE_TYPES = (GranteeType.ACCOUNT, GranteeType.ORGANIZATION, GranteeType.ORGANIZATIONAL_UNIT)

    ami = models.ForeignKey("amis.AMI", on_delete=models.CASCADE, related_name="shares")
    grantee_type = models.CharField(max_length=32, choices=GranteeType.choices)
    grantee = models.CharField(max_length=255)
    # Resolved targets for registry-side grants (visibility joins on these, not on the text).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="ami_shares_received")
    community = models.ForeignKey("registry.Community", null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="ami_shares")
    permission = models.CharField(max_length=20, choices=Permission.choices, default=Permission.LAUNCH)
    sync_state = models.CharField(max_length=20, choices=SyncState.choices, default=SyncState.PENDING)
    sync_error = models.TextField(blank=True, default="")
    synced_regions = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ami_sharing"
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["ami", "grantee_type", "grantee"], name="share_unique_grant"),
            models.CheckConstraint(condition=Q(grantee_type__in=["account", "organization", "organizational_unit",
                                                                 "user", "community"]),
                                   name="share_grantee_type_valid"),
            models.CheckConstraint(condition=Q(sync_state__in=["pending", "synced", "failed", "removing"]),
                                   name="share_sync_state_valid"),
            # A user grant names a user; a community grant names a community; AWS grants neither.
            models.CheckConstraint(
                condition=(Q(grantee_type="user", user__isnull=False, community__isnull=True)
                           | Q(grantee_type="community", community__isnull=False, user__isnull=True)
                           | Q(grantee_type__in=["account", "organization", "organizational_unit"],
                               user__isnull=True, community__isnull=True)),
                name="share_target_matches_type"),
        ]
        indexes = [
            models.Index(fields=["user"], name="share_user_idx"),
            models.Index(fields=["community"], name="share_community_idx"),
        ]

    def __str__(self):
        return f"{self.grantee_type}:{self.grantee} → {self.ami_id}"
