"""Browser pages of the catalogue: browse, the AMI page and its owner actions (edit, submit for
review, copy, deprecate). Thin: parse a form, call the same selector or service as the API, render.

The AMI page is composed: sections of the apps above ``amis`` (reviews and the rating form from
``ratings``, grants from ``sharing``) are added by their receivers of
``amis.signals.ami_page_context`` — ``amis`` renders them without importing those apps. Their
own actions (rate, share) live in ``ratings.views`` / ``sharing.views`` and re-render the page
through ``ami_page_render`` when a form is invalid.

Error handling is uniform: a service's ``ApplicationError`` is shown next to the form field it
names (``form_add_service_errors``) with the service's status code; ``NotFound`` becomes the 404
page (invisible entries are "not found", never "forbidden"), ``Forbidden`` the 403 page.
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import get_template
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError as DRFValidationError

from amis import citation, listing_cache, ranking, software
from amis import selectors as ami_selectors
from amis import services as ami_services
from amis.aws_copy import ami_copy_request
from amis.forms import SORT_CHOICES, AMIEditForm, CopyForm, DeprecateForm, tags_format
from amis.lineage_selectors import ami_version_facts, lineage_detail, lineage_get_visible_or_404
from amis.models import AMI, AMIRegion, Operation
from amis.scanner import ami_scan_report
from amis.operation_selectors import operation_list_for
from amis.selectors import ami_get_visible_or_404, ami_is_owner, ami_require_owner
from amis.signals import ami_page_context
from registry.errors import ApplicationError
from registry.forms import form_add_service_errors
from registry.pagination import CountedPaginator
from registry.web_errors import raise_page_error
from templates.selectors import template_names_by_slug

# Operations shown with a progress bar (the AWS image work a submitter waits for).
PROGRESS_KINDS = (Operation.Kind.CREATE_IMAGE, Operation.Kind.COPY_IMAGE)


def ami_owned_or_deny(request, ref: str) -> AMI:
    """The AMI if the caller owns it. Another user's visible AMI → 403; an invisible one → 404."""
    ami = ami_get_visible_or_404(user=request.user, ref=ref)
    ami_require_owner(user=request.user, ami=ami, message="Only the owner can do this.")
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
            # Templates are counted by slug and shown by name (the slug stays the URL's value).
            names = template_names_by_slug([*counts, current]) if key == "template" else {}
            choices = [(value, names.get(value, value), n)
                       for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        else:
            choices = [(value, label, (counts or {}).get(value)) for value, label in FIXED_FACET_CHOICES[key]]
        groups.append({
            "key": key, "label": FACET_LABELS[key], "current": current,
            "options": [{"value": v, "label": label, "count": n, "selected": v == current,
                         "url": _query(request, **{key: None if v == current else v})}
                        for v, label, n in choices],
        })
    return groups


def _facets_html(request, facets: dict, generation: str | None) -> str:
    """The facets sidebar. Made from the query string, the counts and the templates' names (which
    change only with the generation): cached under all three, unless counted live."""
    def build() -> str:
        return get_template("amis/_facets.html").render({"facet_groups": _facet_groups(request, facets)})
    if generation is None:
        return build()
    return listing_cache.cached_fragment("facets", (generation, sorted(request.GET.lists()), facets), build)


def _active_filters(request) -> list[dict]:
    active = []
    for key in ("q", *FACET_LABELS):
        value = request.GET.get(key, "")
        if value:
            label = "Search" if key == "q" else FACET_LABELS[key]
            if key == "template":
                value = template_names_by_slug([value]).get(value, value)
            active.append({"label": f"{label}: {value}", "remove_url": _query(request, **{key: None})})
    return active


def ami_cards(amis: list[AMI]) -> list[str]:
    """The browse cards (HTML) of ``amis``; the card reads nothing but its AMI (cached per row)."""
    card = get_template("amis/_card.html")
    return [card.render({"ami": ami}) for ami in amis]


@require_GET
def ami_browse(request):
    """``/``: search, facets with counts, sort, pagination; every choice lives in the query string."""
    params = request.GET.copy()
    params.pop("page", None)
    status = 200
    errors: dict = {}
    try:
        result = ami_selectors.ami_search(user=request.user, params=params)
        queryset, facets, count, generation = result.queryset, result.facets, result.count, result.generation
    except DRFValidationError as exc:
        # A hand-edited URL with a bad value: say which parameter, show nothing rather than a 500.
        errors = {k: [str(m) for m in v] for k, v in exc.detail.items()} if isinstance(exc.detail, dict) else {}
        queryset, facets, count, status, generation = AMI.objects.none(), {}, 0, 400, None
    if isinstance(queryset, ami_selectors.AMIPages):
        queryset = queryset.represented("card", ami_cards)
    page = CountedPaginator(queryset, BROWSE_PAGE_SIZE, count=count).get_page(request.GET.get("page"))
    return render(request, "amis/browse.html", {
        "page": page,
        "cards": list(page.object_list),
        "facets_html": _facets_html(request, facets, generation),
        # The sidebar's current choices, kept by the search form (as the sidebar shows them).
        "facet_currents": [(key, request.GET[key]) for key in FACET_LABELS
                           if request.GET.get(key) and (key in facets or key in FIXED_FACET_CHOICES)],
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


def _page_context(request, ami: AMI, forms: dict) -> dict:
    """Everything the AMI page shows; ``forms`` overrides a form with a bound (invalid) one."""
    user = request.user
    is_owner = ami_is_owner(user=user, ami=ami)
    # Sorted here: the selector prefetched the regions (an order_by would query them again).
    regions = sorted(ami.regions.all(), key=lambda r: (not r.is_source, r.region))
    ctx = {
        "ami": ami,
        "is_owner": is_owner,
        # Linked only if the viewer may see it: a private replacement must not leak its name.
        "replacement": (ami_selectors.ami_get_visible(user=user, ref=str(ami.replacement_id))
                        if ami.replacement_id else None),
        "regions": regions,
        "launch_region": _launch_region(regions, ami, request.GET.get("region", "")),
        "available_regions": [r.region for r in regions if r.state == AMIRegion.State.AVAILABLE],
        "template_slug": ami.template.slug if ami.template_id else "",
        "histogram": _histogram_rows(ami_selectors.ami_rating_histogram(ami=ami)),
        "version_info": ami_version_facts(ami=ami, user=user),
        # "Cite this image": the same facts and BibTeX as GET /amis/{ami}/citation.bib.
        "cite": citation.citation_facts(ami),
        "research_links": [("Papers", ami.papers), ("Data sets", ami.datasets), ("Notebooks", ami.notebooks)],
        "cite_bibtex": citation.citation_bibtex(
            ami, url=request.build_absolute_uri(reverse("web:ami-detail", kwargs={"ref": ami.pk}))),
        "software": _software_context(ami, user),
        # "Why this rank" and the stale badge: the same components as the "best" order.
        "rank": ranking.rank_explain(
            ami, can_see=lambda other: ami_selectors.ami_is_visible(user=user, ref=str(other.pk))),
        "launch_rows": ami_selectors.ami_launch_details(ami=ami),
        "scan_report": ami_scan_report(ami=ami),
    }
    if is_owner:
        ctx.update({
            "operations": list(operation_list_for(user=user, ami=ami).filter(kind__in=PROGRESS_KINDS)[:10]),
            "edit_form": forms.get("edit_form") or AMIEditForm(initial={
                "name": ami.name, "description": ami.description, "category": ami.category,
                "version": ami.version, "tags": tags_format(ami.tags)}),
            "copy_form": forms.get("copy_form") or CopyForm(exclude={r.region for r in regions}),
            "deprecate_form": forms.get("deprecate_form") or DeprecateForm(),
            "can_edit": ami.status in ami_services.EDITABLE_STATUSES,
            "can_submit": ami.status in (AMI.Status.DRAFT, AMI.Status.REJECTED),
            "can_deprecate": ami.status == AMI.Status.APPROVED,
            "open_panel": forms.get("open_panel", ""),
        })
    # The sections of the apps above (reviews, grants): each receiver returns its part.
    for _receiver, section in ami_page_context.send(sender=AMI, request=request, ami=ami, is_owner=is_owner,
                                                    forms=forms):
        ctx.update(section or {})
    return ctx


def _software_context(ami: AMI, user) -> dict:
    """The page's software section: highlights, packages, and the diff link to the version it replaced."""
    manifest = software.ami_software_manifest(ami)
    previous = software.ami_software_predecessor(ami)
    # Linked only when the viewer may see it (a private predecessor must not leak).
    if previous is not None and not ami_selectors.ami_is_visible(user=user, ref=str(previous.pk)):
        previous = None
    return {"manifest": manifest, "previous": previous,
            "highlights": [(k, manifest[k]) for k in software.HIGHLIGHTS if manifest.get(k)]}


def ami_page_render(request, ami: AMI, *, exc: ApplicationError | None = None, **forms) -> HttpResponse:
    """The AMI page with bound ``forms`` (an invalid form, or one a service refused): status 400,
    or the service's status code."""
    status = exc.status_code if exc is not None else 400
    return render(request, "amis/detail.html", _page_context(request, ami, forms), status=status)


@require_GET
def ami_detail(request, ref: str):
    ami = ami_get_visible_or_404(user=request.user, ref=ref)
    return render(request, "amis/detail.html", _page_context(request, ami, {}))


@require_GET
def lineage_page(request, lineage_id):
    """A lineage: its channels, its versions (what changed, who approved, regions) and the moves."""
    lineage = lineage_get_visible_or_404(user=request.user, ref=str(lineage_id))
    return render(request, "amis/lineage.html", lineage_detail(lineage=lineage, user=request.user))


@login_required
@require_POST
def ami_edit(request, ref: str):
    ami = ami_owned_or_deny(request, ref)
    form = AMIEditForm(request.POST)
    if form.is_valid():
        try:
            ami_services.ami_update(ami=ami, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            raise_page_error(exc)
            form_add_service_errors(form, exc)
            return ami_page_render(request, ami, exc=exc, edit_form=form, open_panel="edit")
        messages.success(request, "Saved.")
        return redirect("web:ami-detail", ref=ami.pk)
    return ami_page_render(request, ami, edit_form=form, open_panel="edit")


@login_required
@require_POST
def ami_submit_review(request, ref: str):
    ami = ami_owned_or_deny(request, ref)
    try:
        ami = ami_services.ami_submit(ami=ami, user=request.user)
    except ApplicationError as exc:
        raise_page_error(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, "Submitted: a moderator will review it." if ami.status == AMI.Status.PENDING_REVIEW
                         else "Ready: you and the people you share it with can use it now.")
    return redirect("web:ami-detail", ref=ami.pk)


@login_required
@require_POST
def ami_copy(request, ref: str):
    """Queue copies to more regions, then show their progress."""
    ami = ami_owned_or_deny(request, ref)
    form = CopyForm(request.POST, exclude={r.region for r in ami.regions.all()})
    if form.is_valid():
        try:
            ami_copy_request(ami=ami, user=request.user, regions=form.cleaned_data["regions"])
        except ApplicationError as exc:
            raise_page_error(exc)
            form_add_service_errors(form, exc)
            return ami_page_render(request, ami, exc=exc, copy_form=form, open_panel="copy")
        return redirect("web:ami-progress", ref=ami.pk)
    return ami_page_render(request, ami, copy_form=form, open_panel="copy")


@login_required
@require_POST
def ami_deprecate(request, ref: str):
    ami = ami_owned_or_deny(request, ref)
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
                raise_page_error(exc)
                form_add_service_errors(form, exc)
                return ami_page_render(request, ami, exc=exc, deprecate_form=form, open_panel="deprecate")
            messages.success(request, "Marked as deprecated.")
            return redirect("web:ami-detail", ref=ami.pk)
    return ami_page_render(request, ami, deprecate_form=form, open_panel="deprecate")


# --- Diff -----------------------------------------------------------------------------------------------

@require_GET
def ami_diff_page(request):
    """``/amis/diff/?a=&b=``: what changed between two images (the API's ``GET /amis/diff``)."""
    refs = {k: request.GET.get(k, "").strip() for k in ("a", "b")}
    context: dict = {"refs": refs, "diff": None}
    if refs["a"] and refs["b"]:
        a = ami_get_visible_or_404(user=request.user, ref=refs["a"])
        b = ami_get_visible_or_404(user=request.user, ref=refs["b"])
        diff = software.ami_software_diff(a, b)
        context.update({
            "a": a, "b": b, "diff": diff,
            # Facts either image states, in FACT_KEYS order; "from" is not a template-friendly key.
            "fact_rows": [(k, diff[k]) for k in software.FACT_KEYS if diff[k]["a"] or diff[k]["b"]],
            "changed": [{**c, "old": c["from"]} for c in diff["changed"]],
        })
    return render(request, "amis/diff.html", context)
