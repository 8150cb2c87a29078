"""Ratings use-cases; the AMI's aggregates are updated in the same transaction."""
from __future__ import annotations

from django.db import transaction
from django.db.models import Avg, Count, Sum
from django.utils import timezone

from amis.models import AMI
from ratings.models import Rating
from registry.audit import audit_record
from registry.errors import InvalidInput
from registry.permissions import is_moderator
from registry.errors import Forbidden


def ami_rating_aggregates_refresh(*, ami_id) -> None:
    """Recompute rating_avg/count/sum from the visible rows. Call inside a transaction that holds
    the AMI row lock, so concurrent writers serialise and the result is exact."""
    agg = Rating.objects.filter(ami_id=ami_id, is_hidden=False).aggregate(n=Count("id"), s=Sum("rating"),
                                                                            a=Avg("rating"))
    AMI.objects.filter(pk=ami_id).update(rating_count=agg["n"] or 0, rating_sum=agg["s"] or 0,
                                         rating_avg=round(agg["a"] or 0, 2))


@transaction.atomic
def rating_hide(*, rating: Rating, moderator, reason: str) -> Rating:
    """Moderator hides a review: omitted from lists and excluded from the average. Audited."""
    if not is_moderator(moderator):
        raise Forbidden("only moderators may hide reviews")
    if not (reason or "").strip():
        raise InvalidInput("a reason is required to hide a review", errors={"reason": ["This field is required."]})
    AMI.objects.select_for_update().filter(pk=rating.ami_id).first()  # serialise with rating writers
    rating = Rating.objects.select_for_update().get(pk=rating.pk)
    if rating.is_hidden:
        return rating
    rating.is_hidden = True
    rating.hidden_reason = reason.strip()
    rating.hidden_by = moderator
    rating.hidden_at = timezone.now()
    rating.save(update_fields=["is_hidden", "hidden_reason", "hidden_by", "hidden_at", "updated_at"])
    ami_rating_aggregates_refresh(ami_id=rating.ami_id)
    audit_record(actor=moderator, action="rating.hide", target=rating, before={"is_hidden": False},
                 after={"is_hidden": True}, reason=reason.strip())
    return rating
