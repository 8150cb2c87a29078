"""Admin for workstation templates: moderators edit the YAML; everything else is derived from it.

Saving goes through ``template_create`` / ``template_replace`` (validation, inheritance, re-merge of
children, audit, ``template_changed``), the same path as the API and the loader. The denormalised
columns are read-only here so they can never drift from the document.
"""
from django import forms
from django.contrib import admin
from django.db import transaction

from registry.admin_site import ModeratorAdmin
from registry.errors import ApplicationError
from registry.permissions import is_moderator
from templates.models import Template
from templates.services import template_create, template_replace


class _DryRun(Exception):
    """Rolls back the trial run of the service made while cleaning the form."""


class TemplateAdminForm(forms.ModelForm):
    source_yaml = forms.CharField(widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false"}),
                                  strip=False, label="YAML",
                                  help_text="The whole template. Validated as the API validates it.")

    class Meta:
        model = Template
        fields = ["source_yaml"]

    def clean(self):
        cleaned = super().clean()
        source = cleaned.get("source_yaml")
        if source is None:
            return cleaned
        # NOTE: run the real service inside a savepoint and roll it back, so every error the save
        # could raise (validation, 409 conflicts, a child that would become invalid) shows on the
        # form instead of as a server error after the form was accepted.
        try:
            with transaction.atomic():
                if self.instance.pk:
                    template_replace(template=Template.objects.get(pk=self.instance.pk), source_yaml=source)
                else:
                    template_create(source_yaml=source)
                raise _DryRun
        except _DryRun:
            pass
        except ApplicationError as exc:
            lines = [f"{path}: {message}" for path, messages in exc.errors.items() for message in messages]
            raise forms.ValidationError(lines or [exc.message])
        return cleaned


@admin.register(Template)
class TemplateAdmin(ModeratorAdmin):
    form = TemplateAdminForm
    list_display = ["name", "slug", "category", "base", "version", "updated_at"]
    list_filter = ["category", "base"]
    search_fields = ["name", "slug", "description"]
    readonly_fields = ["name", "slug", "description", "category", "base", "version", "document", "own_document",
                       "created_at", "updated_at"]
    fields = ["source_yaml", *readonly_fields]

    def has_add_permission(self, request):
        return is_moderator(request.user)

    def save_model(self, request, obj, form, change):
        source = form.cleaned_data["source_yaml"]
        if change:
            outcome = template_replace(template=Template.objects.get(pk=obj.pk), source_yaml=source,
                                       actor=request.user)
            saved = outcome.template
        else:
            saved = template_create(source_yaml=source, actor=request.user)
        obj.pk = saved.pk
        obj.refresh_from_db()
