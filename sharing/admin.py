from django.contrib import admin

from registry.admin_site import ModeratorAdmin
from sharing.models import Share


@admin.register(Share)
class ShareAdmin(ModeratorAdmin):
    list_display = ["ami", "grantee_type", "grantee", "permission", "sync_state", "created_at"]
    list_filter = ["grantee_type", "sync_state"]
    search_fields = ["grantee", "ami__name", "ami__ami_id"]
    list_select_related = ["ami"]
    readonly_fields = ["ami", "grantee_type", "grantee", "user", "community", "sync_state", "sync_error",
                       "synced_regions", "created_by", "created_at", "synced_at"]
