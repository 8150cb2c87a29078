"""Runs the tier order once: for a resolution, up to the first tier that answers; for a preview
(``ctx.dry_run``), through every tier of the same order, each stopping where it would call AWS.

The order is ``resolver.tiers.TIERS``, except that ``ami_fallback`` provisions by script first
when the template can (then no AMI tier is consulted at all). The preview and the resolution ask
``tier_order`` for it, so they cannot disagree about which tier comes when.
"""
from __future__ import annotations

from resolver.context import FAILED, SCRIPT, ResolutionContext, TierResult, config_image_ids
from resolver.regions import fallback_regions
from resolver.selectors import image_ids_revoked, registry_candidates
from resolver.tiers import SEARCH_TIERS, TIERS, fallback_script, without_revoked

SCRIPT_FIRST = ((SCRIPT, fallback_script),)


def tier_order(ctx: ResolutionContext) -> tuple:
    """The ``(name, tier)`` pairs this request walks through, in order."""
    return SCRIPT_FIRST if ctx.script_first else TIERS


def _read_registry_facts(ctx: ResolutionContext) -> None:
    """One query for the registry tier of this region and of every fallback region; one for the
    template's own image ids that a moderator has revoked. Read before any tier runs, so the
    region tiers need no database inside the cross-region tier's threads."""
    regions = [ctx.region, *fallback_regions(ctx.region)]
    ctx.registry_rows = registry_candidates(template=ctx.template, regions=regions,
                                            architectures=ctx.architectures, user=ctx.user, channel=ctx.channel,
                                            version_constraint=ctx.version_constraint)
    ctx.revoked_config_ids = image_ids_revoked(config_image_ids(ctx.config))


def walk(ctx: ResolutionContext) -> tuple[str, TierResult]:
    """Every tier of ``tier_order`` in the target region, each recorded in ``ctx.tried``. Returns
    the first tier that answers and its result; ``(FAILED, last result)`` when none does (the
    last is the script tier, whose reason says why the strategy forbids it). A resolution stops
    at the first answer; a dry run walks on, so the preview lists what every tier would say."""
    order = tier_order(ctx)
    if order is not SCRIPT_FIRST:
        _read_registry_facts(ctx)
    answer: tuple[str, TierResult] | None = None
    result = None
    for name, tier in order:
        result = tier(ctx, ctx.region)
        if name in SEARCH_TIERS:
            result = without_revoked(result)
        ctx.record(name, result)
        if result.answers and answer is None:
            answer = (name, result)
            if not ctx.dry_run:
                break
    return answer or (FAILED, result)
