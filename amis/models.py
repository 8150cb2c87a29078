"""The catalogue: community AMIs, their regional copies, recorded downloads, async operations."""
import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from templates.validation import ARCHITECTURES


class AMI(models.Model):
    """One listed image (table ``ami_registry``). Counters are denormalised and kept exact by services."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_REVIEW = "pending_review", "Pending review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        DEPRECATED = "deprecated", "Deprecated"
        REVOKED = "revoked", "Revoked"

    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private"
        COMMUNITY = "community", "Community"
        PUBLIC = "public", "Public"

    # The architectures templates know (templates.validation, the one home of the list).
    Architecture = models.TextChoices("Architecture", [(a.upper(), (a, a)) for a in ARCHITECTURES])

    class ScanStatus(models.TextChoices):
        NOT_SCANNED = "not_scanned", "Not scanned"
        PENDING = "pending", "Pending"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ami_id = models.CharField(max_length=21, unique=True, help_text="Canonical AWS id (the source region's image).")
    source_region = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    # SET_NULL: deleting a template must not delete community AMIs built for it.
    template = models.ForeignKey("templates.Template", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="amis")
    version = models.CharField(max_length=50, blank=True, default="")
    category = models.CharField(max_length=100, blank=True, default="")
    architecture = models.CharField(max_length=10, choices=Architecture.choices, default=Architecture.X86_64)
    platform = models.CharField(max_length=20, blank=True, default="linux")
    tags = models.JSONField(default=dict, blank=True)
    # SET_NULL: erasing an account keeps (transferred or revoked) entries; the creator becomes unknown.
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="amis")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.PRIVATE)
    # Facts reported by AWS, never taken from the client.
    owner_account_id = models.CharField(max_length=12, blank=True, default="")
    image_name = models.CharField(max_length=255, blank=True, default="")
    image_creation_date = models.CharField(max_length=40, blank=True, default="")
    root_snapshot_ids = models.JSONField(default=list, blank=True)
    size_gb = models.PositiveIntegerField(null=True, blank=True)
    ena_support = models.BooleanField(null=True, blank=True)
    boot_mode = models.CharField(max_length=20, blank=True, default="")
    imds_support = models.CharField(max_length=20, blank=True, default="")
    # Trust.
    verified = models.BooleanField(default=False)
    signature_valid = models.BooleanField(null=True, blank=True)
    scan_status = models.CharField(max_length=20, choices=ScanStatus.choices, default=ScanStatus.NOT_SCANNED)
    security_score = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True,
                                         validators=[MinValueValidator(0), MaxValueValidator(10)])
    # Owner asked at create time for the image itself to be public in AWS (needs moderator approval).
    public_requested = models.BooleanField(default=False)
    # Denormalised aggregates (kept exact by ratings/amis services with row locks / F()).
    rating_avg = models.DecimalField(max_digits=3, decimal_places=2, default=0)
    rating_count = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    download_count = models.PositiveBigIntegerField(default=0)
    # Research metadata, set by the owner; every rule in ``amis.research``. ``doi`` is bare
    # (10.x/…) and indexed for ``?has_doi=``; the lists are [{name, orcid}], [{title, url, doi?}],
    # [{funder, award}].
    doi = models.CharField(max_length=255, blank=True, default="")
    authors = models.JSONField(default=list, blank=True)
    papers = models.JSONField(default=list, blank=True)
    datasets = models.JSONField(default=list, blank=True)
    notebooks = models.JSONField(default=list, blank=True)
    license = models.CharField(max_length=100, blank=True, default="", help_text="SPDX licence id.")
    funding = models.JSONField(default=list, blank=True)
    # Derived columns that make browsing independent of the catalogue's size. On PostgreSQL the
    # database keeps search_document (the weighted full-text document) and available_regions (the
    # regions with an available copy, sorted) current by triggers (amis/migrations/0005); the
    # ranking's function keeps best_score current (amis.ranking.best_score_refresh). On SQLite
    # (the demo fallback) they stay at their defaults and browsing computes on the fly.
    search_document = SearchVectorField(null=True, editable=False)
    available_regions = models.JSONField(default=list, blank=True, editable=False)
    best_score = models.FloatField(default=0.0, editable=False)
    # Changes whenever anything a listing shows of this entry changes — its own columns except
    # the counters (download_count, best_score), its copies, its template's or creator's name —
    # and never otherwise: the key of its cached representations (``amis.listing_cache``). Kept
    # by the database (amis/migrations/0007); whatever the application writes here is ignored.
    listing_version = models.BigIntegerField(default=0, db_default=0, editable=False)
    # Lifecycle bookkeeping.
    status_reason = models.TextField(blank=True, default="", help_text="Reason of the last reject/deprecate/revoke.")
    replacement = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces")
    # The line of images this entry is a version of (``version`` is then strict SemVer, unique in
    # the lineage and frozen once approved). PROTECT: a lineage with versions is never deleted.
    lineage = models.ForeignKey("amis.Lineage", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="versions")
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    deprecated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ami_registry"
        verbose_name = "AMI"
        verbose_name_plural = "AMIs"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["draft", "pending_review", "approved", "rejected",
                                                           "deprecated", "revoked"]), name="ami_status_valid"),
            models.CheckConstraint(condition=Q(visibility__in=["private", "community", "public"]),
                                   name="ami_visibility_valid"),
            models.CheckConstraint(condition=Q(architecture__in=list(ARCHITECTURES)), name="ami_architecture_valid"),
            models.CheckConstraint(condition=Q(scan_status__in=["not_scanned", "pending", "passed", "failed"]),
                                   name="ami_scan_status_valid"),
            models.CheckConstraint(condition=Q(rating_avg__gte=0) & Q(rating_avg__lte=5), name="ami_rating_avg_range"),
            models.CheckConstraint(condition=Q(ami_id__regex=r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$"),
                                   name="ami_ami_id_format"),
            # One entry per version of a lineage; a version of a lineage always has a version.
            models.UniqueConstraint(fields=["lineage", "version"], condition=Q(lineage__isnull=False),
                                    name="ami_lineage_version_unique"),
            models.CheckConstraint(condition=Q(lineage__isnull=True) | ~Q(version=""),
                                   name="ami_lineage_needs_version"),
        ]
        indexes = [
            models.Index(fields=["status", "visibility"], name="ami_status_vis_idx"),
            models.Index(fields=["category"], name="ami_category_idx"),
            models.Index(fields=["architecture"], name="ami_arch_idx"),
            models.Index(fields=["verified"], name="ami_verified_idx"),
            # One index per ordering the browse offers (amis.filters.ORDERINGS), tie-breakers
            # included, so page 1 of any order reads ~25 index entries whatever the size.
            models.Index(fields=["-rating_avg", "-rating_count", "-created_at", "id"], name="ami_rating_idx"),
            models.Index(fields=["-download_count", "-created_at", "id"], name="ami_downloads_idx"),
            models.Index(fields=["-created_at", "id"], name="ami_created_idx"),
            models.Index(fields=["-best_score", "-created_at", "id"], name="ami_best_idx"),
            models.Index(Lower("name"), "name", "id", name="ami_lower_name_idx"),
            models.Index(fields=["name"], name="ami_name_idx"),
            models.Index(fields=["doi"], name="ami_doi_idx", condition=~Q(doi="")),
        ]

    def __str__(self):
        return f"{self.name} ({self.ami_id})"


class Lineage(models.Model):
    """One publisher's line of images for a template ("genomics-pipeline by lab-x").

    Its versions are AMI entries (``AMI.lineage``); its channels point at some of them. The
    ``latest`` channel is managed (the newest approved version); the others are moved by the
    owner or a moderator (``amis.lineages.channel_move``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    # SET_NULL: erasing the publisher's account keeps the line (its versions are revoked or
    # transferred by the erasure); deleting a template keeps the community's images.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="lineages")
    template = models.ForeignKey("templates.Template", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="lineages")
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ami_lineages"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="lineage_owner_name_unique"),
            models.CheckConstraint(condition=Q(name__regex=r"^[a-z0-9][a-z0-9._-]{0,99}$"), name="lineage_name_format"),
        ]
        indexes = [models.Index(fields=["template"], name="lineage_template_idx")]

    def __str__(self):
        owner = self.owner.get_username() if self.owner_id else "(erased)"
        return f"{self.name} by {owner}"

    @property
    def key(self) -> str:
        """The lineage's key in audit events, notifications and subscriptions (stable across renames)."""
        return str(self.pk)


class Channel(models.Model):
    """A named pointer of a lineage at one of its approved versions (``ami`` null: empty)."""

    lineage = models.ForeignKey(Lineage, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=40)
    # PROTECT: a version a channel points at is approved, so never deleted (only drafts are).
    ami = models.ForeignKey(AMI, null=True, blank=True, on_delete=models.PROTECT, related_name="channels")
    managed = models.BooleanField(default=False, help_text="latest: moved by the registry, never by hand.")
    moved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ami_channels"
        ordering = ["lineage", "-managed", "name"]
        constraints = [
            models.UniqueConstraint(fields=["lineage", "name"], name="channel_lineage_name_unique"),
            models.CheckConstraint(condition=Q(name__regex=r"^[a-z][a-z0-9-]{0,39}$"), name="channel_name_format"),
            models.CheckConstraint(condition=Q(managed=False) | Q(name="latest"), name="channel_managed_is_latest"),
        ]

    def __str__(self):
        return f"{self.lineage.name}@{self.name}"


class ChannelMove(models.Model):
    """One move of a channel (history, append-only): from which version to which, by whom, why."""

    class Cause(models.TextChoices):
        MOVED = "moved", "Moved by hand"
        PUBLISHED = "published", "A newer version was approved"
        DEPRECATED = "deprecated", "The version was deprecated"
        REVOKED = "revoked", "The version was revoked"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="moves")
    from_ami = models.ForeignKey(AMI, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_ami = models.ForeignKey(AMI, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The versions as strings too: the history reads the same after an entry is gone.
    from_version = models.CharField(max_length=50, blank=True, default="")
    to_version = models.CharField(max_length=50, blank=True, default="")
    cause = models.CharField(max_length=20, choices=Cause.choices, default=Cause.MOVED)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    reason = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ami_channel_moves"
        ordering = ["-at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(cause__in=["moved", "published", "deprecated", "revoked"]),
                                   name="channel_move_cause_valid"),
        ]
        indexes = [models.Index(fields=["channel", "-at"], name="channel_move_channel_idx")]

    def __str__(self):
        return f"{self.channel}: {self.from_version or '(empty)'} → {self.to_version or '(empty)'}"


class AMIRegion(models.Model):
    """The image's copy in one region (table ``ami_regions``)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        AVAILABLE = "available", "Available"
        FAILED = "failed", "Failed"
        DEREGISTERED = "deregistered", "Deregistered"

    ami = models.ForeignKey(AMI, on_delete=models.CASCADE, related_name="regions")
    region = models.CharField(max_length=32)
    # The regional AWS image id (API field `ami_id`; named image_id here because `ami_id` is the
    # foreign key's column). Empty until AWS has answered CopyImage.
    image_id = models.CharField(max_length=21, blank=True, default="")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    is_source = models.BooleanField(default=False)
    copied_from = models.CharField(max_length=32, blank=True, default="")
    operation = models.ForeignKey("amis.Operation", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    error = models.TextField(blank=True, default="")
    last_tested = models.DateTimeField(null=True, blank=True)
    findings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ami_regions"
        ordering = ["region"]
        constraints = [
            models.UniqueConstraint(fields=["ami", "region"], name="ami_region_unique"),
            models.UniqueConstraint(fields=["image_id"], condition=~Q(image_id=""), name="ami_region_image_id_unique"),
            models.CheckConstraint(condition=Q(state__in=["pending", "available", "failed", "deregistered"]),
                                   name="ami_region_state_valid"),
        ]
        indexes = [
            models.Index(fields=["region", "state"], name="ami_region_state_idx"),
        ]

    def __str__(self):
        return f"{self.region}:{self.image_id or '(pending)'}"


class Download(models.Model):
    """One recorded launch/download (table ``ami_downloads``)."""

    ami = models.ForeignKey(AMI, on_delete=models.CASCADE, related_name="downloads")
    region = models.CharField(max_length=32, blank=True, default="")
    # SET_NULL: erasure de-links downloads but keeps the counts exact.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="ami_downloads")
    client = models.CharField(max_length=100, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ami_downloads"
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["ami", "at"], name="download_ami_at_idx"),
            models.Index(fields=["user", "ami"], name="download_user_ami_idx"),
            models.Index(fields=["at"], name="download_at_idx"),
        ]


class Launch(models.Model):
    """One workstation launch reported by a client (``amis.launches``): from an AMI or by script,
    how long it took and whether it worked. The success metrics (launch time, success rate, speed-up)
    are measured from these rows; ``Download`` stays the per-AMI counter."""

    class Method(models.TextChoices):
        AMI = "ami", "From an AMI"
        SCRIPT = "script", "Provisioned by script"

    # SET_NULL: the measurement outlives a deleted draft entry or template.
    ami = models.ForeignKey(AMI, null=True, blank=True, on_delete=models.SET_NULL, related_name="launches")
    template = models.ForeignKey("templates.Template", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    region = models.CharField(max_length=32)
    method = models.CharField(max_length=10, choices=Method.choices)
    resolution_method = models.CharField(max_length=32, blank=True, default="")
    instance_type = models.CharField(max_length=32, blank=True, default="")
    seconds = models.FloatField(null=True, blank=True, help_text="Until the workstation was ready, when measured.")
    succeeded = models.BooleanField(default=True)
    error = models.CharField(max_length=200, blank=True, default="")
    client = models.CharField(max_length=100, blank=True, default="")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ami_launches"
        ordering = ["-at"]
        constraints = [
            models.CheckConstraint(condition=Q(method__in=["ami", "script"]), name="launch_method_valid"),
            models.CheckConstraint(condition=Q(seconds__isnull=True) | Q(seconds__gte=0), name="launch_seconds_positive"),
        ]
        indexes = [models.Index(fields=["at"], name="launch_at_idx"),
                   models.Index(fields=["ami", "at"], name="launch_ami_at_idx")]


class DownloadDaily(models.Model):
    """Per-day download counts, kept when raw ``ami_downloads`` rows pass their retention."""

    ami = models.ForeignKey(AMI, on_delete=models.CASCADE, related_name="download_days")
    day = models.DateField()
    region = models.CharField(max_length=32, blank=True, default="")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "ami_downloads_daily"
        constraints = [models.UniqueConstraint(fields=["ami", "day", "region"], name="download_daily_unique")]


class Operation(models.Model):
    """An asynchronous AWS job (create, copy, share sync, scan, validate) and its progress."""

    class Kind(models.TextChoices):
        CREATE_IMAGE = "create_image", "Create image"
        COPY_IMAGE = "copy_image", "Copy image"
        SHARE_SYNC = "share_sync", "Share sync"
        SCAN = "scan", "Scan"
        VALIDATE = "validate", "Validate"
        DEPRECATE = "deprecate", "Deprecate"
        REVOKE = "revoke", "Revoke"
        DEREGISTER = "deregister", "Deregister"
        SSM_SYNC = "ssm_sync", "SSM parameters sync"
        SNAPSHOT = "snapshot", "Snapshot"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    # SET_NULL: the job history outlives a deleted draft entry.
    ami = models.ForeignKey(AMI, null=True, blank=True, on_delete=models.SET_NULL, related_name="operations")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    region = models.CharField(max_length=32, blank=True, default="")
    # AWS image produced or acted on (API field `ami_id`; `ami_id` is the foreign key's column).
    image_id = models.CharField(max_length=21, blank=True, default="", help_text="Image produced/acted on.")
    source_image_id = models.CharField(max_length=21, blank=True, default="")
    source_region = models.CharField(max_length=32, blank=True, default="")
    instance_id = models.CharField(max_length=19, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="operations")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ami_operations"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=["queued", "running", "succeeded", "failed"]),
                                   name="operation_state_valid"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="operation_progress_range"),
        ]
        indexes = [
            models.Index(fields=["state", "updated_at"], name="operation_state_idx"),
            models.Index(fields=["created_by", "-created_at"], name="operation_owner_idx"),
        ]

    def __str__(self):
        return f"{self.kind} {self.state} {self.region} ({self.pk})"


class SoftwareManifest(models.Model):
    """What the publisher declared about an image's software (``amis.software``): packages and
    facts (kernel, CUDA, driver, Python, R…). The effective manifest adds the template's packages
    underneath at read time, so a template edit shows without rewriting rows."""

    ami = models.OneToOneField(AMI, on_delete=models.CASCADE, related_name="software")
    # [{name, version, kind}], kind ∈ amis.software.KINDS; one entry per (kind, name).
    packages = models.JSONField(default=list, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=20, default="declared")  # declared | spdx | cyclonedx
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ami_software"
        constraints = [models.CheckConstraint(condition=Q(source__in=["declared", "spdx", "cyclonedx"]),
                                              name="ami_software_source_valid")]

    def __str__(self):
        return f"software of {self.ami_id} ({len(self.packages)} packages)"


class AMISignature(models.Model):
    """A publisher's signature over an AMI's canonical manifest, and the outcome of verifying it.

    One row per signature supplied (history kept); the AMI's ``verified``/``signature_valid`` mirror
    the newest row. The manifest stored is the one the server rebuilt from DescribeImages.
    """

    ami = models.ForeignKey(AMI, on_delete=models.CASCADE, related_name="signatures")
    # SET_NULL: erasing the signer deletes the key; the row keeps the fingerprint for the record.
    key = models.ForeignKey("registry.PublisherKey", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="signatures")
    key_fingerprint = models.CharField(max_length=64, blank=True, default="")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    signer_username = models.CharField(max_length=150, blank=True, default="")
    signature = models.TextField(help_text="Base64 Ed25519 signature (64 bytes) as supplied.")
    manifest = models.JSONField(default=dict, blank=True)
    valid = models.BooleanField(default=False)
    failure_code = models.CharField(max_length=40, blank=True, default="")
    failure_reason = models.TextField(blank=True, default="")
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ami_signatures"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["ami", "-created_at"], name="ami_signature_ami_idx")]

    def __str__(self):
        return f"signature of {self.ami_id} by {self.key_fingerprint or '?'} ({'valid' if self.valid else 'invalid'})"


class ScanResult(models.Model):
    """One security scan of an AMI: the findings of every registered scanner and the derived verdict."""

    class Status(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    ami = models.ForeignKey(AMI, on_delete=models.CASCADE, related_name="scan_results")
    operation = models.ForeignKey(Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    region = models.CharField(max_length=32, blank=True, default="")
    image_id = models.CharField(max_length=21, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices)
    security_score = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True,
                                         validators=[MinValueValidator(0), MaxValueValidator(10)])
    # [{id, severity, message, scanner}] — every check that did not pass.
    findings = models.JSONField(default=list, blank=True)
    checks = models.JSONField(default=list, blank=True, help_text="Ids of every check that ran.")
    scanners = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    scanned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ami_scan_results"
        ordering = ["-scanned_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["passed", "failed", "error"]),
                                   name="scan_result_status_valid"),
        ]
        indexes = [models.Index(fields=["ami", "-scanned_at"], name="scan_result_ami_idx")]

    def __str__(self):
        return f"scan of {self.ami_id}: {self.status} ({self.security_score})"


class ScanException(models.Model):
    """A moderator's time-limited permission to approve an AMI despite a failed scan (audited)."""

    ami = models.ForeignKey(AMI, on_delete=models.CASCADE, related_name="scan_exceptions")
    scan_result = models.ForeignKey(ScanResult, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_by_username = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ami_scan_exceptions"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="scan_exception_reason_required"),
        ]
        indexes = [models.Index(fields=["ami", "expires_at"], name="scan_exception_ami_idx")]

    def __str__(self):
        return f"scan exception for {self.ami_id} until {self.expires_at:%Y-%m-%d}"
