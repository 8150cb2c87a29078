"""Read queries for ratings. The selectors own their eager loading: a page of reviews costs a
constant number of queries whatever its size."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, QuerySet

from amis.models import AMI, Download
from ratings.models import Rating, RatingHelpfulVote, RatingReport
from registry.prepared import NIL_UUID, PreparedQuery


def _with_verified_launch(qs: QuerySet[Rating]) -> QuerySet[Rating]:
    # NOTE: one EXISTS subquery per row inside the same SQL statement (index download_user_ami_idx),
    # instead of one query per review. A review by a deleted (anonymised) user is never verified.
    downloads = Download.objects.filter(ami_id=OuterRef("ami_id"), user_id=OuterRef("user_id"))
    return qs.annotate(verified_launch=Exists(downloads))


def rating_list_for_ami(*, ami: AMI, include_hidden: bool = False) -> QuerySet[Rating]:
    """The reviews of ``ami``, newest first, annotated with ``verified_launch``.

    Hidden reviews are omitted unless ``include_hidden`` (moderation screens). The caller has
    already decided that the AMI is visible (``amis.selectors.ami_get_visible``).
    """
    qs = Rating.objects.filter(ami=ami).select_related("user")
    if not include_hidden:
        qs = qs.filter(is_hidden=False)
    return _with_verified_launch(qs).order_by("-created_at", "-id")


# "Most helpful": the most helpful marks first, then reviews by people who recorded a launch,
# then written reviews before bare stars, newest first within each group.
HELPFUL_ORDER = ("-helpful_count", "-verified_launch", "-review", "-created_at", "-id")


def rating_list_ordered(*, ami: AMI, order: str) -> QuerySet[Rating]:
    """``rating_list_for_ami`` in ``order`` (``newest`` or ``helpful``)."""
    reviews = rating_list_for_ami(ami=ami)
    return reviews.order_by(*HELPFUL_ORDER) if order == "helpful" else reviews


@dataclass(frozen=True)
class ReviewRow:
    """One review as the AMI page lists it (``username`` None: the reviewer's account is gone)."""

    pk: int
    user_id: int | None
    username: str | None
    rating: int
    review: str
    helpful_count: int
    updated_at: datetime
    verified_launch: bool


_REVIEW_ROW_SOURCES = ("pk", "user_id", "user__username", "rating", "review", "helpful_count", "updated_at",
                       "verified_launch")


def _reviews_query(order: str):
    return lambda ami_id: rating_list_ordered(ami=AMI(pk=ami_id), order=order).values_list(*_REVIEW_ROW_SOURCES)


_REVIEW_ROWS = {order: PreparedQuery(_reviews_query(order), ami_id=NIL_UUID) for order in ("newest", "helpful")}
_REVIEW_COUNT = PreparedQuery(lambda ami_id: Rating.objects.filter(ami_id=ami_id, is_hidden=False).order_by()
                              .values("ami_id").annotate(n=Count("pk")).values_list("n"), ami_id=NIL_UUID)


class ReviewsOfAMI:
    """``rating_list_ordered(ami, order)`` as ``ReviewRow``s, counted and sliced as ``Paginator``
    does, with two statements compiled once: the AMI page lists reviews on every view, and
    building those querysets cost Django more than PostgreSQL took to run them."""

    def __init__(self, *, ami: AMI, order: str):
        self._ami_id = ami.pk
        self._rows = _REVIEW_ROWS["helpful" if order == "helpful" else "newest"]

    def count(self) -> int:
        found = _REVIEW_COUNT.rows(ami_id=self._ami_id)
        return found[0][0] if found else 0

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[ReviewRow]:
        if not isinstance(index, slice) or index.step is not None or (index.start or 0) < 0:
            raise TypeError("reviews are read by forward slices")
        start = index.start or 0
        limit = None if index.stop is None else max(0, index.stop - start)
        return [ReviewRow(*row) for row in self._rows.rows(ami_id=self._ami_id, limit=limit, offset=start)]


def rating_ids_marked_helpful_by(*, user, ratings) -> set[int]:
    """Which of ``ratings`` ``user`` has marked helpful (one query)."""
    if user is None or not user.is_authenticated:
        return set()
    return set(RatingHelpfulVote.objects.filter(user=user, rating__in=[r.pk for r in ratings])
               .values_list("rating_id", flat=True))


def rating_reports_open() -> QuerySet[RatingReport]:
    """Open reports, oldest first (the moderators' queue), with the review, its AMI and people."""
    return (RatingReport.objects.filter(status=RatingReport.Status.OPEN)
            .select_related("rating__ami", "rating__user", "reporter").order_by("created_at", "id"))


def rating_get(*, ami: AMI, rating_id: int) -> Rating | None:
    """One rating of ``ami`` (hidden or not), annotated like the list; None when it does not exist."""
    return rating_list_for_ami(ami=ami, include_hidden=True).filter(pk=rating_id).first()


def rating_get_for_user(*, ami: AMI, user) -> Rating | None:
    """The caller's own rating of ``ami`` (hidden or not), or None."""
    if user is None or not user.is_authenticated:
        return None
    return rating_list_for_ami(ami=ami, include_hidden=True).filter(user=user).first()

