"""Account pages: sign up, log in/out, password change, API token. Thin: forms → services."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from registry.errors import ApplicationError
from registry.forms import SignUpForm, form_add_service_errors
from registry.services import user_register, user_token_get_or_create, user_token_regenerate


def _posted(request):
    """The POST data for a bound form, or None on GET (an empty POST must still bind the form)."""
    return request.POST if request.method == "POST" else None


def _safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


@require_http_methods(["GET", "POST"])
def signup(request):
    """Create an account (``user_register``), log it in and go where the user was heading."""
    if request.user.is_authenticated:
        return redirect("web:home")
    form = SignUpForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            user, _token = user_register(username=form.cleaned_data["username"], email=form.cleaned_data["email"],
                                         password=form.cleaned_data["password"])
        except ApplicationError as exc:
            form_add_service_errors(form, exc)
        else:
            # The first configured backend (the lockout-aware one): a just-created account has no failures.
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
            messages.success(request, f"Welcome, {user.username}! Your account is ready.")
            return redirect(_safe_next(request))
    return render(request, "registry/accounts/signup.html", {"form": form, "next": _safe_next(request, "")})


@login_required
@require_http_methods(["GET"])
def token_show(request):
    """The API token the ``cws`` client needs (made on first visit if the account has none)."""
    token = user_token_get_or_create(user=request.user)
    return render(request, "registry/accounts/token.html", {"token": token})


@login_required
@require_POST
def token_regenerate(request):
    user_token_regenerate(user=request.user)
    messages.success(request, "A new API token was generated; the old one no longer works.")
    return redirect("web:account-token")
