"""Ratings use-cases. One function per use-case; the API, the web pages and the admin call these.

Aggregates (``rating_avg``, ``rating_count``, ``rating_sum`` on the AMI row) are kept exact under
concurrency by one rule: every writer of ``ami_ratings`` first locks the AMI row
(``SELECT ... FOR UPDATE``), then changes ratings, then recomputes the aggregates from the rows in
the same transaction (``ami_rating_aggregates_refresh``). Writers of one AMI therefore run one
after the other, and each recomputation sees every committed change (PostgreSQL READ COMMITTED
takes a fresh snapshot per statement, after the lock was granted).
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, F, Sum
from django.utils import timezone

from amis.models import AMI
from amis.ranking import best_score_refresh
from amis.selectors import ami_is_owner, ami_list_visible_to
from ratings.models import REVIEW_MAX_LENGTH, Rating, RatingHelpfulVote, RatingReport
from registry.audit import audit_record
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.permissions import moderator_required
from registry.text import text_strip_invisible

# Only listed entries collect reviews: drafts, submissions and revoked entries are not "out there".
RATEABLE_STATUSES = (AMI.Status.APPROVED, AMI.Status.DEPRECATED)


def _ami_lock(ami: AMI | str) -> AMI:
    """Re-read the AMI under a row lock: serialises every ratings writer of this AMI."""
    pk = ami.pk if isinstance(ami, AMI) else ami
    locked = AMI.objects.select_for_update().filter(pk=pk).first()
    if locked is None:
        raise NotFound("AMI not found.")
    return locked


def ami_rating_aggregates_refresh(*, ami_id) -> None:
    """Recompute rating_avg/count/sum from the visible rows. Call inside a transaction that holds
    the AMI row lock, so concurrent writers serialise and the result is exact."""
    agg = Rating.objects.filter(ami_id=ami_id, is_hidden=False).aggregate(n=Count("id"), s=Sum("rating"),
                                                                            a=Avg("rating"))
    # Half-up, as people round (Python's round() would turn 3.125 into 3.12).
    avg = Decimal(agg["a"] or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    AMI.objects.filter(pk=ami_id).update(rating_count=agg["n"] or 0, rating_sum=agg["s"] or 0, rating_avg=avg)
    best_score_refresh(ami_ids=[ami_id])


def _validate(rating, review) -> str:
    """Field checks with friendly messages; the DB check constraint (1–5) stays the truth."""
    errors: dict[str, list[str]] = {}
    # bool is an int in Python: refuse it explicitly, True is not one star.
    if isinstance(rating, bool) or not isinstance(rating, int):
        errors["rating"] = ["A whole number from 1 to 5 is required."]
    elif not 1 <= rating <= 5:
        errors["rating"] = ["Must be between 1 and 5."]
    if review is None:
        review = ""
    if not isinstance(review, str):
        errors["review"] = ["Must be text."]
    else:
        review = text_strip_invisible(review).strip()  # bidi/zero-width characters deceive readers
        if len(review) > REVIEW_MAX_LENGTH:
            errors["review"] = [f"At most {REVIEW_MAX_LENGTH} characters (got {len(review)})."]
        if "\x00" in review:
            errors["review"] = ["NUL characters are not allowed."]  # PostgreSQL text cannot hold them
    if errors:
        message = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
        raise InvalidInput(message, errors=errors)
    return review


@transaction.atomic
def rating_submit(*, ami: AMI, user, rating: int, review: str = "") -> tuple[Rating, bool]:
    """Rate (and optionally review) an AMI; a second call by the same user replaces the first.

    Returns ``(rating, created)``. Raises ``InvalidInput`` (stars outside 1–5, review too long),
    ``NotFound`` (the AMI is not visible to ``user``), ``Forbidden`` (own AMI, not signed in),
    ``Conflict`` (the entry is not approved/deprecated). Audited as ``rating.create`` or
    ``rating.replace``. A hidden review stays hidden when replaced: moderation is not undone by
    re-posting. The review is stored as plain text; escaping is the renderer's job.
    """
    if user is None or not user.is_authenticated:
        raise Forbidden("sign in to rate an AMI")
    review = _validate(rating, review)
    ami = _ami_lock(ami)
    # Re-checked here (not only in the view) so that every caller gets the same answer, and a
    # private entry never leaks: invisible means "not found", exactly as the API says.
    if not ami_list_visible_to(user=user).filter(pk=ami.pk).exists():
        raise NotFound("AMI not found.")
    if ami_is_owner(user=user, ami=ami):
        raise Forbidden("you cannot rate your own AMI", code="own_ami")
    if ami.status not in RATEABLE_STATUSES:
        raise Conflict(f"only approved or deprecated AMIs can be rated; this one is '{ami.status}'",
                       code="not_rateable", extra={"current_status": ami.status})

    # The AMI lock makes "read, then insert or update" safe for every writer going through this
    # module (a double-post waits on the lock and then finds the first row).
    existing = Rating.objects.select_for_update().filter(ami=ami, user=user).first()
    created = existing is None
    if created:
        try:
            with transaction.atomic():  # savepoint: the outer transaction survives the IntegrityError
                obj = Rating.objects.create(ami=ami, user=user, rating=rating, review=review)
        except IntegrityError:
            # Someone inserted without taking the AMI lock (raw SQL, a future code path): the
            # unique constraint (user, ami) caught it; fall back to replacing that row.
            existing = Rating.objects.select_for_update().filter(ami=ami, user=user).first()
            if existing is None:
                raise
            created = False
    if not created:
        obj = existing
        before = {"rating": obj.rating, "review": obj.review}
        obj.rating = rating
        obj.review = review
        obj.save(update_fields=["rating", "review", "updated_at"])
    ami_rating_aggregates_refresh(ami_id=ami.pk)
    audit_record(actor=user, action="rating.create" if created else "rating.replace", target=obj,
                 before=None if created else before, after={"rating": rating, "review": review})
    return obj, created


@transaction.atomic
def rating_delete(*, ami: AMI, user) -> None:
    """Delete the caller's own rating of ``ami``. Raises ``NotFound`` when there is none.
    Aggregates are recomputed under the AMI lock; audited as ``rating.delete``."""
    if user is None or not user.is_authenticated:
        raise Forbidden("sign in to delete your rating")
    ami = _ami_lock(ami)
    obj = Rating.objects.select_for_update().filter(ami=ami, user=user).first()
    if obj is None:
        raise NotFound("you have not rated this AMI")
    # Audit before delete(): Django clears the pk of a deleted instance.
    audit_record(actor=user, action="rating.delete", target=obj,
                 before={"rating": obj.rating, "review": obj.review, "is_hidden": obj.is_hidden})
    obj.delete()
    ami_rating_aggregates_refresh(ami_id=ami.pk)


@transaction.atomic
def rating_hide(*, rating: Rating, moderator, reason: str) -> Rating:
    """Moderator hides a review: omitted from lists and excluded from the average. Audited as
    ``rating.hide``; hiding an already hidden review changes nothing (idempotent)."""
    moderator_required(moderator, message="only moderators may hide reviews")
    if not (reason or "").strip():
        raise InvalidInput("a reason is required to hide a review", errors={"reason": ["This field is required."]})
    _ami_lock(rating.ami_id)  # serialise with rating writers
    rating = Rating.objects.select_for_update().filter(pk=rating.pk).first()
    if rating is None:
        raise NotFound("rating not found")
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


REPORT_REASON_MAX = 2000


def _review_of_someone_else(*, rating: Rating, user, verb: str) -> None:
    """Signed in, the review visible to ``user`` and not their own — else Forbidden/NotFound."""
    if user is None or not user.is_authenticated:
        raise Forbidden(f"sign in to {verb} a review")
    if rating.is_hidden or not ami_list_visible_to(user=user).filter(pk=rating.ami_id).exists():
        raise NotFound("rating not found")
    if rating.user_id == user.pk:
        raise Forbidden(f"you cannot {verb} your own review", code="own_review")


@transaction.atomic
def rating_helpful_mark(*, rating: Rating, user) -> tuple[Rating, bool]:
    """``user`` found ``rating``'s review helpful. Returns ``(rating, counted)``; idempotent: a
    second mark by the same user counts nothing (``counted`` False).

    The vote row's unique constraint decides who counted first; the counter moves with
    ``F()`` in the same transaction, so concurrent marks never lose an increment. Not one's own
    review (403), not a hidden one (404). Audited as ``rating.helpful``.
    """
    _review_of_someone_else(rating=rating, user=user, verb="mark")
    try:
        with transaction.atomic():  # savepoint: a duplicate vote leaves the outer transaction usable
            RatingHelpfulVote.objects.create(rating=rating, user=user)
    except IntegrityError:
        rating.refresh_from_db(fields=["helpful_count"])
        return rating, False
    Rating.objects.filter(pk=rating.pk).update(helpful_count=F("helpful_count") + 1)
    rating.refresh_from_db(fields=["helpful_count"])
    audit_record(actor=user, action="rating.helpful", target=rating, after={"helpful_count": rating.helpful_count})
    return rating, True


@transaction.atomic
def rating_helpful_unmark(*, rating: Rating, user) -> Rating:
    """Withdraw ``user``'s helpful mark (nothing to withdraw changes nothing). ``F()`` again."""
    if user is None or not user.is_authenticated:
        raise Forbidden("sign in to change your vote")
    if RatingHelpfulVote.objects.filter(rating=rating, user=user).delete()[0]:
        Rating.objects.filter(pk=rating.pk, helpful_count__gt=0).update(helpful_count=F("helpful_count") - 1)
        audit_record(actor=user, action="rating.unhelpful", target=rating)
    rating.refresh_from_db(fields=["helpful_count"])
    return rating


@transaction.atomic
def rating_report(*, rating: Rating, user, reason: str) -> tuple[RatingReport, bool]:
    """``user`` reports a review to the moderators (their queue: open reports). Returns
    ``(report, created)``; reporting the same review again while the report is open returns it.
    Reason required (≤ 2,000 characters); not one's own review (403). Audited as ``rating.report``."""
    _review_of_someone_else(rating=rating, user=user, verb="report")
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise InvalidInput("reason: say what is wrong with the review", errors={"reason": ["This field is required."]})
    if len(reason) > REPORT_REASON_MAX:
        raise InvalidInput(f"reason: at most {REPORT_REASON_MAX} characters",
                           errors={"reason": [f"At most {REPORT_REASON_MAX} characters."]})
    open_report = RatingReport.objects.filter(rating=rating, reporter=user, status=RatingReport.Status.OPEN).first()
    if open_report is not None:
        return open_report, False
    try:
        with transaction.atomic():
            report = RatingReport.objects.create(rating=rating, reporter=user, reason=reason)
    except IntegrityError:  # a concurrent double post: the partial unique constraint caught it
        return RatingReport.objects.get(rating=rating, reporter=user, status=RatingReport.Status.OPEN), False
    audit_record(actor=user, action="rating.report", target=rating, reason=reason, after={"report": report.pk})
    return report, True


@transaction.atomic
def rating_reports_resolve(*, rating: Rating, moderator, hide: bool, reason: str = "") -> int:
    """A moderator closes every open report of ``rating``: ``hide`` hides the review
    (``rating_hide``, reason required) and marks the reports ``hidden``; otherwise they are
    ``dismissed``. Returns how many reports were closed. Audited as ``rating.reports_resolve``."""
    moderator_required(moderator, message="only moderators may resolve reports")
    if hide:
        rating_hide(rating=rating, moderator=moderator, reason=reason)
    closed = RatingReport.objects.filter(rating=rating, status=RatingReport.Status.OPEN).update(
        status=RatingReport.Status.HIDDEN if hide else RatingReport.Status.DISMISSED,
        resolved_by=moderator, resolved_at=timezone.now())
    if closed:
        audit_record(actor=moderator, action="rating.reports_resolve", target=rating, reason=(reason or "").strip(),
                     after={"reports": closed, "outcome": "hidden" if hide else "dismissed"})
    return closed


# What becomes of a user's ratings when their account is erased (``DELETE /me``).
ERASE_ANONYMISE = "anonymise"
ERASE_DELETE = "delete"
ERASE_CHOICES = (ERASE_ANONYMISE, ERASE_DELETE)


def rating_erase_choice_check(reviews: str) -> None:
    if reviews not in ERASE_CHOICES:
        raise InvalidInput("reviews must be 'anonymise' or 'delete'",
                           errors={"reviews": ["Must be 'anonymise' or 'delete'."]})


@transaction.atomic
def rating_user_erase(*, user, reviews: str = ERASE_ANONYMISE) -> dict:
    """Account erasure (called by ``registry.composers.gdpr``): the user's ratings are anonymised
    (kept, shown as "deleted user"; aggregates unchanged) or deleted (aggregates recomputed).

    Like every ratings writer it locks the affected AMI rows first — in id order, so it never
    deadlocks with concurrent rating writers — so the aggregates stay exact. Returns
    ``{"ratings_anonymised": n}`` or ``{"ratings_deleted": n}`` (recorded in the ``user.erase`` event).
    """
    rating_erase_choice_check(reviews)
    rated = sorted(set(Rating.objects.filter(user=user).values_list("ami_id", flat=True)), key=str)
    list(AMI.objects.select_for_update().filter(pk__in=rated).order_by("pk").values_list("pk", flat=True))
    if reviews == ERASE_DELETE:
        deleted = Rating.objects.filter(user=user).delete()[0]
        for ami_id in rated:
            ami_rating_aggregates_refresh(ami_id=ami_id)
        return {"ratings_deleted": deleted}
    return {"ratings_anonymised": Rating.objects.filter(user=user).update(user=None, updated_at=timezone.now())}
