"""The admin site: moderators (superusers + the `moderators` group) may use it without is_staff."""
from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from registry.forms import LockoutAuthenticationFormMixin
from registry.permissions import is_moderator
from registry.login_limits import login_rate_limited


class ModeratorAuthenticationForm(LockoutAuthenticationFormMixin, AdminAuthenticationForm):
    """Admin login for staff *and* moderators (Django's own form admits staff only)."""

    def confirm_login_allowed(self, user):
        AuthenticationForm.confirm_login_allowed(self, user)
        if not (user.is_staff or is_moderator(user)):
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                        params={"username": self.username_field.verbose_name})


class RegistryAdminSite(admin.AdminSite):
    login_form = ModeratorAuthenticationForm
    site_header = "Community AMI Registry — moderation"
    site_title = "AMI Registry admin"
    index_title = "Moderation"

    def has_permission(self, request):
        return request.user.is_active and (request.user.is_staff or is_moderator(request.user))

    def login(self, request, extra_context=None):
        # The same login budget per client IP as the API and the site's login page.
        return login_rate_limited(super().login)(request, extra_context)


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
