"""The submit wizard (``/submit/<step>/``): source → details → regions → review & confirm.

A page composed across apps — the catalogue's services, the templates to choose from and the
resolver's cost model for the per-region copy estimates — so it sits with the composers, above
every app, instead of making ``amis`` import the resolver. It keeps its answers in the session
(nothing is written until the last step is confirmed, so a half-finished wizard leaves no draft
behind); step 1 runs the very checks of the services (``amis.wizard_services.ami_source_check``),
and the last step is one service call (``ami_submit_from_wizard``).
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from amis.forms import WizardConfirmForm, WizardMetadataForm, WizardRegionsForm, WizardSourceForm, tags_format
from amis.wizard_services import SOURCE_CREATE, ami_source_check, ami_submit_from_wizard
from registry.errors import ApplicationError
from registry.forms import form_add_service_errors
from registry.web_errors import raise_page_error
from resolver.costs import copy_estimate
from templates.selectors import template_list

WIZARD_SESSION_KEY = "submit_wizard"
WIZARD_STEPS = [("source", "Source"), ("details", "Details"), ("regions", "Regions & visibility"),
                ("review", "Review & confirm")]


def _posted(request):
    """The POST data for a bound form, or None on GET (an empty POST must still bind the form)."""
    return request.POST if request.method == "POST" else None


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


def _source_check(form: WizardSourceForm, user) -> dict | None:
    """Step 1: the services' own checks of the image (or instance) in that region. Returns facts
    to pre-fill step 2, or None after putting the service's error next to the field."""
    data = form.cleaned_data
    try:
        return ami_source_check(user=user, mode=data["mode"], region=data["region"], ami_id=data["ami_id"],
                                instance_id=data["instance_id"])
    except ApplicationError as exc:
        raise_page_error(exc)
        form_add_service_errors(form, exc)
        return None


def _copy_estimates(source_region: str, regions, size_gb) -> dict[str, dict]:
    """Copy cost and time per target region from the resolver's cost model (pure functions)."""
    return {region: copy_estimate(source_region=source_region, target_region=region, size_gb=size_gb)
            for region in regions}


def _template_choices() -> list[tuple[str, str]]:
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
        return redirect("web:submit-step", step=missing)
    source = state.get("source", {})
    ctx: dict = {"step": step, "steps": [{"key": k, "label": label, "done": k in state, "number": i + 1}
                                         for i, (k, label) in enumerate(WIZARD_STEPS)], "state": state}

    if step == "source":
        form = WizardSourceForm(_posted(request), initial=source or None)
        if request.method == "POST" and form.is_valid():
            facts = _source_check(form, request.user)
            if facts is not None:
                state = {"source": {**{k: form.cleaned_data[k] for k in ("mode", "ami_id", "instance_id", "region")},
                                    "facts": facts}}
                _wizard_save(request, state)
                return redirect("web:submit-step", step="details")
    elif step == "details":
        initial = state.get("details") or {"name": source.get("facts", {}).get("name", ""),
                                           "description": source.get("facts", {}).get("description", "")}
        form = WizardMetadataForm(_posted(request), initial=initial, template_choices=_template_choices(),
                                  template_required=source.get("mode") == SOURCE_CREATE)
        if request.method == "POST" and form.is_valid():
            state["details"] = form.cleaned_data
            _wizard_save(request, state)
            return redirect("web:submit-step", step="regions")
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
            return redirect("web:submit-step", step="review")
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
                ami, op = _wizard_submit(request.user, state, submit=submit)
            except ApplicationError as exc:
                raise_page_error(exc)
                form_add_service_errors(form, exc, field_map={"template_name": None, "multi_region": None})
                ctx["form"] = form
                return render(request, "amis/submit.html", ctx, status=exc.status_code)
            request.session.pop(WIZARD_SESSION_KEY, None)
            if ami is None:
                messages.success(request, "Image creation started. When it is ready, submit it for review "
                                          "from its page." if submit else "Image creation started.")
                return redirect("web:operation-progress", op_id=op.pk)
            messages.success(request, "Submitted for review. Image progress is shown below." if submit
                             else "Saved as a draft. Image progress is shown below.")
            return redirect("web:ami-progress", ref=ami.pk)
    ctx["form"] = form
    status = 400 if request.method == "POST" else 200
    return render(request, "amis/submit.html", ctx, status=status)


def _wizard_submit(user, state: dict, *, submit: bool):
    """Step 4: the wizard's answers → the one service that registers (or creates), copies, submits."""
    source, details, regions = state["source"], state["details"], state["regions"]
    return ami_submit_from_wizard(
        user=user, mode=source["mode"], region=source["region"], ami_id=source.get("ami_id", ""),
        instance_id=source.get("instance_id", ""), name=details["name"], description=details.get("description", ""),
        template=details.get("template") or "", category=details.get("category", ""),
        version=details.get("version", ""), tags=details.get("tags"), visibility=regions["visibility"],
        copy_regions=regions.get("regions") or [], submit=submit)
