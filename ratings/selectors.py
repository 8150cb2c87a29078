"""Read queries for ratings. The selectors own their eager loading: a page of reviews costs a
constant number of queries whatever its size."""
from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from amis.models import AMI, Download
from ratings.models import Rating, RatingHelpfulVote, RatingReport


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

