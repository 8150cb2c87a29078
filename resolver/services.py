"""The Universal AMI resolver: which image should template X launch from in region Y, and how.

``resolve()`` tries, in order (ARCHITECTURE.md, *Resolution*; API.md, *Resolver*; one function
each in ``resolver.tiers``, walked by ``resolver.orchestrator``):

1. ``direct_mapping`` — ``ami_config.ami_mappings[region]``, then the legacy
   ``ami_config.amis[region][arch]`` (preferred architecture first, default arm64); the image is
   confirmed ``available`` with EC2 DescribeImages (cached per region and image);
2. ``registry`` — approved community AMIs for the template with an available copy in the region,
   visible to the caller, best first (``resolver.selectors.registry_candidates``); DB only;
3. ``dynamic_search`` — DescribeImages with the template's ``ami_search``, **always with the owner
   pinned** (a search by name alone is refused: that is the "whoAMI" name-squatting attack);
4. ``marketplace`` — DescribeImages by product code (owner pinned to ``aws-marketplace``);
5. ``cross_region`` — tiers 1–3 in each fallback region of ``resolver.regions`` (checked
   concurrently; the first region in map order with an image wins); the answer needs the user's
   consent to copy and says what the copy costs;
6. ``fallback_script`` — provisioning by script on the base OS image (SSM public parameter).

Strategies: ``ami_preferred`` (default) falls back to the script with a warning; ``ami_required``
answers 422 ``no_ami_available`` instead; ``ami_fallback`` provisions by script first when the
template has a script package manager. ``fallback_strategy: error`` forbids the script and
``script_provisioning`` forbids the cross-region tier.

Every tier appends ``{tier, outcome, reason}`` to ``tried`` (outcome: found, not_found, skipped,
refused, unavailable, error) and, unless skipped, its name to ``fallback_chain``. A revoked
registry entry is never returned, whichever tier meets it, and never served from the cache.

This module adds what a resolution needs around the walk: input checks, the resolution cache,
the caller's policy, metrics; and the multi-region test and the cost comparison. These functions
change no state (reads + AWS Describe* calls; ``deep`` tests queue validations through the AMI
lifecycle's own service) and are safe to call from any thread.
"""
from __future__ import annotations

import time

from amis.aws_validate import ami_validate_request
from amis.selectors import ami_get_visible
from registry import aws, metrics
from registry.errors import ApplicationError, Forbidden, Unprocessable
from registry.permissions import is_moderator
from resolver import cache, costs, usage
from resolver.answers import cached_answer_still_valid, now_iso, present, resolution
from resolver.concurrency import in_thread, pool
from resolver.context import ERROR, FAILED, REGISTRY, context_build, preferred_architecture
from resolver.orchestrator import walk
from resolver.selectors import caller_policy
from resolver.validation import (split_channel, template_from_ref, validate_instance_type, validate_regions,
                                 validate_request)
from templates.models import Template

DEFAULT_TEST_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-south-1")


def resolve(*, template: Template | str, region: str, architecture: str | None = None,
            strategy: str | None = None, user=None, details: bool = False, refresh: bool = False,
            policy: str = "enforce", channel: str | None = None, version: str | None = None) -> dict:
    """Resolve ``template`` in ``region`` for ``user`` (None = anonymous). Returns the resolution
    object of API.md. ``strategy`` overrides the template's; ``architecture`` narrows the choice
    (default: the template's preferred_architecture, else arm64, first). ``refresh`` (moderators
    only) skips the resolution and availability caches — used to measure cold resolutions.

    Raises ``InvalidInput`` (bad region/architecture/strategy), ``NotFound`` (unknown template),
    ``Forbidden`` (refresh by a non-moderator), ``Unprocessable(code="no_ami_available")`` with
    ``fallback_chain`` and ``tried`` when the strategy forbids every remaining tier.
    ``policy``: ``enforce`` (default) applies the caller's institution policy to the registry tier;
    ``report`` applies nothing and adds ``policy_report`` (what would be blocked); never cached.
    ``channel`` (also ``template@channel``; default the template's ``ami_config.channel``) and
    ``version`` (a constraint: ``~> 1.4``, ``>= 1.2, < 2``) answer from the versions of the
    template's lineages they name (400 naming the field when malformed).
    """
    started = time.perf_counter()
    template, channel = split_channel(template, channel)
    constraint = validate_request(region=region, architecture=architecture, strategy=strategy, channel=channel,
                                  version=version)
    if refresh and not (user is not None and is_moderator(user)):
        raise Forbidden("refresh (bypassing the cache) is reserved for moderators")
    key = None
    try:
        if cache.enabled() and policy != "report":
            ref = template.slug if isinstance(template, Template) else str(template).strip()
            key = cache.resolution_key(template_ref=ref, region=region, architecture=architecture,
                                       strategy=strategy, user=user, channel=channel, version=version)
            hit, generation_seen = (None, cache.generation()) if refresh else cache.resolution_get(key)
            if hit is not None:
                if cached_answer_still_valid(hit):
                    hit["cached"] = True
                    hit["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
                    metrics.RESOLUTIONS.labels(method=hit["resolution_method"], outcome="cached").inc()
                    usage.resolution_count(hit["resolution_method"])
                    return present(hit, details=details)
                metrics.CACHE_EVENTS.labels(cache="resolution", result="stale").inc()
                cache.resolution_delete(key)
        tpl = template_from_ref(template)
        ctx = context_build(template=tpl, region=region, architecture=architecture, strategy=strategy, user=user,
                            refresh=refresh, channel=channel, version_constraint=constraint)
        ctx.policy, ctx.policy_mode = caller_policy(user), policy
        tier, result = walk(ctx)
        answer = resolution(ctx, tier, result)
        if policy == "report":
            answer["policy_report"] = {"mode": "report", "sources": ctx.policy.sources,
                                       "would_block": ctx.policy_blocked}
        answer["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        # An answer reached while AWS was failing may be a degraded one: don't keep it.
        degraded = ctx.degraded or any(t["outcome"] == ERROR for t in answer["tried"])
        if key is not None and not degraded:
            cache.resolution_set(key, answer, generation_seen=generation_seen)
        metrics.RESOLUTIONS.labels(method=answer["resolution_method"], outcome="resolved").inc()
        usage.resolution_count(answer["resolution_method"])
        return present(answer, details=details)
    except Unprocessable as exc:
        metrics.RESOLUTIONS.labels(method=FAILED, outcome=exc.code).inc()
        usage.resolution_count(FAILED)
        raise
    finally:
        metrics.RESOLUTION_LATENCY.observe(time.perf_counter() - started)


# --- multi-region test, costs -------------------------------------------------------------------------

def resolve_test(*, template: Template | str, regions: list[str] | None = None, all_regions: bool = False,
                 architecture: str | None = None, strategy: str | None = None, user=None,
                 deep: bool = False, caller_region: str = "") -> dict:
    """Resolve ``template`` in many regions concurrently (POST /ami/test). Without ``regions``, the
    default regions plus ``caller_region`` (the request's region) when it is not among them. A region passes when a
    resolution answers — a script fallback counts as passed; ``overall_status`` is passed (all),
    partial (some) or failed (none). ``deep`` also queues the AWS lifecycle's validation of the
    answering registry AMIs."""
    tpl = template_from_ref(template)
    if all_regions:
        targets = list(aws.COMMERCIAL_REGIONS)
    else:
        targets = list(dict.fromkeys(regions or [*DEFAULT_TEST_REGIONS, *([caller_region] if caller_region else [])]))
    validate_regions(targets)
    validate_request(region=targets[0], architecture=architecture, strategy=strategy)

    def one(region: str) -> dict:
        started = time.perf_counter()
        try:
            answer = resolve(template=tpl, region=region, architecture=architecture, strategy=strategy, user=user)
            status, error = "passed", ""
            method, ami_id = answer["resolution_method"], answer["ami_id"]
        except ApplicationError as exc:
            status, error, method, ami_id = "failed", exc.message, FAILED, ""
        except aws.AwsError as exc:
            status, error, method, ami_id = "failed", f"AWS error: {exc.message}", FAILED, ""
        return {"region": region, "status": status, "ami_id": ami_id, "ami": ami_id, "resolution_method": method,
                "error": error,
                "test_duration_ms": round((time.perf_counter() - started) * 1000, 3)}

    workers = pool("test", 16)
    results = [f.result() for f in [workers.submit(in_thread, one, r) for r in targets]]
    passed = sum(1 for r in results if r["status"] == "passed")
    overall = "passed" if passed == len(results) else ("partial" if passed else "failed")
    body = {"template_name": tpl.name, "overall_status": overall,
            "region_results": {r["region"]: r for r in results}, "tested_at": now_iso(),
            "total_regions": len(results), "available_regions": passed}
    if deep:
        body["deep_validation"] = _deep_validate(results, user=user)
    return body


def _deep_validate(results: list[dict], *, user) -> dict:
    """Queue the AWS lifecycle's validation of every registry AMI that answered a region (the one
    place the resolver asks for it); operation ids by region, or why one was not queued."""
    queued = {}
    for r in results:
        if r["status"] != "passed" or not r["ami_id"] or r["resolution_method"] != REGISTRY:
            continue
        ami = ami_get_visible(user=user, ref=r["ami_id"])
        if ami is None:
            continue
        try:
            operation = ami_validate_request(ami=ami, user=user, regions=[r["region"]])
            queued[r["region"]] = str(getattr(operation, "pk", operation))
        except ApplicationError as exc:
            queued[r["region"]] = f"not queued: {exc.message}"
    return {"status": "queued" if queued else "nothing_to_validate", "operations": queued}


def template_costs(*, template: Template | str, region: str, instance_type: str = "",
                   architecture: str | None = None) -> dict:
    """The cws cost comparison (AMI vs script) for ``template`` in ``region`` (no AWS calls)."""
    validate_request(region=region, architecture=architecture, strategy=None)
    tpl = template_from_ref(template)
    arch = architecture or preferred_architecture(tpl.ami_config)
    validate_instance_type(instance_type)
    analysis = costs.cost_analysis(document=tpl.document or {}, region=region, architecture=arch,
                                   instance_type=instance_type, template_name=tpl.name)
    # Ours on top of the cws keys: which type and architecture to run it on, by price and needs.
    analysis["instance_advice"] = template_instance_advice(template=tpl, region=region,
                                                           architecture=architecture)
    return analysis


def template_instance_advice(*, template: Template | str, region: str, architecture: str | None = None) -> dict:
    """Instance type and architecture for ``template`` in ``region`` (``costs.instance_advice``):
    the architectures the template runs on (or the one asked for), its GPU and size needs."""
    validate_request(region=region, architecture=architecture, strategy=None)
    tpl = template_from_ref(template)
    architectures = [architecture] if architecture else tpl.architectures
    advice = costs.instance_advice(document=tpl.document or {}, region=region, architectures=architectures)
    advice["template_name"] = tpl.name
    return advice
