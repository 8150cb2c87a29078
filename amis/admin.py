from datetime import timedelta

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from amis import services
from amis.models import AMI, AMIRegion, AMISignature, Download, Operation, ScanException, ScanResult
from amis.ownership import ami_owner_account_verified_by
from amis.scanner import ami_scan_request, finding_explain, scan_exception_create, scan_exception_default_expiry
from amis.selectors import SCAN_EXCEPTION_EXPIRY_WARNING_DAYS
from registry.admin_actions import ReasonForm, done_message, reason_action
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
    fields = readonly_fields = ["scanned_at", "status", "security_score", "findings_list", "scanners", "error"]
    max_num = 5

    @admin.display(description="findings")
    def findings_list(self, obj):
        findings = [finding_explain(f) for f in obj.findings or []]
        if not findings:
            return "None: every check passed."
        return format_html("<ul style='margin:0;padding-left:1.2em'>{}</ul>", format_html_join(
            "", "<li><strong>{}</strong> ({}, {}): {} <code>{}</code></li>",
            ((f["title"], f["severity"], f["effect"], f["message"], f["id"]) for f in findings)))


class ScanExceptionInline(_ReadOnlyInline):
    model = ScanException
    fields = readonly_fields = ["created_at", "created_by_username", "reason", "expires_at"]


def _scan_exception(ami, user, reason):
    return scan_exception_create(ami=ami, moderator=user, reason=reason, expires_at=scan_exception_default_expiry())


# The lifecycle buttons of one AMI's admin page: (url name suffix, label, statuses it applies to).
_AMI_BUTTONS = (("approve", "Approve", (AMI.Status.PENDING_REVIEW,)),
                ("reject", "Reject…", (AMI.Status.PENDING_REVIEW,)),
                ("revoke", "Revoke…", (AMI.Status.APPROVED, AMI.Status.DEPRECATED)))


@admin.register(AMI)
class AMIAdmin(ModeratorAdmin):
    # Few, short columns: readable without scrolling sideways at 1280 px.
    list_display = ["name_and_id", "status", "visibility", "scan", "creator_name", "rating", "created_at"]
    list_filter = ["status", "visibility", "verified", "scan_status", "category", "architecture"]
    search_fields = ["name", "ami_id", "creator__username", "regions__image_id"]
    list_select_related = ["template", "creator"]
    change_form_template = "admin/amis/ami/change_form.html"
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
                             verb="Rejected", noun="AMI",
                             service=lambda ami, user, reason: services.ami_reject(ami=ami, moderator=user,
                                                                                  reason=reason)),
               reason_action(name="revoke", description="Revoke selected AMIs", submit_label="Revoke",
                             verb="Revoked", noun="AMI",
                             service=lambda ami, user, reason: services.ami_revoke(ami=ami, moderator=user,
                                                                                  reason=reason)),
               # Trust & compliance: a failed scan blocks approval unless an exception is recorded.
               reason_action(name="scan_exception", submit_label="Record exception", verb="Recorded an exception for",
                             noun="AMI", description="Allow approval despite a failed scan (30 days)",
                             service=_scan_exception),
               "scan_now"]

    @admin.display(description="AMI", ordering="name")
    def name_and_id(self, obj):
        return format_html("{}<br><span style='font-family:monospace;font-size:.85em'>{} · {}</span>",
                           obj.name, obj.ami_id, obj.source_region)

    @admin.display(description="scan", ordering="scan_status")
    def scan(self, obj):
        score = f" · {obj.security_score}/10" if obj.security_score is not None else ""
        trust = " · ✔ signed" if obj.verified else ""
        return f"{obj.get_scan_status_display()}{score}{trust}"

    @admin.display(description="creator", ordering="creator__username")
    def creator_name(self, obj):
        return obj.creator.get_username() if obj.creator_id else "deleted user"

    @admin.display(description="rating", ordering="rating_avg")
    def rating(self, obj):
        return f"{obj.rating_avg:.1f} ({obj.rating_count})" if obj.rating_count else "no ratings yet"

    @admin.action(description="Scan selected AMIs now", permissions=["moderate"])
    def scan_now(self, request, queryset):
        for ami in queryset:
            ami_scan_request(ami=ami, user=request.user)
        self.message_user(request, done_message("Queued a scan of", queryset.count(), "AMI"), messages.SUCCESS)

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
            self.message_user(request, done_message("Approved", done, "AMI"), messages.SUCCESS)

    # --- the buttons on one AMI's page: the same services as the API and the bulk actions --------

    def get_urls(self):
        return [path("<path:object_id>/moderate/<str:decision>/", self.admin_site.admin_view(self.moderate_view),
                     name="amis_ami_moderate")] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        ami = self.get_object(request, object_id)
        buttons = []
        if ami is not None and self.has_moderate_permission(request):
            buttons = [{"decision": d, "label": label,
                        "url": reverse("admin:amis_ami_moderate", args=[ami.pk, d])}
                       for d, label, statuses in _AMI_BUTTONS if ami.status in statuses]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}),
                                                                   "moderation_buttons": buttons})

    def moderate_view(self, request, object_id, decision):
        """Approve (POST), or reject/revoke: a reason form (GET), then the service (POST)."""
        if not self.has_moderate_permission(request) or decision not in {d for d, _l, _s in _AMI_BUTTONS}:
            return redirect("admin:index")
        ami = get_object_or_404(AMI, pk=object_id)
        change_url = reverse("admin:amis_ami_change", args=[ami.pk])
        if decision == "approve":
            if request.method == "POST":
                self._decide(request, ami, lambda: services.ami_approve(ami=ami, moderator=request.user), "Approved")
            return redirect(change_url)
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            service = services.ami_reject if decision == "reject" else services.ami_revoke
            verb = "Rejected" if decision == "reject" else "Revoked"
            self._decide(request, ami, lambda: service(ami=ami, moderator=request.user,
                                                       reason=form.cleaned_data["reason"]), verb)
            return redirect(change_url)
        return TemplateResponse(request, "admin/reason_action.html", {
            **self.admin_site.each_context(request), "title": f"{decision.capitalize()} this AMI", "object": ami,
            "form": form, "submit_label": decision.capitalize(), "opts": self.model._meta, "cancel_url": change_url,
            "form_action": request.path,
        })

    def _decide(self, request, ami, call, verb: str) -> None:
        try:
            call()
        except ApplicationError as exc:
            self.message_user(request, f"{ami}: {exc.message}", messages.ERROR)
        else:
            self.message_user(request, done_message(verb, 1, "AMI"), messages.SUCCESS)


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("soon", f"Within {SCAN_EXCEPTION_EXPIRY_WARNING_DAYS} days"), ("active", "Active"),
                ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "soon":
            return queryset.filter(expires_at__gt=now,
                                   expires_at__lte=now + timedelta(days=SCAN_EXCEPTION_EXPIRY_WARNING_DAYS))
        if self.value() == "active":
            return queryset.filter(expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(ScanException)
class ScanExceptionAdmin(ModeratorAdmin):
    """Read-only: exceptions are recorded through the audited service (the AMI's action or the API)."""

    list_display = ["ami_link", "reason", "expires_at", "created_by_username", "created_at"]
    list_filter = [ExpiryFilter]
    search_fields = ["ami__name", "ami__ami_id", "reason"]
    list_select_related = ["ami"]
    ordering = ["expires_at"]

    @admin.display(description="AMI", ordering="ami__name")
    def ami_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:amis_ami_change", args=[obj.ami_id]), obj.ami.name)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False


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
