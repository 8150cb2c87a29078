"""The workstation template page: readable ami_config, community AMIs, availability matrix and
cost comparison. It lives in the resolver app because it composes templates, the catalogue and
the resolver (imports point left: templates ← amis ← resolver)."""
from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from amis.selectors import ami_search
from registry import aws
from registry.errors import ApplicationError, Unprocessable
from resolver.context import CROSS, DIRECT, DYNAMIC, FAILED, MARKETPLACE, REGISTRY, SCRIPT
from resolver.selectors import published_parameters, ssm_last_sync
from resolver.services import resolve, template_costs, template_instance_advice
from templates.selectors import template_get

# The regions of the matrix and the cost table: the resolver's default test regions
# (API.md, POST /ami/test) plus two more continents.
MATRIX_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "ap-northeast-1")
COST_REGIONS = ("us-east-1", "eu-west-1", "ap-south-1")
COMMUNITY_AMIS_SHOWN = 12

TIER_LABELS = {
    DIRECT: "Direct mapping",
    REGISTRY: "Community registry",
    DYNAMIC: "Discovery",
    MARKETPLACE: "Marketplace",
    CROSS: "Cross-region copy",
    SCRIPT: "Script provisioning",
    FAILED: "No AMI",
}


def _readable(value, depth: int = 0):
    """A nested YAML value as rows the template can show without knowing the schema."""
    if isinstance(value, dict):
        return {"kind": "dict", "items": [(str(k), _readable(v, depth + 1)) for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return {"kind": "scalar", "value": ", ".join(str(v) for v in value) or "—"}
        return {"kind": "list", "items": [_readable(v, depth + 1) for v in value]}
    if value is None or value == "":
        return {"kind": "scalar", "value": "—"}
    return {"kind": "scalar", "value": str(value)}


def _matrix(template, user) -> list[dict]:
    """Which tier answers in each region: the resolver's own answer for this visitor (cached like any
    resolution), so the table and ``cws ami resolve`` never disagree."""
    rows = []
    for region in MATRIX_REGIONS:
        try:
            answer = resolve(template=template, region=region, user=user)
        except Unprocessable as exc:      # the strategy forbids every remaining tier (ami_required)
            answer = {"resolution_method": FAILED, "warning": exc.message}
        except (ApplicationError, aws.AwsError) as exc:
            answer = {"resolution_method": FAILED, "warning": f"not resolved: {exc.message}"}
        method = answer.get("resolution_method") or FAILED
        source = answer.get("source_region") or ""
        rows.append({"region": region, "method": method, "label": TIER_LABELS.get(method, method),
                     "ami_id": answer.get("ami_id") or "", "source_region": source if source != region else "",
                     "warning": answer.get("warning") or ""})
    return rows


@require_GET
def template_detail(request, ref: str):
    template = template_get(ref)
    if template is None:
        raise Http404("template not found")
    document = template.document or {}
    architectures = document.get("architectures") or ["x86_64"]
    community = list(ami_search(user=request.user, params={"template": template.slug}).queryset[:COMMUNITY_AMIS_SHOWN])
    cost_rows = [template_costs(template=template, region=region) for region in COST_REGIONS]
    advice_rows = [template_instance_advice(template=template, region=region) for region in COST_REGIONS]
    return render(request, "templates/detail.html", {
        "template": template,
        "ami_config": _readable(template.ami_config) if template.ami_config else None,
        "ami_mappings": (template.ami_config or {}).get("ami_mappings") or {},
        "architectures": architectures,
        "community_amis": community,
        "matrix": _matrix(template, request.user),
        "cost_rows": cost_rows,
        "advice_rows": advice_rows,
    })


@require_GET
def ssm_parameters_page(request):
    """What the registry publishes as SSM parameters, where, and when it last synced."""
    return render(request, "resolver/ssm.html", {"parameters": list(published_parameters()),
                                                 "last_sync": ssm_last_sync()})
