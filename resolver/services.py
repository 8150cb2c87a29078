"""The Universal AMI resolver: which image should template X launch from in region Y, and how.

``resolve()`` tries, in order (ARCHITECTURE.md, *Resolution*; API.md, *Resolver*):

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

These functions change no state (reads + AWS Describe* calls): they are called by the API views,
the ``test`` endpoint and the benchmark, and are safe to call from any thread.
"""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connections

from amis.models import AMIRegion
from registry import aws, metrics
from registry.errors import ApplicationError, Forbidden, InvalidInput, NotFound, Unprocessable
from registry.permissions import is_moderator
from resolver import cache, costs
from resolver.regions import fallback_regions
from resolver.selectors import (image_id_is_revoked, image_ids_revoked, registry_answer_still_valid,
                                registry_candidates)
from templates.models import Template
from templates.selectors import template_get

STRATEGIES = ("ami_preferred", "ami_required", "ami_fallback")
ARCHITECTURES = ("arm64", "x86_64")
DEFAULT_PREFERRED_ARCHITECTURE = "arm64"
DEFAULT_TEST_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-south-1")
_INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")

DIRECT, REGISTRY, DYNAMIC, MARKETPLACE, CROSS, SCRIPT = (
    "direct_mapping", "registry", "dynamic_search", "marketplace", "cross_region", "fallback_script")
FAILED = "failed"

WARNING_NO_CONFIG = "No AMI configuration found, using script provisioning"
WARNING_AMI_UNAVAILABLE = "AMI not available, using script provisioning"
WARNING_NO_SCRIPT = "Script provisioning not available, using AMI"

# How many images a dynamic search hands on (newest first) so revoked ones can be skipped.
_SEARCH_KEEP = 5

# SSM public parameters of base OS images, by template ``base`` ({arch} is amd64/arm64 for
# Canonical and Debian, x86_64/arm64 for Amazon Linux). Rocky Linux publishes no public SSM
# parameter (Marketplace only); ``ami-based`` templates have no base OS by definition.
BASE_IMAGE_PARAMETERS = {
    "ubuntu-20.04": "/aws/service/canonical/ubuntu/server/20.04/stable/current/{deb_arch}/hvm/ebs-gp2/ami-id",
    "ubuntu-22.04": "/aws/service/canonical/ubuntu/server/22.04/stable/current/{deb_arch}/hvm/ebs-gp2/ami-id",
    "ubuntu-24.04": "/aws/service/canonical/ubuntu/server/24.04/stable/current/{deb_arch}/hvm/ebs-gp3/ami-id",
    "amazonlinux-2023": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{aws_arch}",
    "amazonlinux-2": "/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-{aws_arch}-gp2",
    "debian-12": "/aws/service/debian/release/12/latest/{deb_arch}",
}


# --- small value types -------------------------------------------------------------------------

@dataclass
class Candidate:
    """An image that can answer a resolution (found by one tier in one region)."""

    image_id: str
    region: str
    tier: str
    name: str = ""
    architecture: str = ""
    description: str = ""
    creation_date: str = ""
    owner_id: str = ""
    public: bool = False
    size_gb: float | None = None
    registry_id: str | None = None
    marketplace_cost: float = 0.0


@dataclass
class TierResult:
    outcome: str                      # found | not_found | skipped | refused | unavailable | error
    reason: str
    candidates: list[Candidate] = field(default_factory=list)


@dataclass
class _Context:
    template: Template
    region: str
    architectures: list[str]          # to accept, preferred first
    requested_architecture: str | None
    strategy: str
    fallback_strategy: str | None
    user: object
    refresh: bool = False             # bypass the availability cache (moderators' cold runs)
    tried: list[dict] = field(default_factory=list)
    registry_rows: dict = field(default_factory=dict)     # {region: [AMIRegion]}
    revoked_config_ids: set = field(default_factory=set)
    region_checks: list[dict] = field(default_factory=list)
    degraded: bool = False            # an AWS error shaped the answer: do not cache it
    # Institution policy (registry/policy.py): "enforce" skips forbidden registry AMIs, "report"
    # only lists what would be skipped (``policy_report`` in the answer).
    policy: object = None
    policy_mode: str = "enforce"
    policy_blocked: list = field(default_factory=list)

    @property
    def document(self) -> dict:
        return self.template.document or {}

    @property
    def config(self) -> dict:
        value = self.document.get("ami_config")
        return value if isinstance(value, dict) else {}

    def record(self, tier: str, result: TierResult, region: str | None = None) -> None:
        entry = {"tier": tier, "outcome": result.outcome, "reason": result.reason}
        if region and region != self.region:
            entry["region"] = region
        self.tried.append(entry)


# --- validation ------------------------------------------------------------------------------------

def _validate(*, region: str, architecture: str | None, strategy: str | None) -> None:
    errors = {}
    if not aws.is_known_region(region or ""):
        errors["region"] = [f"unknown AWS region '{region}'" if region else "This field is required."]
    if architecture is not None and architecture not in ARCHITECTURES:
        errors["architecture"] = [f"invalid architecture '{architecture}', must be one of: x86_64, arm64"]
    if strategy is not None and strategy not in STRATEGIES:
        errors["strategy"] = [f"invalid AMI strategy '{strategy}', must be one of: {', '.join(STRATEGIES)}"]
    if errors:
        raise InvalidInput("; ".join(m for msgs in errors.values() for m in msgs), errors=errors)


def _template(template: Template | str) -> Template:
    if isinstance(template, Template):
        return template
    # NUL cannot be sent to PostgreSQL and no name is that long: neither can name a template.
    if not isinstance(template, str) or "\x00" in template or len(template) > 300:
        raise NotFound("template not found")
    found = template_get(template)
    if found is None:
        raise NotFound(f"template '{template}' not found")
    return found


def _has_ami_config(config: dict) -> bool:
    return any(config.get(key) for key in ("ami_mappings", "amis", "ami_search", "marketplace_search"))


def _preferred_architecture(config: dict) -> str:
    preferred = config.get("preferred_architecture")
    return preferred if preferred in ARCHITECTURES else DEFAULT_PREFERRED_ARCHITECTURE


def _context(*, template: Template, region: str, architecture: str | None, strategy: str | None, user,
             refresh: bool = False) -> _Context:
    config = template.ami_config if isinstance(template.ami_config, dict) else {}
    template_strategy = config.get("strategy") if config.get("strategy") in STRATEGIES else "ami_preferred"
    if architecture:
        archs = [architecture]
    else:
        preferred = _preferred_architecture(config)
        archs = [preferred] + [a for a in ARCHITECTURES if a != preferred]
    fallback_strategy = config.get("fallback_strategy") or None
    return _Context(template=template, region=region, architectures=archs, requested_architecture=architecture,
                    strategy=strategy or template_strategy, fallback_strategy=fallback_strategy, user=user,
                    refresh=refresh)


def _config_image_ids(config: dict) -> set[str]:
    """Every image id the template names (``ami_mappings`` and legacy ``amis``), all regions."""
    ids = {v for v in (config.get("ami_mappings") or {}).values() if isinstance(v, str)}
    for per_arch in (config.get("amis") or {}).values():
        if isinstance(per_arch, dict):
            ids.update(v for v in per_arch.values() if isinstance(v, str))
    return ids


# --- AWS facts (cached) -----------------------------------------------------------------------------

def _summarise(image: dict | None) -> dict:
    if not image:
        return {"state": "missing"}
    size = sum((m.get("Ebs") or {}).get("VolumeSize") or 0 for m in image.get("BlockDeviceMappings") or [])
    return {
        "state": image.get("State", ""),
        "name": image.get("Name", "") or "",
        "architecture": image.get("Architecture", "") or "",
        "description": image.get("Description", "") or "",
        "creation_date": image.get("CreationDate", "") or "",
        "owner_id": image.get("OwnerId", "") or "",
        "public": bool(image.get("Public", False)),
        "size_gb": size or None,
        "product_codes": [p.get("ProductCodeId") for p in image.get("ProductCodes") or []],
    }


def image_availability(region: str, image_id: str, *, refresh: bool = False) -> dict:
    """DescribeImages summary of one image in one region (``state`` is "missing" when it does not
    exist there), cached per (region, image) for ``REGISTRY_AVAILABILITY_CACHE_TTL``."""
    if not refresh:
        hit = cache.availability_get(region, image_id)
        if hit is not None:
            return hit
    summary = _summarise(aws.describe_image(region, image_id))
    cache.availability_set(region, image_id, summary)
    return summary


def _candidate_from_summary(image_id: str, region: str, tier: str, summary: dict) -> Candidate:
    return Candidate(image_id=image_id, region=region, tier=tier, name=summary.get("name", ""),
                     architecture=summary.get("architecture", ""), description=summary.get("description", ""),
                     creation_date=summary.get("creation_date", ""), owner_id=summary.get("owner_id", ""),
                     public=bool(summary.get("public")), size_gb=summary.get("size_gb"))


# --- tiers ---------------------------------------------------------------------------------------------

def _tier_direct(ctx: _Context, region: str) -> TierResult:
    """ami_mappings[region], then legacy amis[region][arch], each confirmed available with EC2."""
    config = ctx.config
    wanted: list[tuple[str, str | None, str]] = []          # (image id, expected arch, where from)
    mapped = (config.get("ami_mappings") or {}).get(region)
    if isinstance(mapped, str) and mapped:
        wanted.append((mapped, None, f"ami_mappings.{region}"))
    legacy = (config.get("amis") or {}).get(region)
    if isinstance(legacy, dict):
        for arch in ctx.architectures:
            if isinstance(legacy.get(arch), str) and legacy[arch]:
                wanted.append((legacy[arch], arch, f"amis.{region}.{arch}"))
    if not wanted:
        return TierResult("skipped", f"no ami_mappings for {region}")
    reasons = []
    for image_id, expected_arch, source in wanted:
        if not aws.is_ami_id(image_id):
            reasons.append(f"{source}: '{image_id}' is not a valid AMI id")
            continue
        if image_id in ctx.revoked_config_ids:
            reasons.append(f"{source}: {image_id} is revoked in the registry")
            continue
        try:
            summary = image_availability(region, image_id, refresh=ctx.refresh)
        except aws.AwsError as exc:
            reasons.append(f"{source}: EC2 error checking {image_id}: {exc.message}")
            continue
        if summary["state"] != "available":
            reasons.append(f"{source}: {image_id} is {summary['state']} in {region}")
            continue
        arch = summary.get("architecture") or expected_arch
        if arch not in ctx.architectures:
            reasons.append(f"{source}: {image_id} is {arch}, not {'/'.join(ctx.architectures)}")
            continue
        found = _candidate_from_summary(image_id, region, DIRECT, summary)
        found.architecture = arch or ""
        return TierResult("found", f"{source} → {image_id} (available)", [found])
    outcome = "error" if any("EC2 error" in r for r in reasons) and len(reasons) == len(wanted) else "unavailable"
    return TierResult(outcome, "; ".join(reasons))


def _tier_registry(ctx: _Context, region: str) -> TierResult:
    rows = ctx.registry_rows.get(region) or []
    if not rows:
        return TierResult("not_found", f"no approved community AMI for this template with an available copy "
                                       f"in {region} ({'/'.join(ctx.architectures)})")
    from registry.policy import policy_check

    found, refused = [], []
    for row in rows:
        ami = row.ami
        reasons = policy_check(ami, ctx.policy, region=region) if ctx.policy is not None else []
        if reasons:
            ctx.policy_blocked.append({"ami_id": row.image_id, "registry_id": str(ami.pk), "region": region,
                                       "reasons": reasons})
            if ctx.policy_mode == "enforce":
                refused.append(f"'{ami.name}' ({row.image_id}): {'; '.join(reasons)}")
                continue
        found.append(Candidate(
            image_id=row.image_id, region=region, tier=REGISTRY, name=ami.name, architecture=ami.architecture,
            description=ami.description, creation_date=ami.image_creation_date or ami.created_at.isoformat(),
            owner_id=ami.owner_account_id, public=ami.visibility == ami.Visibility.PUBLIC, size_gb=ami.size_gb,
            registry_id=str(ami.pk)))
    if not found:
        return TierResult("refused", "institution policy forbids every community AMI here: " + " | ".join(refused))
    best = found[0]
    skipped = f"; skipped by institution policy: {' | '.join(refused)}" if refused else ""
    return TierResult("found", f"community AMI '{best.name}' ({best.registry_id}){skipped}", found)


def _tier_dynamic(ctx: _Context, region: str) -> TierResult:
    """DescribeImages with the template's ami_search — owner pinned, or no search at all."""
    search = ctx.config.get("ami_search")
    if not isinstance(search, dict) or not search:
        return TierResult("skipped", "no ami_search configured")
    owner = str(search.get("owner") or "").strip()
    if not owner:
        # NOTE: searching public images by name without an owner lets anyone publish a matching,
        # newer image and have it chosen ("whoAMI" name confusion). Never do it.
        return TierResult("refused", "ami_search has no owner: searching by name without pinning an owner "
                                     "is refused (whoAMI name-squatting defence)")
    allowed = search.get("architecture") or list(ARCHITECTURES)
    allowed = [allowed] if isinstance(allowed, str) else list(allowed)
    archs = [a for a in ctx.architectures if a in allowed]
    if not archs:
        return TierResult("skipped", f"ami_search.architecture {allowed} excludes {'/'.join(ctx.architectures)}")
    filters = [{"Name": "state", "Values": ["available"]}, {"Name": "architecture", "Values": archs}]
    if search.get("name_pattern"):
        filters.append({"Name": "name", "Values": [str(search["name_pattern"])]})
    tags = dict(search.get("required_tags") or {})
    if search.get("version_tag"):
        tags["Version"] = search["version_tag"]
    for key, value in sorted(tags.items()):
        filters.append({"Name": f"tag:{key}", "Values": [str(value)]})
    try:
        images = aws.call(region, "ec2", "describe_images", Owners=[owner], Filters=filters).get("Images", [])
    except aws.AwsNotFound as exc:
        return TierResult("not_found", f"DescribeImages (owner {owner}): {exc.message}")
    except aws.AwsError as exc:
        return TierResult("error", f"DescribeImages failed in {region}: {exc.message}")
    # NOTE: filtered here rather than with the `creation-date` filter: that filter takes wildcards,
    # not a range, and the local emulator answers it with nothing.
    min_date = str(search.get("min_creation_date") or "")[:10]
    if min_date:
        images = [i for i in images if (i.get("CreationDate") or "")[:10] >= min_date]
    images = [i for i in images if i.get("State") == "available" and i.get("Architecture") in archs]
    if not images:
        what = f"owner {owner}" + (f", name {search.get('name_pattern')}" if search.get("name_pattern") else "")
        if tags:
            what += ", tags " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))
        if min_date:
            what += f", created on/after {min_date}"
        return TierResult("not_found", f"no available image in {region} for {what}")
    images.sort(key=lambda i: i.get("CreationDate") or "", reverse=True)           # newest first ...
    images.sort(key=lambda i: archs.index(i.get("Architecture")))                   # ... within arch preference
    found = []
    for image in images[:_SEARCH_KEEP]:
        summary = _summarise(image)
        cache.availability_set(region, image["ImageId"], summary)
        found.append(_candidate_from_summary(image["ImageId"], region, DYNAMIC, summary))
    return TierResult("found", f"newest match {found[0].image_id} ({found[0].name}, {found[0].creation_date})",
                      found)


def _tier_marketplace(ctx: _Context, region: str) -> TierResult:
    search = ctx.config.get("marketplace_search")
    if not isinstance(search, dict) or not search:
        return TierResult("skipped", "no marketplace_search configured")
    code = str(search.get("product_code") or "").strip()
    if not code:
        return TierResult("skipped", "marketplace_search has no product_code")
    filters = [{"Name": "product-code", "Values": [code]}, {"Name": "state", "Values": ["available"]},
               {"Name": "architecture", "Values": ctx.architectures}]
    try:
        images = aws.call(region, "ec2", "describe_images", Owners=["aws-marketplace"],
                          Filters=filters).get("Images", [])
    except aws.AwsNotFound as exc:
        return TierResult("not_found", f"Marketplace product {code}: {exc.message}")
    except aws.AwsError as exc:
        return TierResult("error", f"DescribeImages (Marketplace) failed in {region}: {exc.message}")
    if not images:
        return TierResult("not_found", f"no AWS Marketplace image with product code {code} in {region} "
                                       f"({'/'.join(ctx.architectures)})")
    images.sort(key=lambda i: i.get("CreationDate") or "", reverse=True)
    images.sort(key=lambda i: ctx.architectures.index(i.get("Architecture")) if i.get("Architecture")
                in ctx.architectures else len(ctx.architectures))
    found = [_candidate_from_summary(i["ImageId"], region, MARKETPLACE, _summarise(i)) for i in images[:_SEARCH_KEEP]]
    return TierResult("found", f"Marketplace product {code} → {found[0].image_id}", found)


_REGION_TIERS = ((DIRECT, _tier_direct), (REGISTRY, _tier_registry), (DYNAMIC, _tier_dynamic))


def _region_lookup(ctx: _Context, region: str) -> tuple[str | None, TierResult | None, list[dict]]:
    """Tiers 1–3 in one (fallback) region. AWS only: registry rows were read by the caller, so this
    runs in worker threads without a database connection. Returns (tier, result, notes)."""
    notes = []
    for tier, func in _REGION_TIERS:
        result = func(ctx, region)
        notes.append({"tier": tier, "outcome": result.outcome, "reason": result.reason})
        if result.candidates:
            return tier, result, notes
    return None, None, notes


_pool_lock = threading.Lock()
_pools: dict[str, ThreadPoolExecutor] = {}


def _pool(name: str, workers: int) -> ThreadPoolExecutor:
    """Process-wide thread pools, made lazily (after gunicorn forks). Separate pools for the test
    endpoint and for region lookups, so a resolution running in the first never waits for a slot
    it is itself holding."""
    with _pool_lock:
        if name not in _pools:
            _pools[name] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"resolver-{name}")
        return _pools[name]


def _in_thread(func, *args):
    try:
        return func(*args)
    finally:
        # NOTE: a pool thread that touched the database keeps a connection Django never closes.
        connections.close_all()


def _tier_cross_region(ctx: _Context) -> tuple[TierResult, Candidate | None]:
    """Tiers 1–3 in every fallback region concurrently; first in map order that has an image wins."""
    regions = list(fallback_regions(ctx.region))
    if ctx.fallback_strategy not in (None, CROSS):
        return TierResult("skipped", f"fallback_strategy is {ctx.fallback_strategy}"), None
    if not regions:
        return TierResult("skipped", f"no fallback regions for {ctx.region}"), None
    config = ctx.config
    needs_aws = bool(config.get("ami_search")) or any(
        (config.get("ami_mappings") or {}).get(r) or (config.get("amis") or {}).get(r) for r in regions)
    if needs_aws and len(regions) > 1:
        pool = _pool("regions", 64)
        futures = [pool.submit(_in_thread, _region_lookup, ctx, r) for r in regions]
        results = [f.result() for f in futures]
    else:
        results = [_region_lookup(ctx, r) for r in regions]

    # Dynamic-search finds are only known now: drop revoked registry images in one query.
    found_ids = [c.image_id for tier, res, _ in results if res and tier in (DYNAMIC,) for c in res.candidates]
    revoked = image_ids_revoked(found_ids)
    winner = None
    summary = []
    for region, (tier, res, notes) in zip(regions, results, strict=True):
        usable = [c for c in (res.candidates if res else []) if c.image_id not in revoked]
        ctx.region_checks.append({"region": region, "found": bool(usable), "tier": tier if usable else None,
                                  "ami_id": usable[0].image_id if usable else "", "tried": notes})
        if usable and winner is None:
            winner = usable[0]
            summary.append(f"{region}: {tier} {winner.image_id}")
        elif not usable:
            summary.append(f"{region}: none")
    if winner is None:
        outcome = "error" if any(n["outcome"] == "error" for c in ctx.region_checks for n in c["tried"]) \
            else "not_found"
        return TierResult(outcome, "no image in fallback regions (" + "; ".join(summary) + ")"), None
    return TierResult("found", f"found in {winner.region} via {winner.tier}, copy to {ctx.region} needs consent "
                               f"(" + "; ".join(summary) + ")", [winner]), winner


def _base_image(ctx: _Context, architecture: str) -> tuple[str, str, str]:
    """(parameter name, image id or "", problem or "") for the template's base OS in the region."""
    base = str(ctx.document.get("base") or ctx.template.base or "").strip()
    pattern = BASE_IMAGE_PARAMETERS.get(base)
    if not pattern:
        return "", "", f"no public SSM parameter is known for base '{base or '(none)'}'"
    name = pattern.format(deb_arch="amd64" if architecture == "x86_64" else "arm64", aws_arch=architecture)
    key = f"ssm:{name}"
    hit = None if ctx.refresh else cache.availability_get(ctx.region, key)
    if hit is None:
        try:
            value = aws.call(ctx.region, "ssm", "get_parameter", Name=name)["Parameter"]["Value"]
            hit = {"state": "available", "value": value}
        except aws.AwsNotFound:
            hit = {"state": "missing", "value": ""}
        except aws.AwsError as exc:
            ctx.degraded = True
            return name, "", f"SSM error reading {name}: {exc.message}"
        cache.availability_set(ctx.region, key, hit)
    if not hit["value"]:
        return name, "", f"SSM parameter {name} not found in {ctx.region}"
    return name, hit["value"], ""


# --- answers ---------------------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _chain(ctx: _Context) -> list[str]:
    chain = []
    for entry in ctx.tried:
        if entry["outcome"] != "skipped" and entry["tier"] not in chain:
            chain.append(entry["tier"])
    return chain


def _answer(ctx: _Context, *, method: str, candidate: Candidate | None, warning: str = "",
            base_parameter: str = "") -> dict:
    document = ctx.document
    architecture = (candidate.architecture if candidate and candidate.architecture else ctx.architectures[0])
    size = candidate.size_gb if candidate else None
    analysis = costs.cost_analysis(document=document, region=ctx.region, architecture=architecture, size_gb=size,
                                   template_name=ctx.template.name)
    copy = None
    consent = False
    source_region = candidate.region if candidate else ctx.region
    if method == SCRIPT:
        launch_seconds = costs.script_setup_seconds(document)
        estimated_cost = analysis["script_launch_cost"] + analysis["script_setup_cost"]
        savings = 0.0
    else:
        launch_seconds = costs.ami_launch_seconds()
        estimated_cost = analysis["ami_launch_cost"]
        savings = analysis["script_setup_cost"] - analysis["ami_setup_cost"]
        if method == CROSS:
            estimate = costs.copy_estimate(source_region=candidate.region, target_region=ctx.region, size_gb=size)
            copy = {"source_region": candidate.region, "source_ami_id": candidate.image_id,
                    "estimated_cost": estimate["estimated_cost"], "estimated_minutes": estimate["estimated_minutes"]}
            consent = True
            launch_seconds += estimate["estimated_minutes"] * 60
            estimated_cost += estimate["estimated_cost"]
    return {
        # cws fields (API.md: names are fixed)
        "template_name": ctx.template.name,
        "target_region": ctx.region,
        "resolution_method": method,
        "ami_id": candidate.image_id if candidate else "",
        "ami_name": candidate.name if candidate else "",
        "ami_architecture": architecture,
        "ami_description": candidate.description if candidate else "",
        "launch_time_estimate_seconds": int(launch_seconds),
        "cost_savings": round(savings, 5),
        "warning": warning,
        "fallback_chain": _chain(ctx),
        "ami_details": {
            "creation_date": candidate.creation_date if candidate else "",
            "owner_id": candidate.owner_id if candidate else "",
            "public": bool(candidate.public) if candidate else False,
            "marketplace_cost": candidate.marketplace_cost if candidate else 0.0,
        },
        # ours
        "strategy": ctx.strategy,
        "source_region": source_region,
        "registry_id": candidate.registry_id if candidate else None,
        "estimated_cost": round(estimated_cost, 5),
        "consent_required": consent,
        "copy": copy,
        "base_image_parameter": base_parameter,
        "tried": list(ctx.tried),
        "cached": False,
        "duration_ms": 0.0,
        "resolved_at": _now(),
        # kept for details=true
        "region_checks": list(ctx.region_checks),
        "cost_analysis": analysis,
    }


def _script_answer(ctx: _Context, *, warning: str, reason: str) -> dict:
    architecture = ctx.architectures[0]
    parameter, image_id, problem = _base_image(ctx, architecture)
    if problem:
        # The script answer stands: the client provisions on a base image it chooses itself.
        ctx.tried.append({"tier": SCRIPT, "outcome": "found",
                          "reason": f"{reason}; base image unknown: {problem}"})
        warning = f"{warning} ({problem})" if warning else problem
        candidate = None
    else:
        ctx.tried.append({"tier": SCRIPT, "outcome": "found",
                          "reason": f"{reason}; base image {image_id} from {parameter}"})
        candidate = Candidate(image_id=image_id, region=ctx.region, tier=SCRIPT, name=parameter,
                              architecture=architecture, description=f"Base OS image from SSM {parameter}",
                              public=True)
    return _answer(ctx, method=SCRIPT, candidate=candidate, warning=warning, base_parameter=parameter)


def _no_ami(ctx: _Context, why: str):
    ctx.tried.append({"tier": SCRIPT, "outcome": "skipped", "reason": why})
    chain = _chain(ctx)
    raise Unprocessable(
        f"no AMI available for template '{ctx.template.name}' in {ctx.region} ({why})",
        code="no_ami_available",
        extra={"template_name": ctx.template.name, "target_region": ctx.region, "strategy": ctx.strategy,
               "resolution_method": FAILED, "fallback_chain": chain, "tried": list(ctx.tried)})


def _resolve_uncached(ctx: _Context) -> dict:
    config = ctx.config
    configured = _has_ami_config(config)
    has_script = costs.has_script_provisioning(ctx.document)
    script_allowed = ctx.strategy != "ami_required" and ctx.fallback_strategy != "error"

    if ctx.strategy == "ami_fallback" and has_script:
        return _script_answer(ctx, warning=WARNING_NO_CONFIG if not configured else "",
                              reason="ami_fallback: script provisioning first")
    warning = WARNING_NO_SCRIPT if ctx.strategy == "ami_fallback" else ""

    # One query for the registry tier of this region and of every fallback region; one for the
    # template's own image ids that a moderator has revoked.
    regions = [ctx.region, *fallback_regions(ctx.region)]
    ctx.registry_rows = registry_candidates(template=ctx.template, regions=regions,
                                            architectures=ctx.architectures, user=ctx.user)
    ctx.revoked_config_ids = image_ids_revoked(_config_image_ids(config))

    for tier, func in (*_REGION_TIERS, (MARKETPLACE, _tier_marketplace)):
        result = func(ctx, ctx.region)
        usable = result.candidates
        if tier in (DYNAMIC, MARKETPLACE) and usable:
            revoked = image_ids_revoked(c.image_id for c in usable)
            usable = [c for c in usable if c.image_id not in revoked]
            if not usable:
                result = TierResult("not_found", f"{result.reason}: revoked in the registry")
        ctx.record(tier, result)
        if usable:
            return _answer(ctx, method=tier, candidate=usable[0], warning=warning)

    result, winner = _tier_cross_region(ctx)
    ctx.record(CROSS, result)
    if winner is not None:
        minutes = costs.copy_estimate(source_region=winner.region, target_region=ctx.region,
                                      size_gb=winner.size_gb)["estimated_minutes"]
        note = f"AMI found in {winner.region}; copying it to {ctx.region} needs your consent (about {minutes} min)"
        return _answer(ctx, method=CROSS, candidate=winner, warning=f"{warning}; {note}" if warning else note)

    if ctx.strategy == "ami_fallback":
        return _no_ami(ctx, "strategy ami_fallback: the template has no script package manager")
    if not script_allowed:
        why = ("strategy ami_required forbids script provisioning" if ctx.strategy == "ami_required"
               else "fallback_strategy error forbids script provisioning")
        return _no_ami(ctx, why)
    return _script_answer(ctx, warning=WARNING_AMI_UNAVAILABLE if configured else WARNING_NO_CONFIG,
                          reason="strategy ami_preferred: no AMI found" if configured else "no AMI configuration")


def _cached_answer_still_valid(answer: dict) -> bool:
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


def _present(answer: dict, *, details: bool) -> dict:
    if not details:
        answer = {k: v for k, v in answer.items() if k not in ("region_checks", "cost_analysis")}
    return answer


def resolve(*, template: Template | str, region: str, architecture: str | None = None,
            strategy: str | None = None, user=None, details: bool = False, refresh: bool = False,
            policy: str = "enforce") -> dict:
    """Resolve ``template`` in ``region`` for ``user`` (None = anonymous). Returns the resolution
    object of API.md. ``strategy`` overrides the template's; ``architecture`` narrows the choice
    (default: the template's preferred_architecture, else arm64, first). ``refresh`` (moderators
    only) skips the resolution and availability caches — used to measure cold resolutions.

    Raises ``InvalidInput`` (bad region/architecture/strategy), ``NotFound`` (unknown template),
    ``Forbidden`` (refresh by a non-moderator), ``Unprocessable(code="no_ami_available")`` with
    ``fallback_chain`` and ``tried`` when the strategy forbids every remaining tier.
    ``policy``: ``enforce`` (default) applies the caller's institution policy to the registry tier;
    ``report`` applies nothing and adds ``policy_report`` (what would be blocked); never cached.
    """
    started = time.perf_counter()
    _validate(region=region, architecture=architecture, strategy=strategy)
    if refresh and not (user is not None and is_moderator(user)):
        raise Forbidden("refresh (bypassing the cache) is reserved for moderators")
    key = None
    try:
        if cache.enabled() and policy != "report":
            ref = template.slug if isinstance(template, Template) else str(template).strip()
            key = cache.resolution_key(template_ref=ref, region=region, architecture=architecture,
                                       strategy=strategy, user=user)
            hit = None if refresh else cache.resolution_get(key)
            if hit is not None:
                if _cached_answer_still_valid(hit):
                    hit["cached"] = True
                    hit["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
                    metrics.RESOLUTIONS.labels(method=hit["resolution_method"], outcome="cached").inc()
                    return _present(hit, details=details)
                metrics.CACHE_EVENTS.labels(cache="resolution", result="stale").inc()
                cache.resolution_delete(key)
        tpl = _template(template)
        ctx = _context(template=tpl, region=region, architecture=architecture, strategy=strategy, user=user,
                       refresh=refresh)
        from registry.policy import policy_for_user

        ctx.policy, ctx.policy_mode = policy_for_user(user), policy
        answer = _resolve_uncached(ctx)
        if policy == "report":
            answer["policy_report"] = {"mode": "report", "sources": ctx.policy.sources,
                                       "would_block": ctx.policy_blocked}
        answer["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        # An answer reached while AWS was failing may be a degraded one: don't keep it.
        degraded = ctx.degraded or any(t["outcome"] == "error" for t in answer["tried"])
        if key is not None and not degraded:
            cache.resolution_set(key, answer)
        metrics.RESOLUTIONS.labels(method=answer["resolution_method"], outcome="resolved").inc()
        return _present(answer, details=details)
    except Unprocessable as exc:
        metrics.RESOLUTIONS.labels(method=FAILED, outcome=exc.code).inc()
        raise
    except ApplicationError:
        raise
    finally:
        metrics.RESOLUTION_LATENCY.observe(time.perf_counter() - started)


# --- preview, multi-region test, costs ------------------------------------------------------------------

def resolve_preview(*, template: Template | str, region: str, architecture: str | None = None,
                    strategy: str | None = None, user=None) -> dict:
    """Dry run without any AWS call: which tier *would* answer, from the template's configuration
    and the registry alone. Tiers that need AWS to know (dynamic search, marketplace, whether a
    mapped image is still available) are reported as ``may_answer`` / ``would_answer (unchecked)``."""
    _validate(region=region, architecture=architecture, strategy=strategy)
    tpl = _template(template)
    ctx = _context(template=tpl, region=region, architecture=architecture, strategy=strategy, user=user)
    config = ctx.config
    regions = [region, *fallback_regions(region)]
    ctx.registry_rows = registry_candidates(template=tpl, regions=regions, architectures=ctx.architectures, user=user)
    revoked = image_ids_revoked(_config_image_ids(config))
    has_script = costs.has_script_provisioning(ctx.document)
    tried: list[dict] = []
    predicted: dict | None = None
    maybe: list[str] = []

    def mapped(r: str) -> str | None:
        ids = [(config.get("ami_mappings") or {}).get(r)]
        legacy = (config.get("amis") or {}).get(r)
        if isinstance(legacy, dict):
            ids += [legacy.get(a) for a in ctx.architectures]
        return next((i for i in ids if isinstance(i, str) and aws.is_ami_id(i) and i not in revoked), None)

    def note(tier, outcome, reason, **answer):
        nonlocal predicted
        tried.append({"tier": tier, "outcome": outcome, "reason": reason})
        if outcome == "would_answer" and predicted is None:
            predicted = {"resolution_method": tier, **answer}

    if ctx.strategy == "ami_fallback" and has_script:
        note(SCRIPT, "would_answer", "ami_fallback: script provisioning first")
    else:
        image = mapped(region)
        note(DIRECT, "would_answer" if image else "skipped",
             f"{image} (availability not checked: preview makes no AWS calls)" if image
             else f"no usable ami_mappings for {region}", ami_id=image or "", source_region=region)
        rows = ctx.registry_rows.get(region) or []
        note(REGISTRY, "would_answer" if rows else "not_found",
             f"community AMI '{rows[0].ami.name}'" if rows else f"no approved community AMI in {region}",
             ami_id=rows[0].image_id if rows else "", source_region=region,
             registry_id=str(rows[0].ami_id) if rows else None)
        search = config.get("ami_search") or {}
        if search and not str(search.get("owner") or "").strip():
            note(DYNAMIC, "refused", "ami_search has no owner (whoAMI name-squatting defence)")
        elif search:
            note(DYNAMIC, "may_answer", "would search EC2 (owner pinned); needs an AWS call")
            maybe.append(DYNAMIC)
        else:
            note(DYNAMIC, "skipped", "no ami_search configured")
        if (config.get("marketplace_search") or {}).get("product_code"):
            note(MARKETPLACE, "may_answer", "would search AWS Marketplace by product code; needs an AWS call")
            maybe.append(MARKETPLACE)
        else:
            note(MARKETPLACE, "skipped", "no marketplace_search configured")
        if ctx.fallback_strategy in (None, CROSS):
            hit = None
            for r in fallback_regions(region):
                image = mapped(r)
                rows = ctx.registry_rows.get(r) or []
                if image or rows:
                    hit = (r, image or rows[0].image_id, None if image else str(rows[0].ami_id))
                    break
            if hit:
                note(CROSS, "would_answer", f"{hit[1]} in {hit[0]} (copy needs consent)", ami_id=hit[1],
                     source_region=hit[0], registry_id=hit[2], consent_required=True)
            elif search:
                note(CROSS, "may_answer", "would search the fallback regions; needs AWS calls")
                maybe.append(CROSS)
            else:
                note(CROSS, "not_found", "nothing configured or registered in the fallback regions")
        else:
            note(CROSS, "skipped", f"fallback_strategy is {ctx.fallback_strategy}")
        script_ok = (ctx.strategy == "ami_preferred" and ctx.fallback_strategy != "error")
        note(SCRIPT, "would_answer" if script_ok else "skipped",
             "script provisioning" if script_ok else f"strategy {ctx.strategy} forbids script provisioning")
    predicted = predicted or {"resolution_method": FAILED}
    before = [t for t in maybe if [x["tier"] for x in tried].index(t)
              < [x["tier"] for x in tried].index(predicted["resolution_method"])] \
        if predicted["resolution_method"] != FAILED else maybe
    return {
        "template_name": tpl.name,
        "target_region": region,
        "strategy": ctx.strategy,
        "architectures": ctx.architectures,
        "resolution_method": predicted["resolution_method"],
        "ami_id": predicted.get("ami_id", ""),
        "source_region": predicted.get("source_region", region),
        "registry_id": predicted.get("registry_id"),
        "consent_required": bool(predicted.get("consent_required", False)),
        "may_answer_first": before,
        "tried": tried,
        "aws_calls": 0,
        "preview": True,
    }


def resolve_test(*, template: Template | str, regions: list[str] | None = None, all_regions: bool = False,
                 architecture: str | None = None, strategy: str | None = None, user=None,
                 deep: bool = False) -> dict:
    """Resolve ``template`` in many regions concurrently (POST /ami/test). A region passes when a
    resolution answers — a script fallback counts as passed; ``overall_status`` is passed (all),
    partial (some) or failed (none). ``deep`` also queues the AWS lifecycle's validation of the
    answering registry AMIs when that service is installed."""
    tpl = _template(template)
    if all_regions:
        targets = list(aws.COMMERCIAL_REGIONS)
    else:
        targets = list(dict.fromkeys(regions or DEFAULT_TEST_REGIONS))
    bad = [r for r in targets if not aws.is_known_region(r)]
    if bad:
        raise InvalidInput(f"unknown AWS region(s): {', '.join(bad)}",
                           errors={"regions": [f"unknown AWS region '{r}'" for r in bad]})
    _validate(region=targets[0], architecture=architecture, strategy=strategy)

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
        return {"region": region, "status": status, "ami_id": ami_id, "resolution_method": method, "error": error,
                "test_duration_ms": round((time.perf_counter() - started) * 1000, 3)}

    pool = _pool("test", 16)
    results = [f.result() for f in [pool.submit(_in_thread, one, r) for r in targets]]
    passed = sum(1 for r in results if r["status"] == "passed")
    overall = "passed" if passed == len(results) else ("partial" if passed else "failed")
    body = {"template_name": tpl.name, "overall_status": overall,
            "region_results": {r["region"]: r for r in results}, "tested_at": _now(),
            "total_regions": len(results), "available_regions": passed}
    if deep:
        body["deep_validation"] = _deep_validate(results, user=user)
    return body


def _deep_validate(results: list[dict], *, user) -> dict:
    """Hand the answering AMIs to the AWS lifecycle's validation (issue 6) when it is installed."""
    try:
        from amis.aws_lifecycle import ami_validate_request  # optional: owned by the AWS lifecycle work
    except ImportError:
        return {"status": "unavailable", "reason": "AMI validation service is not installed"}
    from amis.selectors import ami_get_visible

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
    _validate(region=region, architecture=architecture, strategy=None)
    tpl = _template(template)
    config = tpl.ami_config if isinstance(tpl.ami_config, dict) else {}
    arch = architecture or _preferred_architecture(config)
    if instance_type and not _INSTANCE_TYPE_RE.match(instance_type):
        raise InvalidInput(f"invalid instance type '{instance_type}'",
                           errors={"instance_type": ["Expected a type such as t3.medium."]})
    return costs.cost_analysis(document=tpl.document or {}, region=region, architecture=arch,
                               instance_type=instance_type, template_name=tpl.name)

