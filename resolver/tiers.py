"""The tiers of the resolver, one function each, all ``(ctx, region) -> TierResult``.

``TIERS`` is the one tier order (ARCHITECTURE.md, *Resolution*); ``resolver.orchestrator.walk``
runs it for a resolution and, with ``ctx.dry_run``, for the preview. Each tier does all it can
without AWS in both modes and, in a dry run, stops where it would call AWS: it answers ``found``
for a mapped image it has not confirmed, ``may_answer`` for a search it has not made.

Region tiers (direct mapping, registry, dynamic search) run in worker threads for the
cross-region tier, so they touch no database: registry rows and revoked ids are read before the
walk starts (``resolver.orchestrator``), and images found by a search are checked against the
registry's revoked ids after the threads return.
"""
from __future__ import annotations

from registry import aws
from resolver import cache
from resolver.concurrency import in_thread, pool
from resolver.context import (CROSS, DIRECT, DYNAMIC, ERROR, FOUND, MARKETPLACE, MAY_ANSWER, NOT_FOUND,
                              REFUSED, REGISTRY, SCRIPT, SKIPPED, UNAVAILABLE, Candidate, ResolutionContext,
                              TierResult)
from resolver.regions import fallback_regions
from resolver.selectors import (image_availability, image_ids_revoked, image_summary, policy_refusals,
                                ssm_parameter_value)
from templates.validation import ARCHITECTURES

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

NO_AWS = "a preview makes no AWS calls"


def _versions_only(ctx: ResolutionContext) -> TierResult | None:
    """A request naming a channel or a version constraint is answered from the registry's
    versions only: the tiers that know no versions (mappings, searches) step aside."""
    if ctx.selects_version:
        return TierResult(SKIPPED, f"{ctx.version_selector} asked: only the registry's versions answer")
    return None


# --- tiers of one region -------------------------------------------------------------------------------

def direct_mapping(ctx: ResolutionContext, region: str) -> TierResult:
    """ami_mappings[region], then legacy amis[region][arch], each confirmed available with EC2."""
    if (skip := _versions_only(ctx)) is not None:
        return skip
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
        return TierResult(SKIPPED, f"no ami_mappings for {region}")
    reasons = []
    for image_id, expected_arch, source in wanted:
        if not aws.is_ami_id(image_id):
            reasons.append(f"{source}: '{image_id}' is not a valid AMI id")
            continue
        if image_id in ctx.revoked_config_ids:
            reasons.append(f"{source}: {image_id} is revoked in the registry")
            continue
        if ctx.dry_run:
            unchecked = Candidate(image_id=image_id, region=region, tier=DIRECT, architecture=expected_arch or "")
            return TierResult(FOUND, f"{source} → {image_id} (availability not checked: {NO_AWS})", [unchecked])
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
        found = Candidate.from_summary(image_id, region, DIRECT, summary)
        found.architecture = arch or ""
        return TierResult(FOUND, f"{source} → {image_id} (available)", [found])
    outcome = ERROR if any("EC2 error" in r for r in reasons) and len(reasons) == len(wanted) else UNAVAILABLE
    return TierResult(outcome, "; ".join(reasons))


def registry(ctx: ResolutionContext, region: str) -> TierResult:
    """Approved community AMIs with an available copy here, best first, minus what the caller's
    institution policy forbids (``report`` mode only lists those). Database rows read up front."""
    rows = ctx.registry_rows.get(region) or []
    if not rows:
        named = f" for {ctx.version_selector}" if ctx.selects_version else ""
        return TierResult(NOT_FOUND, f"no approved community AMI for this template{named} with an available copy "
                                     f"in {region} ({'/'.join(ctx.architectures)})")
    found, refused = [], []
    for row in rows:
        ami = row.ami
        reasons = policy_refusals(ami, ctx.policy, region=region)
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
            registry_id=str(ami.pk), platform=ami.platform or "linux",
            version=ami.version if ami.lineage_id else ""))
    if not found:
        return TierResult(REFUSED, "institution policy forbids every community AMI here: " + " | ".join(refused))
    best = found[0]
    skipped = f"; skipped by institution policy: {' | '.join(refused)}" if refused else ""
    named = f", {ctx.version_selector} → version {best.version}" if ctx.selects_version else ""
    return TierResult(FOUND, f"community AMI '{best.name}' ({best.registry_id}{named}){skipped}", found)


def _search_config(ctx: ResolutionContext, key: str) -> dict:
    """``ami_config[key]`` when it is a mapping, else {} (nothing to search for)."""
    value = ctx.config.get(key)
    return value if isinstance(value, dict) else {}


def dynamic_search(ctx: ResolutionContext, region: str) -> TierResult:
    """DescribeImages with the template's ami_search — owner pinned, or no search at all."""
    if (skip := _versions_only(ctx)) is not None:
        return skip
    search = _search_config(ctx, "ami_search")
    if not search:
        return TierResult(SKIPPED, "no ami_search configured")
    owner = str(search.get("owner") or "").strip()
    if not owner:
        # NOTE: searching public images by name without an owner lets anyone publish a matching,
        # newer image and have it chosen ("whoAMI" name confusion). Never do it.
        return TierResult(REFUSED, "ami_search has no owner: searching by name without pinning an owner "
                                   "is refused (whoAMI name-squatting defence)")
    allowed = search.get("architecture") or list(ARCHITECTURES)
    allowed = [allowed] if isinstance(allowed, str) else list(allowed)
    archs = [a for a in ctx.architectures if a in allowed]
    if not archs:
        return TierResult(SKIPPED, f"ami_search.architecture {allowed} excludes {'/'.join(ctx.architectures)}")
    if ctx.dry_run:
        return TierResult(MAY_ANSWER, f"would search EC2 in {region} (owner {owner} pinned); needs an AWS call")
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
        return TierResult(NOT_FOUND, f"DescribeImages (owner {owner}): {exc.message}")
    except aws.AwsError as exc:
        return TierResult(ERROR, f"DescribeImages failed in {region}: {exc.message}")
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
        return TierResult(NOT_FOUND, f"no available image in {region} for {what}")
    images.sort(key=lambda i: i.get("CreationDate") or "", reverse=True)           # newest first ...
    images.sort(key=lambda i: archs.index(i.get("Architecture")))                   # ... within arch preference
    found = []
    for image in images[:_SEARCH_KEEP]:
        summary = image_summary(image)
        cache.availability_set(region, image["ImageId"], summary)
        found.append(Candidate.from_summary(image["ImageId"], region, DYNAMIC, summary))
    return TierResult(FOUND, f"newest match {found[0].image_id} ({found[0].name}, {found[0].creation_date})",
                      found)


def marketplace(ctx: ResolutionContext, region: str) -> TierResult:
    """DescribeImages by product code, owner pinned to ``aws-marketplace``."""
    if (skip := _versions_only(ctx)) is not None:
        return skip
    search = _search_config(ctx, "marketplace_search")
    if not search:
        return TierResult(SKIPPED, "no marketplace_search configured")
    code = str(search.get("product_code") or "").strip()
    if not code:
        return TierResult(SKIPPED, "marketplace_search has no product_code")
    if ctx.dry_run:
        return TierResult(MAY_ANSWER, f"would search AWS Marketplace for product code {code}; needs an AWS call")
    filters = [{"Name": "product-code", "Values": [code]}, {"Name": "state", "Values": ["available"]},
               {"Name": "architecture", "Values": ctx.architectures}]
    try:
        images = aws.call(region, "ec2", "describe_images", Owners=["aws-marketplace"],
                          Filters=filters).get("Images", [])
    except aws.AwsNotFound as exc:
        return TierResult(NOT_FOUND, f"Marketplace product {code}: {exc.message}")
    except aws.AwsError as exc:
        return TierResult(ERROR, f"DescribeImages (Marketplace) failed in {region}: {exc.message}")
    if not images:
        return TierResult(NOT_FOUND, f"no AWS Marketplace image with product code {code} in {region} "
                                     f"({'/'.join(ctx.architectures)})")
    images.sort(key=lambda i: i.get("CreationDate") or "", reverse=True)
    images.sort(key=lambda i: ctx.architectures.index(i.get("Architecture")) if i.get("Architecture")
                in ctx.architectures else len(ctx.architectures))
    found = [Candidate.from_summary(i["ImageId"], region, MARKETPLACE, image_summary(i))
             for i in images[:_SEARCH_KEEP]]
    return TierResult(FOUND, f"Marketplace product {code} → {found[0].image_id}", found)


def without_revoked(result: TierResult) -> TierResult:
    """A search's finds minus images a moderator revoked in the registry (one query). A search
    may find any image, but a revoked registry entry is never resolved, whichever tier meets it."""
    if not result.candidates:
        return result
    revoked = image_ids_revoked(c.image_id for c in result.candidates)
    usable = [c for c in result.candidates if c.image_id not in revoked]
    if not usable:
        return TierResult(NOT_FOUND, f"{result.reason}: revoked in the registry")
    return TierResult(result.outcome, result.reason, usable)


# The tiers looked at in every fallback region too, in order.
REGION_TIERS = ((DIRECT, direct_mapping), (REGISTRY, registry), (DYNAMIC, dynamic_search))


def region_lookup(ctx: ResolutionContext, region: str) -> tuple[str | None, TierResult | None, list[dict]]:
    """The region tiers in one (fallback) region, up to the first that offers an image. AWS only,
    so it runs in worker threads. Returns (tier, result, notes for ``region_checks``)."""
    notes = []
    for tier, func in REGION_TIERS:
        result = func(ctx, region)
        notes.append({"tier": tier, "outcome": result.outcome, "reason": result.reason})
        if result.candidates:
            return tier, result, notes
    return None, None, notes


# --- cross region ----------------------------------------------------------------------------------------

def cross_region(ctx: ResolutionContext, region: str) -> TierResult:
    """The region tiers in every fallback region of ``region`` concurrently; the first region in
    map order that has an image wins (not the fastest). The copy needs the user's consent."""
    regions = list(fallback_regions(region))
    if ctx.fallback_strategy not in (None, CROSS):
        return TierResult(SKIPPED, f"fallback_strategy is {ctx.fallback_strategy}")
    if not regions:
        return TierResult(SKIPPED, f"no fallback regions for {region}")
    config = ctx.config
    needs_aws = not ctx.dry_run and (bool(config.get("ami_search")) or any(
        (config.get("ami_mappings") or {}).get(r) or (config.get("amis") or {}).get(r) for r in regions))
    if needs_aws and len(regions) > 1:
        workers = pool("regions", 64)
        futures = [workers.submit(in_thread, region_lookup, ctx, r) for r in regions]
        results = [f.result() for f in futures]
    else:
        results = [region_lookup(ctx, r) for r in regions]

    # Dynamic-search finds are only known now: drop revoked registry images in one query.
    found_ids = [c.image_id for tier, res, _ in results if res and tier == DYNAMIC for c in res.candidates]
    revoked = image_ids_revoked(found_ids)
    winner = None
    summary = []
    for fallback, (tier, res, notes) in zip(regions, results, strict=True):
        usable = [c for c in (res.candidates if res else []) if c.image_id not in revoked]
        ctx.region_checks.append({"region": fallback, "found": bool(usable), "tier": tier if usable else None,
                                  "ami_id": usable[0].image_id if usable else "", "tried": notes})
        if usable and winner is None:
            winner = usable[0]
            summary.append(f"{fallback}: {tier} {winner.image_id}")
        elif not usable:
            summary.append(f"{fallback}: none")
    checked = [n["outcome"] for c in ctx.region_checks for n in c["tried"]]
    if winner is None:
        if MAY_ANSWER in checked:
            return TierResult(MAY_ANSWER, "would search the fallback regions; needs AWS calls")
        outcome = ERROR if ERROR in checked else NOT_FOUND
        return TierResult(outcome, "no image in fallback regions (" + "; ".join(summary) + ")")
    return TierResult(FOUND, f"found in {winner.region} via {winner.tier}, copy to {region} needs consent "
                             f"(" + "; ".join(summary) + ")", [winner])


# --- script provisioning ------------------------------------------------------------------------------------

def _script_refusal(ctx: ResolutionContext) -> str:
    """Why the strategy forbids provisioning by script here ("" when it allows it)."""
    if ctx.script_first:
        return ""
    if ctx.strategy == "ami_fallback":
        return "strategy ami_fallback: the template has no script package manager"
    if ctx.strategy == "ami_required":
        return "strategy ami_required forbids script provisioning"
    if ctx.fallback_strategy == "error":
        return "fallback_strategy error forbids script provisioning"
    return ""


def fallback_script(ctx: ResolutionContext, region: str) -> TierResult:
    """Provisioning by script on the base OS image of the template's ``base`` (SSM public
    parameter). Answers even when that image is unknown: the client then picks a base itself."""
    refusal = _script_refusal(ctx)
    if refusal:
        return TierResult(SKIPPED, refusal)
    if ctx.script_first:
        reason = "ami_fallback: script provisioning first"
    else:
        reason = "strategy ami_preferred: no AMI found" if ctx.configured else "no AMI configuration"
    architecture = ctx.architectures[0]
    base = str(ctx.document.get("base") or ctx.template.base or "").strip()
    pattern = BASE_IMAGE_PARAMETERS.get(base)
    if not pattern:
        problem = f"no public SSM parameter is known for base '{base or '(none)'}'"
        return TierResult(FOUND, f"{reason}; base image unknown: {problem}", problem=problem)
    parameter = pattern.format(deb_arch="amd64" if architecture == "x86_64" else "arm64", aws_arch=architecture)
    if ctx.dry_run:
        return TierResult(FOUND, f"{reason}; base image from {parameter} (not looked up: {NO_AWS})",
                          base_image_parameter=parameter)
    try:
        image_id = ssm_parameter_value(region, parameter, refresh=ctx.refresh)
    except aws.AwsError as exc:
        ctx.degraded = True
        image_id, problem = "", f"SSM error reading {parameter}: {exc.message}"
    else:
        problem = "" if image_id else f"SSM parameter {parameter} not found in {region}"
    if problem:
        return TierResult(FOUND, f"{reason}; base image unknown: {problem}", base_image_parameter=parameter,
                          problem=problem)
    base_image = Candidate(image_id=image_id, region=region, tier=SCRIPT, name=parameter,
                           architecture=architecture, description=f"Base OS image from SSM {parameter}", public=True)
    return TierResult(FOUND, f"{reason}; base image {image_id} from {parameter}", [base_image],
                      base_image_parameter=parameter)


# The one tier order, for a resolution and for its preview alike.
TIERS = (*REGION_TIERS, (MARKETPLACE, marketplace), (CROSS, cross_region), (SCRIPT, fallback_script))

# Tiers that may find images the registry does not list: their finds are checked for revocation.
SEARCH_TIERS = frozenset({DYNAMIC, MARKETPLACE})
