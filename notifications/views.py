"""Notification pages: switches, subscriptions, webhooks with their delivery log and test button,
and the unsubscribe page emails link to. Thin: parse a form, call one service, redirect."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from amis.lineage_selectors import lineage_get_visible_or_404
from amis.selectors import ami_get_visible
from notifications import selectors, services
from notifications.forms import NotificationSettingsForm, SubscriptionForm, WebhookEditForm, WebhookForm
from notifications.models import Subscription
from notifications.tokens import unsubscribe_token_read
from registry.errors import ApplicationError, NotFound
from registry.models import Community
from templates.selectors import template_get

DELIVERIES_SHOWN = 50


def _error_to_form(form, exc: ApplicationError) -> None:
    """Put a service's error next to the field it names (or on top of the form)."""
    placed = False
    for field, msgs in (exc.errors or {}).items():
        if field in form.fields:
            for msg in msgs:
                form.add_error(field, msg)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def _subscription_form(request, data=None):
    initial = {}
    if request.GET.get("ami"):
        initial = {"target_type": "ami", "ami": request.GET["ami"][:64]}
    elif request.GET.get("template"):
        initial = {"target_type": "template", "template": request.GET["template"][:200]}
    elif request.GET.get("lineage"):
        initial = {"target_type": "lineage", "lineage": request.GET["lineage"][:64],
                   "event_types": ["version.published", "channel.moved", "ami.revoked"]}
    return SubscriptionForm(data, initial=initial, webhooks=selectors.webhook_list_manageable_by(user=request.user))


@login_required
def notifications_home(request, *, subscription_form=None, settings_form=None, status=200):
    """Switches, subscriptions (with the add form) and webhooks of the signed-in user."""
    prefs = selectors.notification_settings_for(user=request.user)
    return render(request, "notifications/home.html", {
        "settings_form": settings_form or NotificationSettingsForm(initial={
            "own_activity_email": prefs.own_activity_email,
            "launched_revocation_email": prefs.launched_revocation_email}),
        "subscription_form": subscription_form or _subscription_form(request),
        "subscriptions": selectors.subscription_list_for(user=request.user),
        "webhooks": selectors.webhook_list_manageable_by(user=request.user),
    }, status=status)


@login_required
@require_POST
def settings_save(request):
    form = NotificationSettingsForm(request.POST)
    if not form.is_valid():
        return notifications_home(request, settings_form=form, status=400)
    services.notification_settings_update(user=request.user, **form.cleaned_data)
    messages.success(request, "Your notification settings are saved.")
    return redirect("web:notifications-home")


@login_required
@require_POST
def subscription_add(request):
    form = _subscription_form(request, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        target = {}
        if data["target_type"] == Subscription.TargetType.TEMPLATE:
            template = template_get(data["template"])
            if template is None:
                form.add_error("template", "Choose a template.")
            target["template"] = template
        elif data["target_type"] == Subscription.TargetType.LINEAGE:
            try:
                target["lineage_key"] = lineage_get_visible_or_404(user=request.user, ref=data["lineage"]).key
            except NotFound:
                form.add_error("lineage", "No lineage you can see has this id.")
        else:
            ami = ami_get_visible(user=request.user, ref=data["ami"])
            if ami is None:
                form.add_error("ami", "No AMI you can see has this id.")
            target["ami"] = ami
        webhook = selectors.webhook_get_manageable(user=request.user, webhook_id=data["webhook"]) \
            if data["webhook"] else None
        if form.is_valid():
            try:
                sub = services.subscription_create(user=request.user, target_type=data["target_type"],
                                                   event_types=data["event_types"], email=data["email"],
                                                   webhook=webhook, **target)
            except ApplicationError as exc:
                _error_to_form(form, exc)
            else:
                messages.success(request, f"Subscribed to {sub.target_label}.")
                return redirect("web:notifications-home")
    return notifications_home(request, subscription_form=form, status=400)


@login_required
@require_POST
def subscription_remove(request, sub_id: int):
    sub = selectors.subscription_get_for(user=request.user, subscription_id=sub_id)
    if sub is None:
        raise Http404("no such subscription")
    label = sub.target_label
    services.subscription_delete(subscription=sub, user=request.user)
    messages.success(request, f"Unsubscribed from {label}.")
    return redirect("web:notifications-home")


@login_required
def webhook_new(request):
    communities = selectors.communities_managed_by(user=request.user)
    form = WebhookForm(request.POST or None, communities=communities)
    if request.method == "POST" and form.is_valid():
        community = Community.objects.filter(slug=form.cleaned_data["community"]).first() \
            if form.cleaned_data["community"] else None
        try:
            hook = services.webhook_create(user=request.user, name=form.cleaned_data["name"],
                                           url=form.cleaned_data["url"], community=community)
        except ApplicationError as exc:
            _error_to_form(form, exc)
        else:
            messages.success(request, "Webhook added. Copy its secret now to verify signatures.")
            return redirect(reverse("web:notifications-webhook", args=[hook.pk]) + "?secret=show")
    return render(request, "notifications/webhook_new.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


def _manageable_or_404(request, webhook_id: int):
    hook = selectors.webhook_get_manageable(user=request.user, webhook_id=webhook_id)
    if hook is None:
        raise Http404("no such webhook")
    return hook


@login_required
def webhook_detail(request, webhook_id: int):
    """Edit form, secret, test button, enable/disable and the delivery log of one endpoint."""
    hook = _manageable_or_404(request, webhook_id)
    form = WebhookEditForm(request.POST or None, initial={"name": hook.name, "url": hook.url})
    if request.method == "POST" and form.is_valid():
        try:
            services.webhook_update(webhook=hook, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _error_to_form(form, exc)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("web:notifications-webhook", webhook_id=hook.pk)
    deliveries = list(selectors.delivery_list_for(webhook=hook)[:DELIVERIES_SHOWN])
    return render(request, "notifications/webhook_detail.html", {
        "webhook": hook, "form": form, "deliveries": deliveries,
        "reveal_secret": request.GET.get("secret") == "show"},
        status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def webhook_action(request, webhook_id: int, action: str):
    """The buttons of the webhook page: test, enable, disable, rotate the secret, delete."""
    hook = _manageable_or_404(request, webhook_id)
    if action == "test":
        services.webhook_test_send(webhook=hook, user=request.user)
        messages.success(request, "Test event sent: its delivery is at the top of the log below.")
    elif action in ("enable", "disable"):
        services.webhook_update(webhook=hook, user=request.user, is_active=action == "enable")
        messages.success(request, f"Webhook {action}d.")
    elif action == "rotate-secret":
        services.webhook_secret_rotate(webhook=hook, user=request.user)
        messages.success(request, "New secret made: the old one no longer verifies.")
        return redirect(reverse("web:notifications-webhook", args=[hook.pk]) + "?secret=show")
    elif action == "delete":
        services.webhook_delete(webhook=hook, user=request.user)
        messages.success(request, f"Webhook {hook.name} deleted.")
        return redirect("web:notifications-home")
    else:
        raise Http404("unknown action")
    return redirect("web:notifications-webhook", webhook_id=hook.pk)


@csrf_exempt  # RFC 8058 one-click unsubscribe: mail clients POST without a CSRF token; the token is the credential
def unsubscribe(request, token: str):
    """GET: what the link switches off, and a button. POST: switch it off (idempotent)."""
    data = unsubscribe_token_read(token)
    if data is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "POST":
        done = services.unsubscribe_apply(token=token)
        return render(request, "notifications/unsubscribe.html", {"done": done})
    return render(request, "notifications/unsubscribe.html", {"token": token, "kind": data.kind})
