"""Forms for the account pages, and the one helper that puts a service's errors onto a form.

Forms only parse and shape input; the rules (password strength, unique usernames, ...) live in
the services, whose ``ApplicationError.errors`` are shown next to the matching fields.
"""
from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from registry.errors import ApplicationError
from registry.lockout import lockout_message, login_locked_out


def form_add_service_errors(form: forms.Form, exc: ApplicationError, *, field_map: dict | None = None) -> None:
    """Attach a service error to ``form``: field errors next to their fields, the rest on top.

    Unknown keys (e.g. ``non_field_errors`` or a service-side name the form does not have) and a
    bare message without ``errors`` become non-field errors, so nothing the service said is lost.
    """
    placed = False
    for field, messages in (exc.errors or {}).items():
        if isinstance(messages, str):
            messages = [messages]
        prefix = ""
        if field_map and field in field_map:
            target = field_map[field]
            prefix = "" if target else f"{field.replace('_', ' ')}: "
        else:
            target = field if field in form.fields else None
            prefix = "" if target or field == "non_field_errors" else f"{field.replace('_', ' ')}: "
        for message in messages:
            form.add_error(target, f"{prefix}{message}")
            placed = True
    if not placed:
        form.add_error(None, exc.message)


class SignUpForm(forms.Form):
    username = forms.RegexField(
        regex=r"^[\w.@+-]+\Z", max_length=150,
        error_messages={"invalid": "Letters, digits and @/./+/-/_ only."},
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        max_length=128, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not entirely numeric or too common.",
    )
    password_confirm = forms.CharField(
        label="Password (again)", max_length=128, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password_confirm") and data["password"] != data["password_confirm"]:
            self.add_error("password_confirm", "The two passwords do not match.")
        return data


class LockoutAuthenticationFormMixin:
    """Say "too many attempts, try again in N minutes" instead of "wrong password" when locked.

    The lockout backend refuses to check a password while locked, which ``AuthenticationForm``
    would report as a wrong password; checking first (and again after a failure, which may have
    engaged the lock) tells the person what is actually going on.
    """

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        wait = login_locked_out(username=username, request=self.request)
        if wait:
            raise forms.ValidationError(lockout_message(wait), code="locked_out")
        try:
            return super().clean()
        except forms.ValidationError:
            wait = login_locked_out(username=username, request=self.request)
            if wait:
                raise forms.ValidationError(lockout_message(wait), code="locked_out") from None
            raise


class LoginForm(LockoutAuthenticationFormMixin, AuthenticationForm):
    """The site's login form (``/accounts/login/``)."""
