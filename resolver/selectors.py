"""Read queries of the resolver: community AMIs that may answer a resolution, revoked image ids."""
from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Case, F, FloatField, IntegerField, Q, Value, When
from django.db.models.functions import Cast

from amis.models import AMI, AMIRegion
from amis.selectors import ami_list_visible_to

# Bayesian average: a new AMI with one 5-star rating must not outrank one with 200 ratings at 4.8.
# score = (PRIOR_WEIGHT * PRIOR_MEAN + sum of stars) / (PRIOR_WEIGHT + number of ratings)
PRIOR_MEAN = 3.0
PRIOR_WEIGHT = 5.0


def registry_candidates(*, template, regions: Iterable[str], architectures: list[str], user,
                        ) -> dict[str, list[AMIRegion]]:
    """Approved community AMIs built for ``template`` with an available copy in each of ``regions``.

    One query for every region (the cross-region tier asks for the fallback regions at once).
    Only AMIs ``user`` may see (``amis.selectors.ami_list_visible_to``), only ``approved`` — never
    deprecated, rejected or revoked — and only ``architectures``. Per region, best first: the
    position of the architecture in ``architectures`` (preferred first), verified, Bayesian
    rating, downloads, newest. Returns ``{region: [AMIRegion with .ami loaded]}``.
    """
    regions = list(regions)
    if not regions or not architectures:
        return {}
    visible = ami_list_visible_to(user=user).filter(
        template=template, status=AMI.Status.APPROVED, architecture__in=architectures)
    arch_rank = Case(*[When(ami__architecture=arch, then=Value(i)) for i, arch in enumerate(architectures)],
                     default=Value(len(architectures)), output_field=IntegerField())
    bayes = ((Value(PRIOR_WEIGHT * PRIOR_MEAN) + Cast(F("ami__rating_sum"), FloatField()))
             / (Value(PRIOR_WEIGHT) + Cast(F("ami__rating_count"), FloatField())))
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
    """One id, one EXISTS query (the check made on every warm cache hit of a non-registry answer)."""
    return AMI.objects.filter(
        Q(ami_id=image_id) | Q(pk__in=AMIRegion.objects.filter(image_id=image_id).values("ami_id")),
        status=AMI.Status.REVOKED).exists()


def registry_answer_still_valid(*, registry_id: str, region: str, image_id: str) -> bool:
    """One primary-key query: is this registry AMI still approved with this available copy?"""
    return AMIRegion.objects.filter(ami_id=registry_id, ami__status=AMI.Status.APPROVED, region=region,
                                    image_id=image_id, state=AMIRegion.State.AVAILABLE).exists()
