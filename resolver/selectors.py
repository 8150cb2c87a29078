"""Read-only functions of the resolver: community AMIs that may answer a resolution, revoked image
ids, the caller's institution policy, and the facts of images and base images from AWS (Describe*
and SSM reads, cached in ``resolver.cache``). Nothing here changes state.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Case, IntegerField, Value, When

from amis.lineage_selectors import channel_answer_ids
from amis.models import AMI, AMIRegion, Operation
from amis.policy import policy_check, policy_for_user
from amis.ranking import bayesian_rating
from amis.selectors import ami_image_id_has_status, ami_list_visible_to
from registry import aws
from registry.aws_images import platform_of
from resolver import cache
from resolver.models import PublishedParameter



def registry_candidates(*, template, regions: Iterable[str], architectures: list[str], user,
                        channel: str | None = None, version_constraint=None) -> dict[str, list[AMIRegion]]:
    """Approved community AMIs built for ``template`` with an available copy in each of ``regions``.

    One query for every region (the cross-region tier asks for the fallback regions at once).
    Only AMIs ``user`` may see (``amis.selectors.ami_list_visible_to``), only ``approved`` — never
    deprecated, rejected or revoked — and only ``architectures``. Per region, best first: the
    position of the architecture in ``architectures`` (preferred first), verified, Bayesian
    rating, downloads, newest. Returns ``{region: [AMIRegion with .ami loaded]}``.

    ``channel`` and/or ``version_constraint``: only the versions they name, one per lineage of the
    template (``amis.lineage_selectors.channel_answer_ids``); ranked among lineages as above.
    """
    regions = list(regions)
    if not regions or not architectures:
        return {}
    visible = ami_list_visible_to(user=user).filter(
        template=template, status=AMI.Status.APPROVED, architecture__in=architectures)
    if channel or version_constraint is not None:
        visible = visible.filter(pk__in=channel_answer_ids(template=template, channel=channel,
                                                           constraint=version_constraint))
    arch_rank = Case(*[When(ami__architecture=arch, then=Value(i)) for i, arch in enumerate(architectures)],
                     default=Value(len(architectures)), output_field=IntegerField())
    # Bayesian average (amis.ranking, the one prior browse uses too): a new AMI with one 5-star
    # rating must not outrank one with 200 ratings at 4.8.
    bayes = bayesian_rating(count="ami__rating_count", total="ami__rating_sum")
    rows = (AMIRegion.objects
            .filter(region__in=regions, state=AMIRegion.State.AVAILABLE, ami__in=visible)
            .exclude(image_id="")
            .select_related("ami")
            .annotate(arch_rank=arch_rank, bayes=bayes)
            .order_by("region", "arch_rank", "-ami__verified", "-bayes", "-ami__download_count",
                      "-ami__created_at")[:1000])
    out: dict[str, list[AMIRegion]] = {}
    for row in rows:
        out.setdefault(row.region, []).append(row)
    return out


def image_ids_revoked(image_ids: Iterable[str]) -> set[str]:
    """Which of these AWS image ids belong to a *revoked* registry entry (canonical or regional id).

    Templates may name any image in ``ami_mappings`` and a dynamic search may find one: a revoked
    registry entry is still never resolved, whichever tier found it (ARCHITECTURE.md, *Lifecycle*).
    """
    ids = sorted({i for i in image_ids if i})
    if not ids:
        return set()
    # No ordering in the parts of the UNION: SQLite (the demo's fallback database) refuses it.
    canonical = AMI.objects.filter(status=AMI.Status.REVOKED, ami_id__in=ids).order_by().values_list(
        "ami_id", flat=True)
    regional = AMIRegion.objects.filter(ami__status=AMI.Status.REVOKED, image_id__in=ids).order_by().values_list(
        "image_id", flat=True)
    return set(canonical.union(regional))


def image_id_is_revoked(image_id: str) -> bool:
    """One id, one EXISTS query (the check made on every warm cache hit of a non-registry answer):
    the entry the id names — canonical or regional, two index look-ups — is revoked."""
    return ami_image_id_has_status(image_id, AMI.Status.REVOKED)


def registry_answer_still_valid(*, registry_id: str, region: str, image_id: str) -> bool:
    """One primary-key query: is this registry AMI still approved with this available copy?"""
    return AMIRegion.objects.filter(ami_id=registry_id, ami__status=AMI.Status.APPROVED, region=region,
                                    image_id=image_id, state=AMIRegion.State.AVAILABLE).exists()


# --- institution policy ---------------------------------------------------------------------------

def caller_policy(user):
    """The institution policy that applies to ``user`` (the one place the resolver asks for it)."""
    return policy_for_user(user)


def policy_refusals(ami: AMI, policy, *, region: str) -> list[str]:
    """Why ``policy`` forbids ``ami`` in ``region`` (empty: allowed; no policy allows everything)."""
    return policy_check(ami, policy, region=region) if policy is not None else []


# --- AWS facts (cached) ------------------------------------------------------------------------------

def image_summary(image: dict | None) -> dict:
    """The facts the resolver keeps of one DescribeImages entry (``state`` "missing" for None)."""
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
        "platform": platform_of(image),
        "virtualization": image.get("VirtualizationType") or "hvm",
        "root_device": image.get("RootDeviceType") or "ebs",
    }


def image_availability(region: str, image_id: str, *, refresh: bool = False) -> dict:
    """DescribeImages summary of one image in one region (``state`` is "missing" when it does not
    exist there), cached per (region, image) for ``REGISTRY_AVAILABILITY_CACHE_TTL``."""
    if not refresh:
        hit = cache.availability_get(region, image_id)
        if hit is not None:
            return hit
    summary = image_summary(aws.describe_image(region, image_id))
    cache.availability_set(region, image_id, summary)
    return summary


def ssm_parameter_value(region: str, name: str, *, refresh: bool = False) -> str:
    """The value of a public SSM parameter ("" when it does not exist in ``region``), cached like an
    image's availability. Raises ``aws.AwsError`` when SSM fails (nothing is cached then)."""
    key = f"ssm:{name}"
    hit = None if refresh else cache.availability_get(region, key)
    if hit is None:
        try:
            value = aws.call(region, "ssm", "get_parameter", Name=name)["Parameter"]["Value"]
            hit = {"state": "available", "value": value}
        except aws.AwsNotFound:
            hit = {"state": "missing", "value": ""}
        cache.availability_set(region, key, hit)
    return hit["value"]


# --- published answers (SSM parameters) -------------------------------------------------------------

def published_parameters(*, template=None, include_deleted: bool = False):
    """The SSM parameters the registry publishes (``resolver.ssm``), by template, channel,
    architecture and region; deleted ones too when asked."""
    from_rows = PublishedParameter.objects.select_related("template", "ami")
    if template is not None:
        from_rows = from_rows.filter(template=template)
    if not include_deleted:
        from_rows = from_rows.filter(state=PublishedParameter.State.PUBLISHED)
    return from_rows.order_by("template__slug", "channel", "architecture", "region")


def ssm_last_sync(*, template=None):
    """The newest SSM sync operation (of ``template`` when given), or None."""
    ops = Operation.objects.filter(kind=Operation.Kind.SSM_SYNC)
    if template is not None:
        ops = ops.filter(params__template=template.slug)
    return ops.order_by("-created_at").first()
