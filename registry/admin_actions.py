"""Admin actions that need a reason: an intermediate form, then one service call per object."""
from django import forms
from django.contrib import messages
from django.template.response import TemplateResponse

from registry.errors import ApplicationError


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, required=True)


def reason_action(*, name: str, description: str, submit_label: str, service):
    """Build an admin action that asks for a reason, then calls ``service(obj, user, reason)``."""

    def action(modeladmin, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    service(obj, request.user, form.cleaned_data["reason"])
                    done += 1
                except ApplicationError as exc:
                    modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            if done:
                modeladmin.message_user(request, f"{description}: {done} done.", messages.SUCCESS)
            return None
        return TemplateResponse(request, "admin/reason_action.html", {
            **modeladmin.admin_site.each_context(request),
            "title": description, "queryset": queryset, "form": form, "action": name,
            "submit_label": submit_label, "opts": modeladmin.model._meta,
        })

    action.__name__ = name
    action.short_description = description
    action.allowed_permissions = ("moderate",)
    return action
