"""The admin site: moderators (superusers + the `moderators` group) may use it without is_staff."""
from django.contrib import admin

from registry.permissions import is_moderator


class RegistryAdminSite(admin.AdminSite):
    site_header = "Community AMI Registry — moderation"
    site_title = "AMI Registry admin"
    index_title = "Moderation"

    def has_permission(self, request):
        return request.user.is_active and (request.user.is_staff or is_moderator(request.user))


class ModeratorAdmin(admin.ModelAdmin):
    """Moderators may view and moderate; adding and deleting stay with superusers."""

    def has_module_permission(self, request):
        return is_moderator(request.user)

    def has_view_permission(self, request, obj=None):
        return is_moderator(request.user)

    def has_change_permission(self, request, obj=None):
        return is_moderator(request.user)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_moderate_permission(self, request):
        # Named by `allowed_permissions = ("moderate",)` on moderation actions.
        return is_moderator(request.user)
