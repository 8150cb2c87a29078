"""Site-wide data: communities (open communities and institutions) and the audit log."""
from django.conf import settings
from django.db import models


class Community(models.Model):
    """A group AMIs can be shared with. ``is_default`` communities include every user."""

    class Kind(models.TextChoices):
        OPEN = "open", "Open community"
        INSTITUTION = "institution", "Institution"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OPEN)
    # Every signed-in user is a member of a default community without a membership row.
    is_default = models.BooleanField(default=False)
    # Institution policy (amis.policy: which community AMIs members may get); an empty dict enforces nothing.
    policy = models.JSONField(default=dict, blank=True)
    # Optional IAM role in the institution's own AWS account, assumed (STS AssumeRole) to copy AMIs
    # into that account. Only the ARN is stored: credentials are short-lived and never persisted.
    aws_role_arn = models.CharField(max_length=2048, blank=True, default="")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="CommunityMembership",
                                     related_name="communities", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "registry_community"
        verbose_name_plural = "communities"
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=["open", "institution"]), name="community_kind_valid"),
        ]

    def __str__(self):
        return self.slug


class CommunityMembership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Admin"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="memberships")
    # Memberships go with the account: erasing a user leaves no trace of them here.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="community_memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "registry_community_membership"
        constraints = [
            models.UniqueConstraint(fields=["community", "user"], name="membership_unique_per_user"),
            models.CheckConstraint(condition=models.Q(role__in=["member", "admin"]), name="membership_role_valid"),
        ]

    def __str__(self):
        return f"{self.user_id}@{self.community_id} ({self.role})"


class AuditEvent(models.Model):
    """One append-only record of a state change that matters. Written only by registry.audit."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # SET_NULL: the record outlives the account; actor_username keeps who it was (or "deleted user").
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_username = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_repr = models.CharField(max_length=255, blank=True, default="")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "registry_audit_event"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_at_idx"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action} {self.target_repr}"


class PublisherKey(models.Model):
    """An Ed25519 public key a user signs AMI manifests with (amis.signatures verifies them).

    The key is stored in OpenSSH one-line form whatever format it was uploaded in, so the
    fingerprint (SHA256, OpenSSH style) is stable. Revoked keys stay (``revoked_at`` set) so old
    signatures keep a readable history and re-verification can say "revoked key".
    """

    # CASCADE: erasing an account deletes its keys (GDPR); signatures then report "key deleted".
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="publisher_keys")
    name = models.CharField(max_length=100, blank=True, default="")
    algorithm = models.CharField(max_length=20, default="ed25519")
    public_key = models.TextField(help_text="OpenSSH one-line form (ssh-ed25519 AAAA...).")
    fingerprint = models.CharField(max_length=64, help_text="SHA256:<base64, no padding>, as ssh-keygen -l prints.")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "registry_publisher_key"
        ordering = ["-created_at"]
        constraints = [
            # One live registration of a key per user; a revoked key may be registered again.
            models.UniqueConstraint(fields=["user", "fingerprint"], condition=models.Q(revoked_at__isnull=True),
                                    name="publisher_key_unique_active"),
            models.CheckConstraint(condition=models.Q(algorithm="ed25519"), name="publisher_key_algorithm_valid"),
        ]
        indexes = [models.Index(fields=["fingerprint"], name="publisher_key_fp_idx")]

    def __str__(self):
        return f"{self.fingerprint} ({self.user_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AwsAccountLink(models.Model):
    """An AWS account a user publishes from, reached through an IAM role they created for the registry.

    The registry assumes ``role_arn`` (STS AssumeRole with this link's ``external_id``, which the
    role's trust policy must require) for every AWS action on the user's images and instances in
    that account; the registry's own credentials act only for images the registry itself owns.
    ``verified_at`` is set once AssumeRole + GetCallerIdentity proved the role acts in
    ``account_id``; only then do images owned by the account count as the user's. An account is
    verified by one publisher at most (the partial unique constraint is the truth).
    """

    # CASCADE: erasing a user forgets their links; their entries then act nowhere until re-linked.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="aws_accounts")
    account_id = models.CharField(max_length=12)
    role_arn = models.CharField(max_length=2048)
    # Not a secret (AWS documents it as a confused-deputy guard), but unguessable per link, so no
    # other registry tenant can make us assume this role on their behalf.
    external_id = models.CharField(max_length=1224)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "registry_aws_account_link"
        ordering = ["account_id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "account_id"], name="aws_account_link_unique_per_user"),
            models.UniqueConstraint(fields=["account_id"], condition=models.Q(verified_at__isnull=False),
                                    name="aws_account_verified_once"),
            models.CheckConstraint(condition=models.Q(account_id__regex=r"^\d{12}$"),
                                   name="aws_account_link_account_id_valid"),
        ]

    def __str__(self):
        return f"{self.account_id} ({self.user_id})"

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class UserProfile(models.Model):
    """Per-user settings that are no part of Django's user: the default AWS region used when a
    request names none (``registry.regions.request_region``). A user without a row has defaults."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="registry_profile")
    default_region = models.CharField(max_length=32, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "registry_user_profile"

    def __str__(self):
        return f"profile of {self.user_id}"
