"""The preview: which tier *would* answer, without any AWS call (``GET /ami/preview/{template}``,
the template page's availability matrix).

It walks the same tier order as a resolution (``resolver.orchestrator.walk`` with
``dry_run=True``), so it cannot drift from it: each tier does everything it can from the
template's configuration and the registry, and stops where it would call AWS. Unlike a
resolution the walk goes on after the first answer, so ``tried`` shows every tier: ``would_answer``
(a resolution would stop here — a mapped image's availability is not checked), ``may_answer``
(a search that needs AWS to know), or the resolution's own outcomes (skipped, refused,
unavailable, not_found). No institution policy is applied.
"""
from __future__ import annotations

from resolver import costs
from resolver.context import CROSS, FAILED, FOUND, MAY_ANSWER, SCRIPT, SKIPPED, context_build
from resolver.orchestrator import walk
from resolver.validation import split_channel, template_from_ref, validate_request
from templates.models import Template

WOULD_ANSWER = "would_answer"


def resolve_preview(*, template: Template | str, region: str, architecture: str | None = None,
                    strategy: str | None = None, user=None, channel: str | None = None,
                    version: str | None = None) -> dict:
    """Dry run of ``resolver.services.resolve``: the predicted ``resolution_method`` and image, and
    ``may_answer_first``: the tiers before it that might answer instead (they need AWS to know).
    ``channel``/``version`` (and ``template@channel``) as in ``resolve``."""
    template, channel = split_channel(template, channel)
    constraint = validate_request(region=region, architecture=architecture, strategy=strategy, channel=channel,
                                  version=version)
    tpl = template_from_ref(template)
    ctx = context_build(template=tpl, region=region, architecture=architecture, strategy=strategy, user=user,
                        dry_run=True, channel=channel, version_constraint=constraint)
    tier, result = walk(ctx)
    tried = [{**entry, "outcome": WOULD_ANSWER if entry["outcome"] == FOUND else entry["outcome"]}
             for entry in ctx.tried]
    names = [entry["tier"] for entry in tried]
    stop = names.index(tier) if tier != FAILED else len(names)
    candidate = result.candidates[0] if tier != FAILED and result.candidates else None
    return {
        "template_name": tpl.name,
        "target_region": region,
        "strategy": ctx.strategy,
        "architectures": ctx.architectures,
        "resolution_method": tier,
        "ami_id": candidate.image_id if candidate else "",
        "source_region": candidate.region if candidate else region,
        "registry_id": candidate.registry_id if candidate else None,
        "consent_required": tier == CROSS,
        "may_answer_first": [entry["tier"] for entry in tried[:stop] if entry["outcome"] == MAY_ANSWER],
        "tried": tried,
        "aws_calls": 0,
        "preview": True,
        # cws keys: the tiers the resolution would try, and its launch-time estimate
        "fallback_chain": [entry["tier"] for entry in tried[:stop + 1] if entry["outcome"] != SKIPPED],
        "launch_time_estimate_seconds": _launch_seconds(tier, ctx.document),
    }


def _launch_seconds(tier: str, document: dict) -> int:
    """As a resolution would estimate it: a script's setup time, an AMI's boot (0 when none answers)."""
    if tier == FAILED:
        return 0
    return int(costs.script_setup_seconds(document) if tier == SCRIPT else costs.ami_launch_seconds())
