"""The sharing part of the AMI page: the owner's grants section (added through
``amis.signals.ami_page_context``) and its add/remove actions. Thin: the same selectors and
services as the API."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from amis.models import AMI
from amis.views import ami_owned_or_deny, ami_page_render
from registry.errors import ApplicationError
from registry.forms import form_add_service_errors
from registry.web_errors import raise_page_error
from sharing.forms import ShareForm
from sharing.selectors import share_get, share_list_for_ami
from sharing.services import share_create, share_delete


def ami_page_section(sender, request, ami: AMI, is_owner: bool, forms: dict, **kwargs) -> dict:
    """Receiver of ``ami_page_context``: the grants and the share form, for the owner only."""
    if not is_owner:
        return {}
    return {"shares": list(share_list_for_ami(ami=ami)), "share_form": forms.get("share_form") or ShareForm()}


def _owner_panel(ami: AMI) -> str:
    return reverse("web:ami-detail", args=[ami.pk]) + "#owner"


@login_required
@require_POST
def ami_share_add(request, ref: str):
    ami = ami_owned_or_deny(request, ref)
    form = ShareForm(request.POST)
    if form.is_valid():
        try:
            share_create(ami=ami, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            raise_page_error(exc)
            form_add_service_errors(form, exc)
            return ami_page_render(request, ami, exc=exc, share_form=form, open_panel="share")
        messages.success(request, f"Shared with {form.cleaned_data['grantee']}.")
        return redirect(_owner_panel(ami))
    return ami_page_render(request, ami, share_form=form, open_panel="share")


@login_required
@require_POST
def ami_share_remove(request, ref: str, share_id: int):
    ami = ami_owned_or_deny(request, ref)
    share = share_get(ami=ami, share_id=share_id)
    if share is None:
        raise Http404("grant not found")
    try:
        share_delete(share=share, user=request.user)
    except ApplicationError as exc:
        raise_page_error(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, "Grant removed.")
    return redirect(_owner_panel(ami))
