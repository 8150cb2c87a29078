"""Read queries for the catalogue. Visibility and ownership are decided here, once, for every
endpoint, page, task and app above ``amis``.

Public surface (keyword-only, stable):

- ``ami_requires_moderation(ami=)``: the sharing rule (only public/community listing waits for a
  moderator); ``ami_visibility_q(user=)`` / ``ami_list_visible_to(user=)`` /
  ``ami_get_visible(user=, ref=)``; ``ami_is_visible(user=, ref=)``: the check alone;
  ``ami_get_visible_or_404``: the same, raising ``NotFound`` (an ``Http404`` too) — invisible
  entries are "not found" everywhere, never "forbidden", so private entries do not leak;
- ``ami_can_manage(user=, ami=)`` / ``ami_require_manage``: owner or moderator (may see grants,
  edit, deprecate, copy, share, scan); ``ami_is_owner`` / ``ami_require_owner``: the owner only
  (submit, delete); ``ami_list_owned_by(user=)``: the caller's own entries;
- ``ami_launch_details(ami=)``: per available region, the ``cws`` and ``aws ec2 run-instances``
  lines (none for an entry that is not launchable);
- ``ami_search(user=, params=)``: browse/search → ``AMISearchResult(queryset, facets)``; the
  queryset is filtered (visibility, institution policy, parameters), ordered and eager-loaded;
- ``ami_rating_histogram(ami=)``, ``ami_stats(ami=)``, ``ami_available_copies``, ``ami_live_copies``;
- operations and creation status: ``amis.operation_selectors``.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Count, F, Func, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from amis.filters import RELEVANCE_ORDER, AMIFilter, search_terms
from amis.listing_cache import cached_representations
from amis.models import AMI, AMIRegion, Download, DownloadDaily, ScanException
from amis.policy import Policy, policy_for_user, policy_q
from amis.search_index import catalogue_generation, is_indexed
from registry import aws
from registry.cache import cache_get, cache_get_many, cache_set
from registry.errors import Forbidden, NotFound
from registry.permissions import is_moderator


# Visibilities that list an entry beyond the people it is shared with: everyone (public) or every
# signed-in user (community). Only these wait for a moderator (``ami_requires_moderation``).
MODERATED_VISIBILITIES = frozenset({AMI.Visibility.PUBLIC, AMI.Visibility.COMMUNITY})


def ami_requires_moderation(*, ami: AMI) -> bool:
    """Whether submitting ``ami`` waits for a moderator — the sharing rule's one home.

    Moderation gates *listing*: a public or community entry, or an owner's request to make the
    image itself public in AWS (``public_requested``). A private entry is the owner's own and
    their grantees': submitting it makes it ready at once (``amis.services.ami_submit``).
    """
    return ami.visibility in MODERATED_VISIBILITIES or bool(ami.public_requested)


def ami_visibility_q(*, user, revoked_as_listed: bool = False) -> Q | None:
    """The condition an AMI row must meet to be visible to ``user`` (None means: everything).

    Anonymous: approved + public. Signed in: also approved ``community``-visibility entries
    (every user belongs to the default community), their own entries, and any *submitted* entry
    shared with them (user grant, or a community grant to a community they belong to — every
    user belongs to the default communities): sharing is the owner's decision and does not wait
    for a moderator, who only gates public and community listing. A draft is its owner's alone
    (moderators included); revoked entries are visible only to owners and moderators.
    ``revoked_as_listed`` answers "who could see it just before it was revoked" (revocation
    notices): only listed entries can be revoked.
    """
    if user is not None and is_moderator(user):
        return ~Q(status=AMI.Status.DRAFT) | Q(creator=user)
    listed = Q(status__in=[AMI.Status.APPROVED, AMI.Status.DEPRECATED]
               + ([AMI.Status.REVOKED] if revoked_as_listed else []))
    public = listed & Q(visibility=AMI.Visibility.PUBLIC)
    if user is None or not user.is_authenticated:
        return public
    community = listed & Q(visibility=AMI.Visibility.COMMUNITY)
    submitted = ~Q(status__in=[AMI.Status.DRAFT] + ([] if revoked_as_listed else [AMI.Status.REVOKED]))
    # Shared with them: an id subquery read from the grants' side (their indexes), not a join
    # from every AMI row — so the condition has no multi-valued join and needs no de-duplication.
    Share = AMI._meta.get_field("shares").related_model  # sharing sits above amis: no import
    shared = submitted & Q(pk__in=Share.objects.filter(
        Q(user=user) | Q(community__is_default=True) | Q(community__memberships__user=user)).values("ami_id"))
    return public | community | Q(creator=user) | shared


# Entries one may launch: listed ones (a deprecated entry still launches, with its warning). A
# draft, a submission waiting for a moderator, a rejected or a revoked entry gets no launch snippet.
LAUNCHABLE_STATUSES = frozenset({AMI.Status.APPROVED, AMI.Status.DEPRECATED})
# A small instance type of each architecture for the copy-paste ``aws ec2 run-instances`` line.
LAUNCH_INSTANCE_TYPES = {"x86_64": "t3.medium", "arm64": "t4g.medium"}


def ami_launch_details(*, ami: AMI) -> list[dict]:
    """How to launch ``ami`` in each region where a copy is available: ``[{region, ami_id, cws,
    aws_cli}]`` (``cws`` commands only when the entry has a template). Empty unless the entry is
    launchable (``LAUNCHABLE_STATUSES``). Reads the prefetched ``regions``."""
    if ami.status not in LAUNCHABLE_STATUSES:
        return []
    slug = ami.template.slug if ami.template_id else ""
    instance_type = LAUNCH_INSTANCE_TYPES.get(ami.architecture, "t3.medium")
    rows = []
    for copy in sorted(ami.regions.all(), key=lambda r: (not r.is_source, r.region)):
        if copy.state != AMIRegion.State.AVAILABLE or not copy.image_id:
            continue
        rows.append({
            "region": copy.region, "ami_id": copy.image_id,
            "cws": ([f"cws launch {slug} my-workstation --region {copy.region}",
                     f"cws ami resolve {slug} --region {copy.region}"] if slug else []),
            "aws_cli": (f"aws ec2 run-instances --region {copy.region} --image-id {copy.image_id} "
                        f"--instance-type {instance_type} --metadata-options HttpTokens=required"),
        })
    return rows


def ami_list_visible_to(*, user, revoked_as_listed: bool = False) -> QuerySet[AMI]:
    """Every AMI ``user`` may see (no ordering or eager loading imposed)."""
    condition = ami_visibility_q(user=user, revoked_as_listed=revoked_as_listed)
    qs = AMI.objects.all()
    # One row per AMI: the condition joins nothing multi-valued (shares are an id subquery).
    return qs if condition is None else qs.filter(condition)


def ami_lookup_q(ref: str) -> Q | None:
    """``ref`` as in API paths: a registry uuid, the canonical AMI id, or any regional copy's id."""
    ref = (ref or "").strip() if isinstance(ref, str) else str(ref or "")
    try:
        return Q(pk=uuid.UUID(ref))
    except ValueError:
        pass
    if aws.is_ami_id(ref):  # anything else (including NUL bytes PostgreSQL refuses) cannot match
        # One id subquery (a UNION of two indexed look-ups), not "ami_id = x OR pk IN (...)":
        # PostgreSQL cannot answer that OR from an index and would read the whole table.
        return Q(pk__in=AMI.objects.filter(ami_id=ref).order_by().values("pk").union(
            AMIRegion.objects.filter(image_id=ref).order_by().values("ami_id")))
    return None


def _image_id_status_sql() -> str:
    quote = connection.ops.quote_name
    ami, copy = AMI._meta, AMIRegion._meta
    column = lambda meta, name: quote(meta.get_field(name).column)  # noqa: E731
    return (f"SELECT 1 FROM {quote(ami.db_table)} WHERE {column(ami, 'status')} = %s AND {column(ami, 'id')} IN ("
            f"SELECT {column(ami, 'id')} FROM {quote(ami.db_table)} WHERE {column(ami, 'ami_id')} = %s UNION "
            f"SELECT {column(copy, 'ami')} FROM {quote(copy.db_table)} WHERE {column(copy, 'image_id')} = %s) LIMIT 1")


def ami_image_id_has_status(image_id: str, status: str) -> bool:
    """Whether the entry ``image_id`` names (``ami_lookup_q``'s rule: canonical or any regional
    copy's id) has ``status``. The same two indexed look-ups as the queryset form, as one fixed
    statement: a warm resolution re-checks its answer with it on every hit, where building a
    queryset cost more than running it."""
    if not aws.is_ami_id(image_id):
        return False
    with connection.cursor() as cursor:
        cursor.execute(_image_id_status_sql(), [status, image_id, image_id])
        return cursor.fetchone() is not None


def _visible_pk(*, user, ref: str) -> uuid.UUID | None:
    """The primary key of the AMI named by ``ref`` if ``user`` may see it, else None: one small
    statement (the look-up and the visibility rule), loading nothing."""
    lookup = ami_lookup_q(ref)
    if lookup is None:
        return None
    return ami_list_visible_to(user=user).filter(lookup).order_by("pk").values_list("pk", flat=True).first()


def ami_is_visible(*, user, ref: str) -> bool:
    """Whether ``user`` may see the AMI named by ``ref`` (a link to it may be shown)."""
    return _visible_pk(user=user, ref=ref) is not None


def ami_get_visible(*, user, ref: str) -> AMI | None:
    """The AMI named by ``ref`` if ``user`` may see it, else None (callers answer 404)."""
    # Two statements: which row (the look-up and the visibility rule), then the row with what it
    # joins. As one, PostgreSQL spent ~5 ms planning a seven-relation join around the look-up's
    # UNION for a 0.3 ms execution; apart, ~0.5 + ~1.3 ms.
    pk = _visible_pk(user=user, ref=ref)
    if pk is None:
        return None
    # "software": the declared manifest (reverse one-to-one) comes in the same query. The
    # replacement and the lineage are prefetched: most entries have neither, and then no query
    # runs, where joining them doubled the planning.
    return (AMI.objects.filter(pk=pk).select_related("template", "creator", "software")
            .prefetch_related(_regions_prefetch(), "replacement", "lineage__owner").first())


def ami_get_visible_or_404(*, user, ref: str) -> AMI:
    """``ami_get_visible``, raising ``NotFound`` ("AMI not found") for an AMI ``user`` may not see."""
    ami = ami_get_visible(user=user, ref=ref)
    if ami is None:
        raise NotFound("AMI not found")
    return ami


def ami_is_owner(*, user, ami: AMI) -> bool:
    return user is not None and user.is_authenticated and ami.creator_id == user.pk


def ami_can_manage(*, user, ami: AMI) -> bool:
    """Owner or moderator: may see grants, edit metadata, deprecate, copy, share, scan."""
    return ami_is_owner(user=user, ami=ami) or is_moderator(user)


def ami_require_manage(*, user, ami: AMI, message: str = "only the owner or a moderator may do this") -> None:
    """Raise ``Forbidden`` unless ``user`` owns ``ami`` or moderates."""
    if not ami_can_manage(user=user, ami=ami):
        raise Forbidden(message)


def ami_require_owner(*, user, ami: AMI, message: str = "only the owner may do this") -> None:
    """Raise ``Forbidden`` unless ``user`` owns ``ami``. Moderators are not owners: submitting and
    deleting an entry are its owner's decisions."""
    if not ami_is_owner(user=user, ami=ami):
        raise Forbidden(message)


def ami_list_owned_by(*, user) -> QuerySet[AMI]:
    """The entries ``user`` created, newest first, eager-loaded like every AMI listing."""
    if user is None or not user.is_authenticated:
        return AMI.objects.none()
    return ami_list_related(AMI.objects.filter(creator=user)).order_by("-created_at")


def ami_filter_by_policy(queryset: QuerySet[AMI], *, policy: Policy, region: str | None = None) -> QuerySet[AMI]:
    """Restrict ``queryset`` to what ``policy`` allows (its filter, ``amis.policy.policy_q``)."""
    condition = policy_q(policy, region)
    if condition is None:
        return queryset
    # The region/blocked joins can multiply rows: filter on a de-duplicated id subquery.
    return queryset.filter(pk__in=AMI.objects.filter(condition).values("pk"))


def ami_list_allowed(queryset: QuerySet[AMI], *, user, region: str | None = None) -> QuerySet[AMI]:
    """Restrict ``queryset`` to what ``user``'s institutions' combined policy allows."""
    return ami_filter_by_policy(queryset, policy=policy_for_user(user), region=region)


def ami_is_registered(*, image_id: str) -> bool:
    """Whether ``image_id`` is already in the catalogue, as a canonical id or as a regional copy."""
    return (AMI.objects.filter(ami_id=image_id).exists()
            or AMIRegion.objects.filter(image_id=image_id).exists())


def ami_available_copies(*, ami_id) -> list[tuple[str, str]]:
    """``[(region, image id)]`` of every available regional copy (the source included), by region."""
    return list(AMIRegion.objects.filter(ami_id=ami_id, state=AMIRegion.State.AVAILABLE)
                .exclude(image_id="").order_by("region").values_list("region", "image_id"))


def ami_live_copies(*, ami_id) -> dict[str, str]:
    """``{region: image id}`` of every copy AWS may still hold (pending, available or failed; not
    deregistered) — what deprecating, revoking or deregistering in AWS must reach."""
    return dict(AMIRegion.objects.filter(ami_id=ami_id).exclude(image_id="").exclude(
        state=AMIRegion.State.DEREGISTERED).values_list("region", "image_id"))


def _regions_prefetch() -> Prefetch:
    return Prefetch("regions", queryset=AMIRegion.objects.order_by("-is_source", "region"))


# What a list of AMIs (browse, the API's list, cards) never shows: the stored search document
# and region array, the snapshots, the joined template's document and the replacement's
# contents beyond its id. Each row would otherwise carry and parse ~2 KB of it.
LIST_DEFERRED = ("search_document", "available_regions", "root_snapshot_ids",
                 "template__document", "template__own_document", "template__source_yaml",
                 *(f"replacement__{name}" for name in (
                     "search_document", "available_regions", "root_snapshot_ids", "description", "tags", "authors",
                     "papers", "datasets", "notebooks", "funding")))


def ami_list_related(queryset: QuerySet[AMI]) -> QuerySet[AMI]:
    """``queryset`` with what ``AMIOutputSerializer`` and the cards read, in a constant number of
    queries, and without the columns they never read."""
    return (queryset.select_related("template", "creator", "replacement").prefetch_related(_regions_prefetch())
            .defer(*LIST_DEFERRED))


# --- Browse & search ---------------------------------------------------------------------------------

class AMIPages:
    """The results of a search, sliceable like a queryset (``results[25:50]`` is a list of AMIs)
    and counted without a query when the count is known.

    A slice runs two queries: the page's ids, ordered and filtered (only the ordering keys are
    sorted, e.g. the rank of each of thousands of matches, never whole rows), then those rows
    with what every listing shows (``ami_list_related``), put back in order.

    ``represented(kind, represent)`` gives the same pages as representations (API objects,
    cards): on PostgreSQL each row's comes from ``amis.listing_cache`` when cached, so a page
    whose rows are all cached costs its ids query and one cache round trip.
    """

    def __init__(self, ordered: QuerySet[AMI] | Callable[[], QuerySet[AMI]], count: int | None = None, *,
                 kind: str = "", represent=None, ids_cache: tuple[str, int] | None = None, top_key: str = ""):
        # A callable is built on first use: a page whose ids and rows are all cached never builds
        # the filtered, ordered queryset (the ORM's filter building was a tenth of a warm page).
        self._ordered = ordered
        self._count = count
        self._kind = kind
        self._represent = represent
        self._ids_cache = ids_cache
        # Where the first SEARCH_TOP_IDS ids of a search's relevance order are cached when its
        # facets were counted (``_facets_at_once``): a new search's first pages need no ranked query.
        self._top_key = top_key

    ordered = True  # for Django's paginator: the order is stable

    @property
    def ordered_queryset(self) -> QuerySet[AMI]:
        if callable(self._ordered):
            self._ordered = self._ordered()
        return self._ordered

    def represented(self, kind: str, represent) -> AMIPages:
        """These pages as ``represent(amis)`` makes them (a list in, a list out, same order)."""
        # Shares this one's queryset: built at most once for both.
        ordered = (lambda: self.ordered_queryset) if callable(self._ordered) else self._ordered
        return AMIPages(ordered, self._count, kind=kind, represent=represent, ids_cache=self._ids_cache,
                        top_key=self._top_key)

    def count(self) -> int:
        if self._count is None:
            self._count = self.ordered_queryset.count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __iter__(self):
        return iter(self[:])

    def __getitem__(self, index):
        if not isinstance(index, slice):
            page = self[index:index + 1] if index >= 0 else None
            if not page:
                raise IndexError(index)
            return page[0]
        represented = self._represent is not None and is_indexed()
        rows = self._page_rows(index, represented)
        if represented:
            return cached_representations(self._kind, rows, load=_amis_by_pk, represent=self._represent)
        ids = [row[0] for row in rows]
        by_pk = {ami.pk: ami for ami in _amis_by_pk(ids)}
        amis = [by_pk[pk] for pk in ids if pk in by_pk]
        return amis if self._represent is None else self._represent(amis)

    def _page_rows(self, index: slice, versioned: bool) -> list[tuple]:
        """The page's ``(pk,)`` rows, or ``(pk, listing_version, download_count)`` if ``versioned``,
        in order; the ids from the cache when the pages are cached (``ids_cache``)."""
        fields = ("pk", "listing_version", "download_count") if versioned else ("pk",)
        if self._ids_cache is None:
            return list(self.ordered_queryset.values_list(*fields)[index])
        prefix, ttl = self._ids_cache
        key = f"{prefix}:{index.start}:{index.stop}:{index.step}"
        if self._top_key:
            cached = cache_get_many([key, self._top_key])
            ids = cached.get(key)
            if ids is None:
                ids = _slice_of_top(cached.get(self._top_key), index)
        else:
            ids = cache_get(key)
        if ids is None:
            rows = list(self.ordered_queryset.values_list(*fields)[index])
            cache_set(key, [row[0] for row in rows], ttl)
            return rows
        if not versioned or not ids:
            return [(pk,) for pk in ids]
        found = {row[0]: row for row in _versions_of(ids)}
        return [found[pk] for pk in ids if pk in found]


def _slice_of_top(top: list | None, index: slice) -> list | None:
    """The slice's ids from the first ids of a search's relevance order (``SEARCH_TOP_IDS``, or
    fewer: then they are every match), if it lies within them; None otherwise."""
    if top is None or index.step is not None or (index.start or 0) < 0 or (index.stop or 0) < 0:
        return None
    complete = len(top) < SEARCH_TOP_IDS
    if not complete and (index.stop is None or index.stop > len(top)):
        return None
    return top[index]


def _versions_sql() -> str:
    quote = connection.ops.quote_name
    meta = AMI._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in ("id", "listing_version", "download_count"))
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = ANY(%s)"


def _versions_of(pks: list) -> list[tuple]:
    """``(pk, listing_version, download_count)`` of the rows of ``pks`` (PostgreSQL: the cached
    pages' path, one fixed statement: the queryset form cost more to build than to run)."""
    with connection.cursor() as cursor:
        cursor.execute(_versions_sql(), [list(pks)])
        return cursor.fetchall()


def _amis_by_pk(pks: list) -> list[AMI]:
    """The AMIs of ``pks`` with what every listing shows, in no particular order."""
    return list(ami_list_related(AMI.objects.filter(pk__in=pks)).order_by()) if pks else []


@dataclass
class AMISearchResult:
    """The results (``AMIPages``: filtered, ordered, eager-loaded page by page) plus facet counts
    for the same filters, and the number of results (``count``, exact; from the same cached
    computation as the facets)."""

    queryset: AMIPages
    facets: dict[str, dict[str, int]]
    filterset: object
    count: int | None = None
    # The catalogue generation the facets were counted in (None: counted live, not cacheable).
    generation: str | None = None


FACETS = ("category", "architecture", "region", "template")
# Cached facet counts live until the catalogue's generation changes (then under a new key); the
# TTL only bounds how long an unused entry occupies the cache.
FACET_CACHE_TTL = 3600
# The pages of ids of a search or a filtered browse are cached per generation too: which entries
# match and how relevant each is change only with it, and so do the orders by name, date and rating. Two orders also
# read what moves without a new generation — downloads (``-download_count``) and the best score
# that breaks ties between equally relevant matches (the default order) —: their pages are kept
# for at most SEARCH_PAGE_TTL seconds, so the order among equals may lag downloads that long.
# What a page shows of each entry, its counters included, is always current (``listing_cache``).
SEARCH_PAGE_TTL_EXACT = 3600
SEARCH_PAGE_TTL = {"": 30, "best": 30, "-download_count": 30}
# A search's facets are counted in one pass over its matches; the same pass ranks them and keeps
# this many ids of the relevance order (its first pages at the API's and the site's page sizes),
# cached like a page of ids: the first visitor of a query waits for one pass over its matches, not two.
SEARCH_TOP_IDS = 100


def ami_search(*, user, params) -> AMISearchResult:
    """Browse/search the AMIs visible to ``user`` with the query ``params`` (a QueryDict or dict).

    Filters, ordering and validation live in ``amis.filters.AMIFilter`` (400 on bad values,
    raised as DRF ``ValidationError`` naming the parameter). Facets are counted over the same
    filters, each facet ignoring its own parameter (so picking ``category=ML`` still shows the
    other categories' counts); with no facet parameter set every facet sums to the result count
    (region: entries with an available copy there). Costs a constant number of queries.

    Facet counts and the result count are exact and cached per catalogue generation (a number
    the database bumps in every transaction that changes something they count,
    ``amis.search_index``): what everyone signed in may see (public and community listings, per
    institution policy) is counted once per generation; a signed-in user's own and shared
    entries beyond that are counted live and added (usually one query that finds none).
    """
    # An institution member only browses what their institution's policy allows.
    policy = policy_for_user(user)
    generation = catalogue_generation()
    # Validated on the bare table (the form reads only the parameters); the filtered, ordered
    # queryset is built when a count or a page must come from the database.
    filterset = AMIFilter(data=params, queryset=AMI.objects.all(), generation=generation)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)

    def visible() -> QuerySet[AMI]:
        return ami_filter_by_policy(ami_list_visible_to(user=user), policy=policy)

    def ordered() -> QuerySet[AMI]:
        searched = AMIFilter(data=params, queryset=visible(), generation=generation)
        searched.is_valid()
        return searched.qs

    if generation is None:  # no stored index (SQLite), or inside an uncommitted write: count live
        counts = _facets_and_count(params, visible(), generation)
        return AMISearchResult(queryset=AMIPages(ordered, counts["count"]), facets=counts["facets"],
                               filterset=filterset, count=counts["count"])
    listed = Q(status__in=[AMI.Status.APPROVED, AMI.Status.DEPRECATED])
    if user is not None and is_moderator(user):
        shared_class, extra = "all", None
    elif user is None or not user.is_authenticated:
        shared_class, extra = "public", None
    else:
        shared_class = "member"
        extra = ami_list_visible_to(user=user).exclude(
            listed & Q(visibility__in=[AMI.Visibility.PUBLIC, AMI.Visibility.COMMUNITY]))
    key = _facet_cache_key(generation, shared_class, policy, filterset)
    counts = cache_get(key)
    if counts is None:
        class_rows = {"all": Q(), "public": listed & Q(visibility=AMI.Visibility.PUBLIC),
                      "member": listed & Q(visibility__in=[AMI.Visibility.PUBLIC, AMI.Visibility.COMMUNITY])}
        class_base = AMI.objects.filter(class_rows[shared_class])
        counts = _facets_and_count(params, ami_filter_by_policy(class_base, policy=policy), generation,
                                   top=SEARCH_TOP_IDS if shared_class != "all" else 0)
        top = counts.pop("top", None)
        cache_set(key, counts, FACET_CACHE_TTL)
        if top is not None:
            cache_set(_top_ids_key(key), top, SEARCH_PAGE_TTL[""])
    own_ids = []
    if extra is not None:
        own_ids = list(ami_filter_by_policy(extra, policy=policy).values_list("pk", flat=True)[:10_001])
        if own_ids:
            mine = _facets_and_count(params, AMI.objects.filter(pk__in=own_ids), generation)
            counts = _add_counts(counts, mine)
    ids_cache, top_key = None, ""
    cleaned = filterset.form.cleaned_data
    filters = {k: v for k, v in cleaned.items() if k != "ordering" and v not in (None, "")}
    if shared_class != "all" and not own_ids and filters:
        # A search ranks every match and a filter may read many rows to fill a page: their pages
        # are worth keeping. What this caller sees is exactly their class's: the pages are shared.
        ordering = cleaned.get("ordering") or ""
        ids_cache = (_pages_prefix(key, ordering), SEARCH_PAGE_TTL.get(ordering, SEARCH_PAGE_TTL_EXACT))
        if not ordering and search_terms(cleaned.get("q") or ""):
            top_key = _top_ids_key(key)
    return AMISearchResult(queryset=AMIPages(ordered, counts["count"], ids_cache=ids_cache, top_key=top_key),
                           facets=counts["facets"], filterset=filterset, count=counts["count"], generation=generation)


def _pages_prefix(facet_key: str, ordering: str) -> str:
    """Where the pages of ids of the search counted under ``facet_key`` are cached, per ordering."""
    return facet_key.replace("amis:facets:", "amis:pages:", 1) + f":{ordering}"


def _top_ids_key(facet_key: str) -> str:
    """Where the first ``SEARCH_TOP_IDS`` ids of the relevance order of the search counted under
    ``facet_key`` are cached (beside its pages of ids in that order)."""
    return _pages_prefix(facet_key, "") + ":top"


def _facet_cache_key(generation: str, shared_class: str, policy: Policy, filterset) -> str:
    data = {k: v for k, v in filterset.form.cleaned_data.items() if k != "ordering" and v not in (None, "")}
    digest = hashlib.sha256(repr((sorted((k, str(v)) for k, v in data.items()), repr(policy))).encode()).hexdigest()
    return f"amis:facets:{generation}:{shared_class}:{digest[:32]}"


def _add_counts(a: dict, b: dict) -> dict:
    facets = {}
    for facet in FACETS:
        merged = dict(a["facets"].get(facet, {}))
        for value, n in b["facets"].get(facet, {}).items():
            merged[value] = merged.get(value, 0) + n
        facets[facet] = dict(sorted(merged.items()))
    return {"facets": facets, "count": a["count"] + b["count"]}


def _facets_and_count(params, base: QuerySet[AMI], generation: str | None, *, top: int = 0) -> dict:
    """``{"facets", "count"}``; with ``top``, a search counted in one pass also gives ``"top"``:
    the first ``top`` ids of its relevance order."""
    if not is_indexed() or any(params.get(facet) for facet in FACETS):
        return _facets_and_count_each(params, base, generation)
    # No facet parameter: every facet counts the same filter — one pass over the matches (the
    # text match of a search runs once, not five times) for the four facets and the total.
    filterset = AMIFilter(data=params, queryset=base, generation=generation)
    filterset.is_valid()
    matching = filterset.filtered_unordered()
    ranked = top if "search_rank" in matching.query.annotations else 0
    facets, count, top_ids = _facets_at_once(matching, top=ranked)
    return {"facets": facets, "count": count, **({"top": top_ids} if ranked else {})}


# GROUPING(category, architecture, template slug) of each grouping set in ``_facets_at_once``;
# the region rows carry a number no grouping set has.
_GROUPING_SETS = {0b011: "category", 0b101: "architecture", 0b110: "template"}
_REGION_ROWS = 8
_TOP_ROWS = 9
# The relevance order over the CTE's columns, which carry the ordering fields' names.
_RELEVANCE_ORDER = ", ".join(f"{field} DESC" if descending else field for field, descending in RELEVANCE_ORDER)


def _facets_at_once(matching: QuerySet[AMI], *, top: int = 0) -> tuple[dict[str, dict[str, int]], int, list]:
    """Every facet's counts and the number of ``matching`` rows in one statement (PostgreSQL):
    the matches read once into a CTE, then grouped by ``GROUPING SETS`` (category, architecture,
    template, the total) and by the elements of the stored region array; each facet ordered by
    value by the database, as ``_facet_counts``' are — the same answer as those four queries and
    a ``COUNT``. With ``top`` (a search: ``matching`` carries ``search_rank``), the same statement
    also returns the first ``top`` ids of the relevance order."""
    columns = ["category", "architecture", "template__slug", "available_regions"]
    ordering_fields = [field for field, _descending in RELEVANCE_ORDER]
    if top:
        columns += ordering_fields
    inner = matching.values_list(*columns).order_by()
    sql, sql_params = inner.query.sql_with_params()
    facets: dict[str, dict[str, int]] = {facet: {} for facet in FACETS}
    count = 0
    ranked: list[tuple[int, uuid.UUID]] = []
    names = ", ".join(["c", "a", "t", "r", *(ordering_fields if top else [])])
    top_rows = (f"UNION ALL SELECT {_TOP_ROWS}, NULL, NULL, NULL, id::text, row_number() OVER (ORDER BY "
                f"{_RELEVANCE_ORDER}) FROM (SELECT {', '.join(ordering_fields)} FROM m ORDER BY {_RELEVANCE_ORDER} "
                "LIMIT %s) AS top " if top else "")
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH m ({names}) AS MATERIALIZED ({sql}) "
            "SELECT GROUPING(c, a, t), c, a, t, NULL, COUNT(*) FROM m GROUP BY GROUPING SETS ((c), (a), (t), ()) "
            f"UNION ALL SELECT {_REGION_ROWS}, NULL, NULL, NULL, region, COUNT(*) "
            "FROM m CROSS JOIN LATERAL jsonb_array_elements_text(m.r) AS region GROUP BY region "
            f"{top_rows}ORDER BY 1, 2, 3, 4, 5", [*sql_params, *([top] if top else [])])
        for grouping, category, architecture, slug, region, n in cursor.fetchall():
            if grouping == _REGION_ROWS:
                facets["region"][region] = n
                continue
            if grouping == _TOP_ROWS:
                ranked.append((n, uuid.UUID(region)))
                continue
            facet = _GROUPING_SETS.get(grouping)
            value = {"category": category, "architecture": architecture, "template": slug}.get(facet)
            if facet is None:
                count = n
            elif value:  # entries without a category/architecture/template are not counted
                facets[facet][value] = n
    return facets, count, [pk for _position, pk in sorted(ranked)]


def _facets_and_count_each(params, base: QuerySet[AMI], generation: str | None) -> dict:
    facets = {}
    for facet in FACETS:
        data = params.copy() if hasattr(params, "copy") else dict(params)
        data.pop(facet, None)
        facet_fs = AMIFilter(data=data, queryset=base, generation=generation)
        facet_fs.is_valid()
        facets[facet] = _facet_counts(facet, facet_fs.filtered_unordered())
    count_fs = AMIFilter(data=params, queryset=base, generation=generation)
    count_fs.is_valid()
    return {"facets": facets, "count": count_fs.filtered_unordered().count()}


def _facet_counts(facet: str, qs: QuerySet[AMI]) -> dict[str, int]:
    if facet == "region" and is_indexed():
        # The stored, sorted region array: one pass over the matching rows, no join.
        rows = (qs.annotate(_region=Func(F("available_regions"), function="jsonb_array_elements_text"))
                .values_list("_region").annotate(n=Count("pk")).order_by("_region"))
        return {value: n for value, n in rows}
    ids = qs.values("pk")
    if facet == "region":
        rows = (AMIRegion.objects.filter(ami_id__in=ids, state=AMIRegion.State.AVAILABLE)
                .values_list("region").annotate(n=Count("ami_id", distinct=True)).order_by("region"))
    elif facet == "template":
        rows = (qs.filter(template__isnull=False).values_list("template__slug")
                .annotate(n=Count("pk")).order_by("template__slug"))
    else:
        rows = qs.exclude(**{facet: ""}).values_list(facet).annotate(n=Count("pk")).order_by(facet)
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
    # One pass over each table, grouped by (day, region): at most days × regions rows come back,
    # however many downloads there are.
    raw = (Download.objects.filter(ami=ami).annotate(day=TruncDate("at")).values_list("day", "region")
           .annotate(n=Count("pk")).order_by())
    rolled = DownloadDaily.objects.filter(ami=ami).values_list("day", "region").annotate(n=Sum("count")).order_by()
    for rows in (raw, rolled):
        for day, region, n in rows:
            by_region[region or "unknown"] = by_region.get(region or "unknown", 0) + (n or 0)
            key = day.isoformat()
            by_day[key] = by_day.get(key, 0) + (n or 0)
    return {
        "download_count": ami.download_count,
        "downloads_by_region": dict(sorted(by_region.items())),
        "downloads_by_day": dict(sorted(by_day.items())),
        "rating_histogram": ami_rating_histogram(ami=ami),
    }


# --- Moderation queue (the admin index) ------------------------------------------------------------

# How soon a scan exception counts as "about to expire" on the moderation queue.
SCAN_EXCEPTION_EXPIRY_WARNING_DAYS = 7


def ami_moderation_counts(*, now=None) -> dict[str, int]:
    """What waits for moderators in the catalogue: submissions to review, listed or pending
    entries whose last scan failed, and scan exceptions that expire within
    ``SCAN_EXCEPTION_EXPIRY_WARNING_DAYS`` (then the entry's approval gate closes again)."""
    now = now or timezone.now()
    active = [AMI.Status.PENDING_REVIEW, AMI.Status.APPROVED, AMI.Status.DEPRECATED]
    return {
        "pending_review": AMI.objects.filter(status=AMI.Status.PENDING_REVIEW).count(),
        "failed_scans": AMI.objects.filter(scan_status=AMI.ScanStatus.FAILED, status__in=active).count(),
        "expiring_exceptions": ScanException.objects.filter(
            expires_at__gt=now, expires_at__lte=now + timedelta(days=SCAN_EXCEPTION_EXPIRY_WARNING_DAYS)).count(),
    }
