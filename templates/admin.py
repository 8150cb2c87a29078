from django.contrib import admin

from registry.admin_site import ModeratorAdmin
from templates.models import Template


@admin.register(Template)
class TemplateAdmin(ModeratorAdmin):
    list_display = ["name", "slug", "category", "base", "version", "updated_at"]
    list_filter = ["category", "base"]
    search_fields = ["name", "slug", "description"]
    readonly_fields = ["document", "own_document", "created_at", "updated_at"]
