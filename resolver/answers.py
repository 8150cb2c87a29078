"""The resolution object (API.md, *Resolver*: the cws field names are fixed), built in one place
from the tier that answered; the 422 ``no_ami_available`` when none may; and the check a cached
answer must pass before it is served again.
"""
from __future__ import annotations

from datetime import UTC, datetime

from registry.errors import Unprocessable
from resolver import costs
from resolver.context import CROSS, FAILED, SCRIPT, SKIPPED, Candidate, ResolutionContext, TierResult
from resolver.selectors import image_id_is_revoked, registry_answer_still_valid

WARNING_NO_CONFIG = "No AMI configuration found, using script provisioning"
WARNING_AMI_UNAVAILABLE = "AMI not available, using script provisioning"
WARNING_NO_SCRIPT = "Script provisioning not available, using AMI"

# Kept in the cached answer, shown only with details=true.
DETAIL_FIELDS = ("region_checks", "cost_analysis")


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def fallback_chain(ctx: ResolutionContext) -> list[str]:
    """The tiers actually tried, in order: everything in ``tried`` but what was skipped."""
    chain = []
    for entry in ctx.tried:
        if entry["outcome"] != SKIPPED and entry["tier"] not in chain:
            chain.append(entry["tier"])
    return chain


def _warning(ctx: ResolutionContext, tier: str, result: TierResult, candidate: Candidate | None,
             copy_minutes: int) -> str:
    if tier == SCRIPT:
        if ctx.script_first:
            warning = "" if ctx.configured else WARNING_NO_CONFIG
        else:
            warning = WARNING_AMI_UNAVAILABLE if ctx.configured else WARNING_NO_CONFIG
        if result.problem:
            # The script answer stands: the client provisions on a base image it chooses itself.
            warning = f"{warning} ({result.problem})" if warning else result.problem
        return warning
    warning = WARNING_NO_SCRIPT if ctx.strategy == "ami_fallback" else ""
    if tier == CROSS:
        note = (f"AMI found in {candidate.region}; copying it to {ctx.region} needs your consent "
                f"(about {copy_minutes} min)")
        warning = f"{warning}; {note}" if warning else note
    return warning


def resolution(ctx: ResolutionContext, tier: str, result: TierResult) -> dict:
    """The answer of ``tier`` (as ``orchestrator.walk`` returned it); raises the 422 when it is
    ``failed``. Costs, launch time and the copy estimate come from ``resolver.costs``."""
    if tier == FAILED:
        raise no_ami_available(ctx, why=result.reason)
    candidate = result.candidates[0] if result.candidates else None
    document = ctx.document
    architecture = (candidate.architecture if candidate and candidate.architecture else ctx.architectures[0])
    size = candidate.size_gb if candidate else None
    analysis = costs.cost_analysis(document=document, region=ctx.region, architecture=architecture, size_gb=size,
                                   template_name=ctx.template.name)
    copy = None
    consent = False
    copy_minutes = 0
    source_region = candidate.region if candidate else ctx.region
    if tier == SCRIPT:
        launch_seconds = costs.script_setup_seconds(document)
        estimated_cost = analysis["boot_cost"] + analysis["script_setup_cost"]
        savings = 0.0
    else:
        launch_seconds = costs.ami_launch_seconds()
        estimated_cost = analysis["boot_cost"]
        savings = analysis["script_setup_cost"] - analysis["ami_setup_cost"]
        if tier == CROSS:
            estimate = costs.copy_estimate(source_region=candidate.region, target_region=ctx.region, size_gb=size)
            copy_minutes = estimate["estimated_minutes"]
            copy = {"source_region": candidate.region, "source_ami_id": candidate.image_id,
                    "estimated_cost": estimate["estimated_cost"], "estimated_minutes": copy_minutes}
            consent = True
            launch_seconds += copy_minutes * 60
            estimated_cost += estimate["estimated_cost"]
    return {
        # cws fields (API.md: names are fixed)
        "template_name": ctx.template.name,
        "target_region": ctx.region,
        "resolution_method": tier,
        "ami_id": candidate.image_id if candidate else "",
        "ami_name": candidate.name if candidate else "",
        "ami_architecture": architecture,
        "ami_description": candidate.description if candidate else "",
        "launch_time_estimate_seconds": int(launch_seconds),
        "cost_savings": round(savings, 5),
        "warning": _warning(ctx, tier, result, candidate, copy_minutes),
        "fallback_chain": fallback_chain(ctx),
        "ami_details": {
            "creation_date": candidate.creation_date if candidate else "",
            "owner_id": candidate.owner_id if candidate else "",
            "public": bool(candidate.public) if candidate else False,
            "marketplace_cost": candidate.marketplace_cost if candidate else 0.0,
            "platform": candidate.platform if candidate else "",
            "virtualization": candidate.virtualization if candidate else "",
            "root_device": candidate.root_device if candidate else "",
        },
        # ours
        "strategy": ctx.strategy,
        "source_region": source_region,
        "registry_id": candidate.registry_id if candidate else None,
        "channel": ctx.channel or "",
        "version_constraint": str(ctx.version_constraint) if ctx.version_constraint is not None else "",
        "version": candidate.version if candidate else "",
        "estimated_cost": round(estimated_cost, 5),
        "consent_required": consent,
        "copy": copy,
        "base_image_parameter": result.base_image_parameter,
        "tried": list(ctx.tried),
        "cached": False,
        "duration_ms": 0.0,
        "resolved_at": now_iso(),
        # kept for details=true
        "region_checks": list(ctx.region_checks),
        "cost_analysis": analysis,
    }


def no_ami_available(ctx: ResolutionContext, *, why: str) -> Unprocessable:
    """The 422 of a strategy that forbids every remaining tier (body: API.md, *Resolver*)."""
    return Unprocessable(
        f"no AMI available for template '{ctx.template.name}' in {ctx.region} ({why})",
        code="no_ami_available",
        extra={"template_name": ctx.template.name, "target_region": ctx.region, "strategy": ctx.strategy,
               "resolution_method": FAILED, "fallback_chain": fallback_chain(ctx), "tried": list(ctx.tried)})


def present(answer: dict, *, details: bool) -> dict:
    if not details:
        answer = {k: v for k, v in answer.items() if k not in DETAIL_FIELDS}
    return answer


def cached_answer_still_valid(answer: dict) -> bool:
    """Re-check the AMI a cached answer names (one indexed query): revoked, deprecated or a copy no
    longer available → the cached answer is dropped and the resolution recomputed."""
    image_id = answer.get("ami_id") or ""
    if answer.get("registry_id"):
        return registry_answer_still_valid(registry_id=answer["registry_id"],
                                           region=answer.get("source_region") or answer["target_region"],
                                           image_id=image_id)
    if image_id and answer.get("resolution_method") != SCRIPT:
        return not image_id_is_revoked(image_id)
    return True
