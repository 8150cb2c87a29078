"""Browser pages of the catalogue: browse, AMI page (+ its owner actions), submit wizard, progress,
My AMIs. Thin: parse a form, call the same selector or service as the API, render.

Error handling is uniform: a service's ``ApplicationError`` is shown next to the form field it
names (``form_add_service_errors``) with the service's status code; ``NotFound`` becomes the 404
page (invisible entries are "not found", never "forbidden"), ``Forbidden`` the 403 page.
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import ValidationError as DRFValidationError

from amis import aws_lifecycle
from amis import selectors as ami_selectors
from amis import services as ami_services
from amis.forms import (SORT_CHOICES, AMIEditForm, CopyForm, DeprecateForm, RatingForm, ShareForm,
                        WizardConfirmForm, WizardMetadataForm, WizardRegionsForm, WizardSourceForm, tags_format)
from amis.models import AMI, AMIRegion, Operation
from ratings import selectors as rating_selectors
from ratings.services import rating_submit
from registry import aws
from registry.errors import ApplicationError, Forbidden, NotFound
from registry.forms import form_add_service_errors
from sharing.selectors import share_get, share_list_for_ami
from sharing.services import share_create, share_delete

# Operations shown with a progress bar (the AWS image work a submitter waits for).
PROGRESS_KINDS = (Operation.Kind.CREATE_IMAGE, Operation.Kind.COPY_IMAGE)
ACTIVE_STATES = (Operation.State.QUEUED, Operation.State.RUNNING)
REVIEWS_PER_PAGE = 20


def _posted(request):
    """The POST data for a bound form, or None on GET (an empty POST must still bind the form)."""
    return request.POST if request.method == "POST" else None


def _raise_for(exc: ApplicationError) -> None:
    """Turn a service's 404/403 into the friendly error pages; other errors go back to the form."""
    if isinstance(exc, NotFound) or exc.status_code == 404:
        raise Http404(exc.message)
    if isinstance(exc, Forbidden) or exc.status_code == 403:
        raise PermissionDenied(exc.message)


def _visible_or_404(request, ref: str) -> AMI:
    ami = ami_selectors.ami_get_visible(user=request.user, ref=ref)
    if ami is None:
        raise Http404("AMI not found")
    return ami


def _is_owner(request, ami: AMI) -> bool:
    return request.user.is_authenticated and ami.creator_id == request.user.pk


def _owned_or_deny(request, ref: str) -> AMI:
    """The AMI if the caller owns it. Another user's visible AMI → 403; an invisible one → 404."""
    ami = _visible_or_404(request, ref)
    if not _is_owner(request, ami):
        raise PermissionDenied("Only the owner can do this.")
    return ami


# --- Browse ---------------------------------------------------------------------------------------------

BROWSE_PAGE_SIZE = 20
FACET_LABELS = {"category": "Category", "architecture": "Architecture", "region": "Region",
                "template": "Template", "verified": "Verified", "min_rating": "Minimum rating"}
# Facets without counts from the selector still get their choices (counts shown when present).
FIXED_FACET_CHOICES = {
    "verified": [("true", "Verified only")],
    "min_rating": [("4", "4★ and up"), ("3", "3★ and up"), ("2", "2★ and up")],
}


def _query(request, **changes) -> str:
    """The current query string with ``changes`` applied (None removes a key); page resets."""
    params = request.GET.copy()
    params.pop("page", None)
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def _facet_groups(request, facets: dict) -> list[dict]:
    groups = []
    for key in ("category", "architecture", "region", "template", "verified", "min_rating"):
        counts = facets.get(key)
        if counts is None and key not in FIXED_FACET_CHOICES:
            continue
        current = request.GET.get(key, "")
        if counts is not None and key not in FIXED_FACET_CHOICES:
            choices = [(value, value, n) for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        else:
            choices = [(value, label, (counts or {}).get(value)) for value, label in FIXED_FACET_CHOICES[key]]
        groups.append({
            "key": key, "label": FACET_LABELS[key], "current": current,
            "options": [{"value": v, "label": label, "count": n, "selected": v == current,
                         "url": _query(request, **{key: None if v == current else v})}
                        for v, label, n in choices],
        })
    return groups


def _active_filters(request) -> list[dict]:
    active = []
    for key in ("q", *FACET_LABELS):
        value = request.GET.get(key, "")
        if value:
            label = "Search" if key == "q" else FACET_LABELS[key]
            active.append({"label": f"{label}: {value}", "remove_url": _query(request, **{key: None})})
    return active


@require_GET
def ami_browse(request):
    """``/``: search, facets with counts, sort, pagination; every choice lives in the query string."""
    params = request.GET.copy()
    params.pop("page", None)
    status = 200
    errors: dict = {}
    try:
        result = ami_selectors.ami_search(user=request.user, params=params)
        queryset, facets = result.queryset, result.facets
    except DRFValidationError as exc:
        # A hand-edited URL with a bad value: say which parameter, show nothing rather than a 500.
        errors = {k: [str(m) for m in v] for k, v in exc.detail.items()} if isinstance(exc.detail, dict) else {}
        queryset, facets, status = AMI.objects.none(), {}, 400
    page = Paginator(queryset, BROWSE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "amis/browse.html", {
        "page": page,
        "amis": list(page.object_list),
        "facet_groups": _facet_groups(request, facets),
        "active_filters": _active_filters(request),
        "q": request.GET.get("q", ""),
        "ordering": request.GET.get("ordering", ""),
        "sort_choices": SORT_CHOICES,
        "errors": errors,
        "query_without_page": _query(request, page=None),
    }, status=status)


# --- AMI page -------------------------------------------------------------------------------------------

def _histogram_rows(histogram: dict[str, int]) -> list[dict]:
    total = sum(histogram.values()) or 1
    return [{"stars": s, "count": histogram[str(s)], "percent": round(100 * histogram[str(s)] / total)}
            for s in range(5, 0, -1)]


def _launch_region(regions: list[AMIRegion], ami: AMI, wanted: str) -> str:
    available = [r.region for r in regions if r.state == AMIRegion.State.AVAILABLE]
    if wanted in available:
        return wanted
    if ami.source_region in available:
        return ami.source_region
    return available[0] if available else ami.source_region


def _detail_context(request, ami: AMI, **forms) -> dict:
    """Everything the AMI page shows; ``forms`` overrides a form with a bound (invalid) one."""
    user = request.user
    is_owner = _is_owner(request, ami)
    regions = list(ami.regions.all().order_by("-is_source", "region"))
    order = request.GET.get("reviews", "newest")
    reviews = rating_selectors.rating_list_for_ami(ami=ami)
    if order == "helpful":
        # "Most helpful": reviews by people who really launched the image first, then written
        # reviews, newest first within each group.
        reviews = reviews.order_by("-verified_launch", "-review", "-created_at", "-id")
    else:
        order = "newest"
    my_rating = rating_selectors.rating_get_for_user(ami=ami, user=user)
    template_slug = ami.template.slug if ami.template_id else ""
    region = _launch_region(regions, ami, request.GET.get("region", ""))
    ctx = {
        "ami": ami,
        "is_owner": is_owner,
        # Linked only if the viewer may see it: a private replacement must not leak its name.
        "replacement": (ami_selectors.ami_get_visible(user=user, ref=str(ami.replacement_id))
                        if ami.replacement_id else None),
        "regions": regions,
        "launch_region": region,
        "available_regions": [r.region for r in regions if r.state == AMIRegion.State.AVAILABLE],
        "template_slug": template_slug,
        "histogram": _histogram_rows(ami_selectors.ami_rating_histogram(ami=ami)),
        "reviews": list(reviews[:REVIEWS_PER_PAGE]),
        "reviews_order": order,
        "my_rating": my_rating,
        "can_rate": (user.is_authenticated and not is_owner
                     and ami.status in (AMI.Status.APPROVED, AMI.Status.DEPRECATED)),
        "rating_form": forms.get("rating_form") or RatingForm(
            initial={"rating": my_rating.rating, "review": my_rating.review} if my_rating else None),
    }
    if is_owner:
        ctx.update({
            "shares": list(share_list_for_ami(ami=ami)),
            "operations": list(aws_lifecycle.operation_list_for(user=user, ami=ami)
                               .filter(kind__in=PROGRESS_KINDS)[:10]),
            "edit_form": forms.get("edit_form") or AMIEditForm(initial={
                "name": ami.name, "description": ami.description, "category": ami.category,
                "version": ami.version, "tags": tags_format(ami.tags)}),
            "share_form": forms.get("share_form") or ShareForm(),
            "copy_form": forms.get("copy_form") or CopyForm(exclude={r.region for r in regions}),
            "deprecate_form": forms.get("deprecate_form") or DeprecateForm(),
            "can_edit": ami.status in ami_services.EDITABLE_STATUSES,
            "can_submit": ami.status in (AMI.Status.DRAFT, AMI.Status.REJECTED),
            "can_deprecate": ami.status == AMI.Status.APPROVED,
            "open_panel": forms.get("open_panel", ""),
        })
    return ctx


@require_GET
def ami_detail(request, ref: str):
    ami = _visible_or_404(request, ref)
    return render(request, "amis/detail.html", _detail_context(request, ami))


def _rerender(request, ami: AMI, exc: ApplicationError | None, **forms) -> HttpResponse:
    status = exc.status_code if exc is not None else 400
    return render(request, "amis/detail.html", _detail_context(request, ami, **forms), status=status)


@login_required
@require_POST
def ami_rate(request, ref: str):
    """Create or replace the caller's rating (``rating_submit``)."""
    ami = _visible_or_404(request, ref)
    form = RatingForm(request.POST)
    if form.is_valid():
        try:
            _rating, created = rating_submit(ami=ami, user=request.user, rating=form.cleaned_data["rating"],
                                             review=form.cleaned_data["review"])
        except ApplicationError as exc:
            _raise_for(exc)
            form_add_service_errors(form, exc)
            return _rerender(request, ami, exc, rating_form=form)
        messages.success(request, "Thanks — your rating was saved." if created else "Your rating was updated.")
        return redirect(reverse("ami-detail", args=[ami.pk]) + "#reviews")
    return _rerender(request, ami, None, rating_form=form)


@login_required
@require_POST
def ami_edit(request, ref: str):
    ami = _owned_or_deny(request, ref)
    form = AMIEditForm(request.POST)
    if form.is_valid():
        try:
            ami_services.ami_update(ami=ami, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _raise_for(exc)
            form_add_service_errors(form, exc)
            return _rerender(request, ami, exc, edit_form=form, open_panel="edit")
        messages.success(request, "Saved.")
        return redirect("ami-detail", ref=ami.pk)
    return _rerender(request, ami, None, edit_form=form, open_panel="edit")


@login_required
@require_POST
def ami_submit_review(request, ref: str):
    ami = _owned_or_deny(request, ref)
    try:
        ami_services.ami_submit(ami=ami, user=request.user)
    except ApplicationError as exc:
        _raise_for(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, "Submitted: a moderator will review it.")
    return redirect("ami-detail", ref=ami.pk)


@login_required
@require_POST
def ami_share_add(request, ref: str):
    ami = _owned_or_deny(request, ref)
    form = ShareForm(request.POST)
    if form.is_valid():
        try:
            share_create(ami=ami, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _raise_for(exc)
            form_add_service_errors(form, exc)
            return _rerender(request, ami, exc, share_form=form, open_panel="share")
        messages.success(request, f"Shared with {form.cleaned_data['grantee']}.")
        return redirect(reverse("ami-detail", args=[ami.pk]) + "#owner")
    return _rerender(request, ami, None, share_form=form, open_panel="share")


@login_required
@require_POST
def ami_share_remove(request, ref: str, share_id: int):
    ami = _owned_or_deny(request, ref)
    share = share_get(ami=ami, share_id=share_id)
    if share is None:
        raise Http404("grant not found")
    try:
        share_delete(share=share, user=request.user)
    except ApplicationError as exc:
        _raise_for(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, "Grant removed.")
    return redirect(reverse("ami-detail", args=[ami.pk]) + "#owner")


@login_required
@require_POST
def ami_copy(request, ref: str):
    """Queue copies to more regions, then show their progress."""
    ami = _owned_or_deny(request, ref)
    form = CopyForm(request.POST, exclude={r.region for r in ami.regions.all()})
    if form.is_valid():
        try:
            aws_lifecycle.ami_copy_request(ami=ami, user=request.user, regions=form.cleaned_data["regions"])
        except ApplicationError as exc:
            _raise_for(exc)
            form_add_service_errors(form, exc)
            return _rerender(request, ami, exc, copy_form=form, open_panel="copy")
        return redirect("ami-progress", ref=ami.pk)
    return _rerender(request, ami, None, copy_form=form, open_panel="copy")


@login_required
@require_POST
def ami_deprecate(request, ref: str):
    ami = _owned_or_deny(request, ref)
    form = DeprecateForm(request.POST)
    if form.is_valid():
        replacement = None
        ref_text = form.cleaned_data["replacement"].strip()
        if ref_text:
            replacement = ami_selectors.ami_get_visible(user=request.user, ref=ref_text)
            if replacement is None:
                form.add_error("replacement", "No AMI visible to you has that id.")
        if not form.errors:
            try:
                ami_services.ami_deprecate(ami=ami, user=request.user, reason=form.cleaned_data["reason"],
                                           replacement=replacement)
            except ApplicationError as exc:
                _raise_for(exc)
                form_add_service_errors(form, exc)
                return _rerender(request, ami, exc, deprecate_form=form, open_panel="deprecate")
            messages.success(request, "Marked as deprecated.")
            return redirect("ami-detail", ref=ami.pk)
    return _rerender(request, ami, None, deprecate_form=form, open_panel="deprecate")


# --- Progress ----------------------------------------------------------------------------------------------

def _progress_context(request, *, ami: AMI | None = None, root: Operation | None = None) -> dict:
    """Per-region rows for the image work of ``ami`` or of the create operation ``root``.

    In eager mode (no broker) a waiting operation advances only when polled, exactly as through
    the operations API: ``operation_poke`` runs its next step when due (a no-op with a worker).
    """
    user = request.user
    if root is not None:
        root = aws_lifecycle.operation_poke(root) if root.state in ACTIVE_STATES else root
        ami = root.ami if root.ami_id else None
        ops = {root.pk: root}
        ops.update({op.pk: op for op in Operation.objects.filter(parent=root)})
    else:
        ops = {}
    if ami is not None:
        mine = aws_lifecycle.operation_list_for(user=user, ami=ami).filter(kind__in=PROGRESS_KINDS)
        for op in mine:
            if op.parent_id is None and op.state in ACTIVE_STATES:
                aws_lifecycle.operation_poke(op)
        ops.update({op.pk: op for op in aws_lifecycle.operation_list_for(user=user, ami=ami)
                    .filter(kind__in=PROGRESS_KINDS)})
    # A region's latest operation is the one that counts (a failed copy may have been retried).
    latest: dict[str, Operation] = {}
    for op in sorted(ops.values(), key=lambda o: o.created_at):
        latest[op.region or (ami.source_region if ami else "")] = op
    rows = sorted(latest.values(), key=lambda op: (op.kind != Operation.Kind.CREATE_IMAGE, op.region))
    done = all(op.state not in ACTIVE_STATES for op in rows)
    return {
        "ami": ami,
        "root": root,
        "operations": rows,
        "done": done,
        "failed": [op for op in rows if op.state == Operation.State.FAILED],
        "overall": round(sum(op.progress for op in rows) / len(rows)) if rows else 100,
        "fragment_url": (reverse("operation-progress-fragment", args=[root.pk]) if root is not None
                         else reverse("ami-progress-fragment", args=[ami.pk])),
    }


@login_required
@require_GET
def ami_progress(request, ref: str):
    """Progress bars per region for the owner's image work (polled by site.js; refreshes without JS)."""
    ami = _owned_or_deny(request, ref)
    return render(request, "amis/progress.html", _progress_context(request, ami=ami))


@login_required
@require_GET
def ami_progress_fragment(request, ref: str):
    ami = _owned_or_deny(request, ref)
    return render(request, "amis/_progress_fragment.html", _progress_context(request, ami=ami))


def _operation_or_404(request, op_id) -> Operation:
    op = aws_lifecycle.operation_get_for(user=request.user, operation_id=str(op_id))
    if op is None:
        raise Http404("operation not found")
    return op


@login_required
@require_GET
def operation_progress(request, op_id):
    """Progress of a create-from-instance request (the registry entry appears once AWS answered)."""
    return render(request, "amis/progress.html", _progress_context(request, root=_operation_or_404(request, op_id)))


@login_required
@require_GET
def operation_progress_fragment(request, op_id):
    return render(request, "amis/_progress_fragment.html",
                  _progress_context(request, root=_operation_or_404(request, op_id)))


# --- My AMIs ------------------------------------------------------------------------------------------------

STATUS_SECTIONS = [
    (AMI.Status.DRAFT, "Drafts"),
    (AMI.Status.PENDING_REVIEW, "Pending review"),
    (AMI.Status.REJECTED, "Rejected"),
    (AMI.Status.APPROVED, "Approved"),
    (AMI.Status.DEPRECATED, "Deprecated"),
    (AMI.Status.REVOKED, "Revoked"),
]


@login_required
@require_GET
def my_amis(request):
    """The caller's entries by status, their running operations and their ratings (4 queries)."""
    user = request.user
    mine = list(AMI.objects.filter(creator=user).select_related("template").prefetch_related("regions")
                .order_by("-updated_at"))
    sections = [{"status": status, "label": label, "amis": [a for a in mine if a.status == status]}
                for status, label in STATUS_SECTIONS]
    operations = list(aws_lifecycle.operation_list_for(user=user).filter(created_by=user, kind__in=PROGRESS_KINDS)[:20])
    ratings = list(user.ami_ratings.select_related("ami").order_by("-updated_at")[:50])
    return render(request, "amis/my_amis.html", {
        "sections": sections, "total": len(mine), "operations": operations,
        "running": [op for op in operations if op.state in ACTIVE_STATES], "ratings": ratings,
    })


# --- Submit wizard ---------------------------------------------------------------------------------------------

# The wizard keeps its answers in the session (nothing is written until step 4 is confirmed), so
# a user can go back and forth, and a half-finished wizard leaves no draft behind.
WIZARD_SESSION_KEY = "submit_wizard"
WIZARD_STEPS = [("source", "Source"), ("details", "Details"), ("regions", "Regions & visibility"),
                ("review", "Review & confirm")]


def _wizard_state(request) -> dict:
    return request.session.get(WIZARD_SESSION_KEY) or {}


def _wizard_save(request, state: dict) -> None:
    request.session[WIZARD_SESSION_KEY] = state
    request.session.modified = True


def _wizard_first_missing(state: dict) -> str | None:
    for step, _label in WIZARD_STEPS[:-1]:
        if step not in state:
            return step
    return None


def _source_check(form: WizardSourceForm) -> dict | None:
    """Step 1's EC2 check: the image (or instance) must exist in that region, with a clear error.

    Returns facts to pre-fill step 2, or None after adding the error to the form. The services
    check again at step 4 (AWS may change in between); this early check only saves the user
    three steps of typing against an id that AWS does not know.
    """
    data = form.cleaned_data
    region = data["region"]
    try:
        if data["mode"] == WizardSourceForm.MODE_REGISTER:
            ami_id = data["ami_id"]
            if ami_services.ami_is_registered(image_id=ami_id):
                form.add_error("ami_id", f"{ami_id} is already in the registry.")
                return None
            image = aws.describe_image(region, ami_id)
            if image is None:
                form.add_error("ami_id", f"No image {ami_id} in {region} (or the registry's AWS account "
                                         f"cannot see it). Check the id and the region.")
                return None
            state = image.get("State", "unknown")
            if state != "available":
                form.add_error("ami_id", f"Image {ami_id} is '{state}' in {region}; it must be 'available'.")
                return None
            return {"name": image.get("Name", ""), "description": image.get("Description", ""),
                    "architecture": image.get("Architecture", ""), "size_gb": _root_size(image)}
        instance_id = data["instance_id"]
        reservations = aws.call(region, "ec2", "describe_instances", InstanceIds=[instance_id]).get("Reservations", [])
        instances = [i for r in reservations for i in r.get("Instances", [])]
        if not instances:
            raise aws.AwsNotFound("no such instance")
        state = instances[0].get("State", {}).get("Name", "unknown")
        if state != "running":
            form.add_error("instance_id", f"Instance must be running to create an AMI (current state: {state}).")
            return None
        tags = {t["Key"]: t["Value"] for t in instances[0].get("Tags", [])}
        return {"name": tags.get("Name", ""), "description": "",
                "architecture": instances[0].get("Architecture", ""), "size_gb": None}
    except aws.AwsNotFound:
        field = "ami_id" if data["mode"] == WizardSourceForm.MODE_REGISTER else "instance_id"
        form.add_error(field, f"AWS does not know this id in {region}. Check the id and the region.")
    except aws.AwsError as exc:
        form.add_error(None, f"AWS did not answer ({exc.code or 'error'}); try again in a moment.")
    return None


def _root_size(image: dict) -> int | None:
    for mapping in image.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == image.get("RootDeviceName") and "Ebs" in mapping:
            return mapping["Ebs"].get("VolumeSize")
    return None


def _copy_estimates(source_region: str, regions, size_gb) -> dict[str, dict]:
    """Copy cost and time per target region from the resolver's cost model (pure functions)."""
    # NOTE: resolver.costs is imported here, by a page, not by the catalogue's services: the cost
    # model has one home (the resolver) and every screen that shows a cost reads it from there.
    from resolver.costs import copy_estimate  # noqa: PLC0415

    return {region: copy_estimate(source_region=source_region, target_region=region, size_gb=size_gb)
            for region in regions}


def _template_choices() -> list[tuple[str, str]]:
    from templates.selectors import template_list  # noqa: PLC0415

    return [(t.slug, t.name) for t in template_list()]


@login_required
@require_http_methods(["GET", "POST"])
def submit_wizard(request, step: str = "source"):
    """``/submit/<step>/``: source → details → regions → review; confirm runs the services."""
    steps = [s for s, _ in WIZARD_STEPS]
    if step not in steps:
        raise Http404("no such step")
    state = _wizard_state(request)
    if request.GET.get("restart") == "1":
        state = {}
        _wizard_save(request, state)
    missing = _wizard_first_missing(state)
    if missing is not None and steps.index(step) > steps.index(missing):
        return redirect("submit-step", step=missing)
    source = state.get("source", {})
    ctx: dict = {"step": step, "steps": [{"key": k, "label": label, "done": k in state, "number": i + 1}
                                         for i, (k, label) in enumerate(WIZARD_STEPS)], "state": state}

    if step == "source":
        form = WizardSourceForm(_posted(request), initial=source or None)
        if request.method == "POST" and form.is_valid():
            facts = _source_check(form)
            if facts is not None:
                state = {"source": {**{k: form.cleaned_data[k] for k in ("mode", "ami_id", "instance_id", "region")},
                                    "facts": facts}}
                _wizard_save(request, state)
                return redirect("submit-step", step="details")
    elif step == "details":
        initial = state.get("details") or {"name": source.get("facts", {}).get("name", ""),
                                           "description": source.get("facts", {}).get("description", "")}
        form = WizardMetadataForm(_posted(request), initial=initial, template_choices=_template_choices(),
                                  template_required=source.get("mode") == WizardSourceForm.MODE_CREATE)
        if request.method == "POST" and form.is_valid():
            state["details"] = form.cleaned_data
            _wizard_save(request, state)
            return redirect("submit-step", step="regions")
    elif step == "regions":
        form = WizardRegionsForm(_posted(request), initial=state.get("regions"),
                                 source_region=source["region"])
        estimates = _copy_estimates(source["region"], [c[0] for c in form.fields["regions"].choices],
                                    source.get("facts", {}).get("size_gb"))
        ctx["region_rows"] = [{"widget": w, "estimate": estimates.get(w.data["value"])}
                              for w in form["regions"]]
        if request.method == "POST" and form.is_valid():
            state["regions"] = form.cleaned_data
            _wizard_save(request, state)
            return redirect("submit-step", step="review")
    else:
        form = WizardConfirmForm(_posted(request))
        chosen = state["regions"]["regions"]
        estimates = _copy_estimates(source["region"], chosen, source.get("facts", {}).get("size_gb"))
        ctx.update({
            "estimates": estimates,
            "total_cost": round(sum(e["estimated_cost"] for e in estimates.values()), 2),
            "max_minutes": max((e["estimated_minutes"] for e in estimates.values()), default=0),
            "template_name": dict(_template_choices()).get(state["details"].get("template") or "", ""),
            "tags_text": tags_format(state["details"].get("tags")),
        })
        if request.method == "POST" and form.is_valid():
            submit = form.cleaned_data["submit_for_review"]
            try:
                ami, op = _wizard_run(request.user, state, submit=submit)
            except ApplicationError as exc:
                _raise_for(exc)
                form_add_service_errors(form, exc, field_map={"template_name": None, "multi_region": None})
                ctx["form"] = form
                return render(request, "amis/submit.html", ctx, status=exc.status_code)
            request.session.pop(WIZARD_SESSION_KEY, None)
            if ami is None:
                messages.success(request, "Image creation started. When it is ready, submit it for review "
                                          "from its page." if submit else "Image creation started.")
                return redirect("operation-progress", op_id=op.pk)
            messages.success(request, "Submitted for review. Image progress is shown below." if submit
                             else "Saved as a draft. Image progress is shown below.")
            return redirect("ami-progress", ref=ami.pk)
    ctx["form"] = form
    status = 400 if request.method == "POST" else 200
    return render(request, "amis/submit.html", ctx, status=status)


def _wizard_run(user, state: dict, *, submit: bool) -> tuple[AMI | None, Operation | None]:
    """Step 4: register (or start creating) the image, queue the copies, optionally submit for review.

    Returns ``(ami, create_operation)``. Creating from an instance makes the registry entry only
    once AWS has answered CreateImage (possibly later, on a worker): then ``ami`` is None and the
    owner submits it for review from its page when it is ready.
    """
    source, details, regions = state["source"], state["details"], state["regions"]
    op = None
    if source["mode"] == WizardSourceForm.MODE_REGISTER:
        ami = ami_services.ami_register(
            user=user, ami_id=source["ami_id"], region=source["region"], name=details["name"],
            description=details["description"], template=details["template"] or None,
            version=details["version"], category=details["category"], tags=details["tags"],
            visibility=regions["visibility"])
        if regions["regions"]:
            aws_lifecycle.ami_copy_request(ami=ami, user=user, regions=regions["regions"])
    else:
        op = aws_lifecycle.ami_create_request(
            user=user, instance_id=source["instance_id"], region=source["region"],
            template_name=details["template"] or "", name=details["name"], description=details["description"],
            version=details["version"], tags=details["tags"],
            public=regions["visibility"] == AMI.Visibility.PUBLIC, multi_region=regions["regions"])
        op.refresh_from_db()
        ami = op.ami
    if submit and ami is not None:
        ami = ami_services.ami_submit(ami=ami, user=user)
    return ami, op
