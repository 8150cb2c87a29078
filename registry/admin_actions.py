"""Admin actions that need a reason: an intermediate form, then one service call per object."""
from django import forms
from django.contrib import messages
from django.template.response import TemplateResponse

from registry.errors import ApplicationError


class ReasonForm(forms.Form):
    # Sized for a paragraph: the owner reads this reason, so moderators should be able to explain.
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "style": "width:100%;max-width:48rem"}),
                             max_length=2000, required=True,
                             help_text="Shown to the owner as written (up to 2,000 characters).")


def done_message(verb: str, count: int, noun: str) -> str:
    """One wording for every moderation outcome: "Approved 1 AMI.", "Hid 3 reviews."."""
    return f"{verb} {count} {noun}{'' if count == 1 else 's'}."


def reason_action(*, name: str, description: str, submit_label: str, service, verb: str = "", noun: str = ""):
    """Build an admin action that asks for a reason, then calls ``service(obj, user, reason)``.
    ``verb``/``noun`` word the success message (``done_message``)."""

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
                modeladmin.message_user(request, done_message(verb or submit_label, done,
                                                              noun or str(modeladmin.model._meta.verbose_name)),
                                        messages.SUCCESS)
            return None
        return TemplateResponse(request, "admin/reason_action.html", {
            **modeladmin.admin_site.each_context(request),
            "title": description, "queryset": queryset, "form": form, "action": name,
            "submit_label": submit_label, "opts": modeladmin.model._meta,
            "cancel_url": request.get_full_path(),
        })

    action.__name__ = name
    action.short_description = description
    action.allowed_permissions = ("moderate",)
    return action
