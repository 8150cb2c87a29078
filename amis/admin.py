from django.contrib import admin, messages

from amis import services
from amis.models import AMI, AMIRegion, AMISignature, Download, Operation, ScanException, ScanResult
from amis.ownership import ami_owner_account_verified_by
from amis.scanner import ami_scan_request, scan_exception_create, scan_exception_default_expiry
from registry.admin_actions import reason_action
from registry.admin_site import ModeratorAdmin
from registry.errors import ApplicationError
from registry.permissions import is_moderator


class AMIRegionInline(admin.TabularInline):
    model = AMIRegion
    extra = 0
    fields = ["region", "image_id", "state", "is_source", "copied_from", "last_tested", "error"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        # Moderators hold no Django model permissions: visibility follows the moderator rule.
        return is_moderator(request.user)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AMISignatureInline(_ReadOnlyInline):
    """Who signed the image, with which key, and the verification outcome (trust & compliance)."""

    model = AMISignature
    fields = readonly_fields = ["verified_at", "signer_username", "key_fingerprint", "valid", "failure_code",
                                "failure_reason"]
    max_num = 10


class ScanResultInline(_ReadOnlyInline):
    """What the scanner found (newest first)."""

    model = ScanResult
    fields = readonly_fields = ["scanned_at", "status", "security_score", "findings", "scanners", "error"]
    max_num = 5


class ScanExceptionInline(_ReadOnlyInline):
    model = ScanException
    fields = readonly_fields = ["created_at", "created_by_username", "reason", "expires_at"]


def _scan_exception(ami, user, reason):
    return scan_exception_create(ami=ami, moderator=user, reason=reason, expires_at=scan_exception_default_expiry())


@admin.register(AMI)
class AMIAdmin(ModeratorAdmin):
    list_display = ["name", "ami_id", "source_region", "template", "creator", "status", "visibility", "verified",
                    "scan_status", "rating_avg", "rating_count", "download_count", "created_at"]
    list_filter = ["status", "visibility", "verified", "scan_status", "category", "architecture"]
    search_fields = ["name", "ami_id", "creator__username", "regions__image_id"]
    list_select_related = ["template", "creator"]
    inlines = [AMIRegionInline, AMISignatureInline, ScanResultInline, ScanExceptionInline]
    # Lifecycle fields change only through services (actions), never by editing the form.
    readonly_fields = ["id", "ami_id", "source_region", "status", "status_reason", "creator", "owner_account_id",
                       "owner_account_verified_by",
                       "architecture", "platform", "image_name", "image_creation_date", "root_snapshot_ids",
                       "size_gb", "verified", "signature_valid", "scan_status", "security_score", "rating_avg",
                       "rating_count", "rating_sum", "download_count", "submitted_at", "approved_at", "approved_by",
                       "deprecated_at", "revoked_at", "created_at", "updated_at", "replacement",
                       "ena_support", "boot_mode", "imds_support"]
    @admin.display(description="owner account verified by")
    def owner_account_verified_by(self, obj):
        # The moderator checks whose AWS account the submission is in (None: claimed by tag).
        return ami_owner_account_verified_by(obj) or "— (claim tag or the registry's own)"

    actions = ["approve",
               reason_action(name="reject", description="Reject selected AMIs", submit_label="Reject",
                             service=lambda ami, user, reason: services.ami_reject(ami=ami, moderator=user,
                                                                                  reason=reason)),
               reason_action(name="revoke", description="Revoke selected AMIs", submit_label="Revoke",
                             service=lambda ami, user, reason: services.ami_revoke(ami=ami, moderator=user,
                                                                                  reason=reason)),
               # Trust & compliance: a failed scan blocks approval unless an exception is recorded.
               reason_action(name="scan_exception", submit_label="Record exception",
                             description="Allow approval despite a failed scan (30 days)", service=_scan_exception),
               "scan_now"]

    @admin.action(description="Scan selected AMIs now", permissions=["moderate"])
    def scan_now(self, request, queryset):
        for ami in queryset:
            ami_scan_request(ami=ami, user=request.user)
        self.message_user(request, f"Queued {queryset.count()} scan(s).", messages.SUCCESS)

    @admin.action(description="Approve selected AMIs", permissions=["moderate"])
    def approve(self, request, queryset):
        done = 0
        for ami in queryset:
            try:
                services.ami_approve(ami=ami, moderator=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{ami}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"Approved {done} AMI(s).", messages.SUCCESS)


@admin.register(Operation)
class OperationAdmin(ModeratorAdmin):
    list_display = ["id", "kind", "state", "progress", "region", "image_id", "created_by", "created_at", "finished_at"]
    list_filter = ["kind", "state", "region"]
    search_fields = ["image_id", "instance_id", "source_image_id"]
    list_select_related = ["created_by"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(Download)
class DownloadAdmin(ModeratorAdmin):
    list_display = ["ami", "region", "user", "client", "at"]
    list_filter = ["region"]
    list_select_related = ["ami", "user"]
    raw_id_fields = ["ami", "user"]

    def has_change_permission(self, request, obj=None):
        return False
