from django.contrib import admin

from registry.admin_site import ModeratorAdmin
from registry.models import AuditEvent, Community, CommunityMembership


class MembershipInline(admin.TabularInline):
    model = CommunityMembership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Community)
class CommunityAdmin(ModeratorAdmin):
    list_display = ["slug", "name", "kind", "is_default"]
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
