"""Read queries for the catalogue. Visibility is decided here, once, for every endpoint and page.

Public surface (keyword-only, stable; used by the API, the web pages, ratings, sharing, trust and
the resolver):

- ``ami_visibility_q(user=)`` / ``ami_list_visible_to(user=)`` / ``ami_get_visible(user=, ref=)``
- ``ami_can_manage(user=, ami=)``: owner or moderator (may see shares, deprecate, edit).
- ``ami_search(user=, params=)``: browse/search → ``AMISearchResult(queryset, facets)``; the
  queryset is filtered, ordered and eager-loaded, ready to paginate.
- ``ami_rating_histogram(ami=)``, ``ami_stats(ami=)``.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from amis.models import AMI, AMIRegion, Download, DownloadDaily
from registry import aws
from registry.permissions import is_moderator


def ami_visibility_q(*, user, revoked_as_listed: bool = False) -> Q | None:
    """The condition an AMI row must meet to be visible to ``user`` (None means: everything).

    Anonymous: approved + public. Signed in: also ``community``-visibility entries (every user
    belongs to the default community), their own entries, and approved or deprecated entries
    shared with them (user grant, or a community grant to a community they belong to — every
    user belongs to the default communities). Moderators: everything. Revoked entries are
    visible only to owners and moderators. ``revoked_as_listed`` answers "who could see it just
    before it was revoked" (revocation notices): only listed entries can be revoked.
    """
    if user is not None and is_moderator(user):
        return None
    listed = Q(status__in=[AMI.Status.APPROVED, AMI.Status.DEPRECATED]
               + ([AMI.Status.REVOKED] if revoked_as_listed else []))
    public = listed & Q(visibility=AMI.Visibility.PUBLIC)
    if user is None or not user.is_authenticated:
        return public
    community = listed & Q(visibility=AMI.Visibility.COMMUNITY)
    shared = listed & (
        Q(shares__user=user)
        | Q(shares__community__is_default=True)
        | Q(shares__community__memberships__user=user)
    )
    return public | community | Q(creator=user) | shared


def ami_list_visible_to(*, user, revoked_as_listed: bool = False) -> QuerySet[AMI]:
    """Every AMI ``user`` may see (no ordering or eager loading imposed)."""
    condition = ami_visibility_q(user=user, revoked_as_listed=revoked_as_listed)
    qs = AMI.objects.all()
    if condition is None:
        return qs
    # Joins through shares can multiply rows: filter on a de-duplicated id subquery instead.
    return qs.filter(pk__in=AMI.objects.filter(condition).values("pk"))


def ami_lookup_q(ref: str) -> Q | None:
    """``ref`` as in API paths: a registry uuid, the canonical AMI id, or any regional copy's id."""
    ref = (ref or "").strip() if isinstance(ref, str) else str(ref or "")
    try:
        return Q(pk=uuid.UUID(ref))
    except ValueError:
        pass
    if aws.is_ami_id(ref):  # anything else (including NUL bytes PostgreSQL refuses) cannot match
        return Q(ami_id=ref) | Q(pk__in=AMIRegion.objects.filter(image_id=ref).values("ami_id"))
    return None


def ami_get_visible(*, user, ref: str) -> AMI | None:
    """The AMI named by ``ref`` if ``user`` may see it, else None (callers answer 404)."""
    lookup = ami_lookup_q(ref)
    if lookup is None:
        return None
    return (ami_list_visible_to(user=user).filter(lookup).select_related("template", "creator", "replacement")
            .prefetch_related(_regions_prefetch()).first())


def ami_can_manage(*, user, ami: AMI) -> bool:
    """Owner or moderator: may see grants, edit metadata, deprecate."""
    if user is None or not user.is_authenticated:
        return False
    return ami.creator_id == user.pk or is_moderator(user)


def _regions_prefetch() -> Prefetch:
    return Prefetch("regions", queryset=AMIRegion.objects.order_by("-is_source", "region"))


# --- Browse & search ---------------------------------------------------------------------------------

def ranking_settings() -> dict[str, float]:
    """Weights of the default "best" order (settings ``REGISTRY_RANK_*``; defaults shown).

    score = Bayesian average rating ((C·m + Σstars) / (C + n), m = prior mean, C = prior weight)
          + download_weight · ln(1 + downloads)
          + fresh_bonus when created within ``fresh_days`` days
          − deprecated_penalty for deprecated entries.
    """
    return {
        "prior_mean": float(getattr(settings, "REGISTRY_RANK_PRIOR_MEAN", 3.5)),
        "prior_weight": float(getattr(settings, "REGISTRY_RANK_PRIOR_WEIGHT", 5)),
        "download_weight": float(getattr(settings, "REGISTRY_RANK_DOWNLOAD_WEIGHT", 0.15)),
        "fresh_bonus": float(getattr(settings, "REGISTRY_RANK_FRESH_BONUS", 0.3)),
        "fresh_days": float(getattr(settings, "REGISTRY_RANK_FRESH_DAYS", 30)),
        "deprecated_penalty": float(getattr(settings, "REGISTRY_RANK_DEPRECATED_PENALTY", 5)),
    }


@dataclass
class AMISearchResult:
    """A filtered, ordered, eager-loaded queryset plus facet counts for the same filters."""

    queryset: QuerySet[AMI]
    facets: dict[str, dict[str, int]]
    filterset: object


FACETS = ("category", "architecture", "region", "template")


def ami_search(*, user, params) -> AMISearchResult:
    """Browse/search the AMIs visible to ``user`` with the query ``params`` (a QueryDict or dict).

    Filters, ordering and validation live in ``amis.filters.AMIFilter`` (400 on bad values,
    raised as DRF ``ValidationError`` naming the parameter). Facets are counted over the same
    filters, each facet ignoring its own parameter (so picking ``category=ML`` still shows the
    other categories' counts); with no facet parameter set every facet sums to the result count
    (region: entries with an available copy there). Costs a constant number of queries.
    """
    from rest_framework.exceptions import ValidationError

    from amis.filters import AMIFilter

    from registry.policy import policy_filter_for_user

    # An institution member only browses what their institution's policy allows (trust issue).
    base = policy_filter_for_user(ami_list_visible_to(user=user), user)
    filterset = AMIFilter(data=params, queryset=base)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    queryset = filterset.qs.select_related("template", "creator", "replacement").prefetch_related(_regions_prefetch())
    facets = {}
    for facet in FACETS:
        data = params.copy() if hasattr(params, "copy") else dict(params)
        data.pop(facet, None)
        facet_fs = AMIFilter(data=data, queryset=base)
        facet_fs.is_valid()
        facets[facet] = _facet_counts(facet, facet_fs.filtered_unordered())
    return AMISearchResult(queryset=queryset, facets=facets, filterset=filterset)


def _facet_counts(facet: str, qs: QuerySet[AMI]) -> dict[str, int]:
    ids = qs.values("pk")
    if facet == "region":
        rows = (AMIRegion.objects.filter(ami_id__in=ids, state=AMIRegion.State.AVAILABLE)
                .values_list("region").annotate(n=Count("ami_id", distinct=True)).order_by("region"))
    elif facet == "template":
        rows = (AMI.objects.filter(pk__in=ids, template__isnull=False).values_list("template__slug")
                .annotate(n=Count("pk")).order_by("template__slug"))
    else:
        rows = (AMI.objects.filter(pk__in=ids).exclude(**{facet: ""}).values_list(facet)
                .annotate(n=Count("pk")).order_by(facet))
    return {value: n for value, n in rows}


# --- Stats -----------------------------------------------------------------------------------------

def ami_rating_histogram(*, ami: AMI) -> dict[str, int]:
    """``{"1": n, ..., "5": n}`` over the AMI's visible (not hidden) ratings."""
    histogram = {str(i): 0 for i in range(1, 6)}
    rows = ami.ratings.filter(is_hidden=False).values_list("rating").annotate(n=Count("pk")).order_by()
    for stars, n in rows:
        if 1 <= stars <= 5:
            histogram[str(stars)] = n
    return histogram


def ami_stats(*, ami: AMI) -> dict:
    """Download and rating statistics of one AMI (``GET /amis/{ami}/stats``).

    Raw ``ami_downloads`` rows and the per-day roll-ups in ``ami_downloads_daily`` (which the
    retention job writes before deleting raw rows) are added together, so totals never change
    when retention runs. ``downloads_by_day`` maps ISO dates to counts, oldest first.
    """
    by_region: dict[str, int] = {}
    by_day: dict[str, int] = {}
    raw = Download.objects.filter(ami=ami)
    for region, n in raw.values_list("region").annotate(n=Count("pk")).order_by():
        by_region[region or "unknown"] = by_region.get(region or "unknown", 0) + n
    for day, n in raw.annotate(day=TruncDate("at")).values_list("day").annotate(n=Count("pk")).order_by():
        key = day.isoformat()
        by_day[key] = by_day.get(key, 0) + n
    rolled = DownloadDaily.objects.filter(ami=ami)
    for region, n in rolled.values_list("region").annotate(n=Sum("count")).order_by():
        by_region[region or "unknown"] = by_region.get(region or "unknown", 0) + (n or 0)
    for day, n in rolled.values_list("day").annotate(n=Sum("count")).order_by():
        key = day.isoformat()
        by_day[key] = by_day.get(key, 0) + (n or 0)
    return {
        "download_count": ami.download_count,
        "downloads_by_region": dict(sorted(by_region.items())),
        "downloads_by_day": dict(sorted(by_day.items())),
        "rating_histogram": ami_rating_histogram(ami=ami),
    }
