from django.contrib import admin

from registry.admin_site import ModeratorAdmin
from registry.models import AuditEvent, AwsAccountLink, Community, CommunityMembership, PublisherKey


class MembershipInline(admin.TabularInline):
    model = CommunityMembership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Community)
class CommunityAdmin(ModeratorAdmin):
    list_display = ["slug", "name", "kind", "is_default"]
    # The policy changes through the audited API (PUT /api/v1/communities/{slug}/policy), not the form.
    readonly_fields = ["policy", "aws_role_arn"]
    list_filter = ["kind", "is_default"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(AuditEvent)
class AuditEventAdmin(ModeratorAdmin):
    """Read-only: the audit log is append-only everywhere."""

    list_display = ["at", "actor_username", "action", "target_type", "target_repr", "ip_address"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_username", "action", "target_id", "target_repr", "reason", "request_id"]
    date_hierarchy = "at"
    list_select_related = ["actor"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PublisherKey)
class PublisherKeyAdmin(ModeratorAdmin):
    """Read-only: keys are added and revoked by their owners through the API (audited)."""

    list_display = ["fingerprint", "user", "name", "created_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["fingerprint", "user__username", "name"]
    list_select_related = ["user"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AwsAccountLink)
class AwsAccountLinkAdmin(ModeratorAdmin):
    """Read-only: users link, verify and unlink their AWS accounts through the API (audited);
    moderators look up whose account an image is in."""

    list_display = ["account_id", "user", "role_arn", "verified_at", "created_at"]
    list_filter = ["verified_at"]
    search_fields = ["account_id", "user__username", "role_arn"]
    list_select_related = ["user"]
    exclude = ["external_id"]  # not a secret, but nothing a moderator needs

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "external_id"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
