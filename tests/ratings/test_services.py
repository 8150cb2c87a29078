"""ratings.services: submit / replace / delete / hide, the aggregates and the audit trail."""
from decimal import Decimal

import pytest

from amis.models import AMI, Download
from ratings.models import Rating
from amis.selectors import ami_rating_histogram
from ratings.selectors import rating_list_for_ami
from ratings.services import rating_delete, rating_hide, rating_submit
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.models import AuditEvent
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db


def _aggregates(ami):
    ami.refresh_from_db()
    return ami.rating_count, ami.rating_sum, ami.rating_avg


def test_submit_creates_then_replaces_one_row(user):
    ami = AMIFactory()

    first, created = rating_submit(ami=ami, user=user, rating=4, review="  Solid image.  ")
    assert created is True
    assert first.review == "Solid image."  # surrounding whitespace is not content
    assert _aggregates(ami) == (1, 4, Decimal("4.00"))

    second, created = rating_submit(ami=ami, user=user, rating=2, review="Broke after an update.")
    assert created is False
    assert second.pk == first.pk
    assert Rating.objects.filter(ami=ami).count() == 1
    assert Rating.objects.get(pk=first.pk).review == "Broke after an update."
    assert _aggregates(ami) == (1, 2, Decimal("2.00"))

    actions = list(AuditEvent.objects.filter(target_type="ratings.rating").order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["rating.create", "rating.replace"]
    replace = AuditEvent.objects.get(action="rating.replace")
    assert replace.before == {"rating": 4, "review": "Solid image."}
    assert replace.after == {"rating": 2, "review": "Broke after an update."}
    assert replace.actor == user


def test_average_is_the_mean_of_visible_rows_rounded(make_user):
    ami = AMIFactory()
    for i, stars in enumerate([5, 4, 4]):
        rating_submit(ami=ami, user=make_user(f"rater{i}"), rating=stars)
    assert _aggregates(ami) == (3, 13, Decimal("4.33"))
    assert ami_rating_histogram(ami=ami) == {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1}


@pytest.mark.parametrize("stars", [0, 6, -1, 100, True, 4.5, "4", None])
def test_submit_refuses_anything_but_1_to_5(user, stars):
    ami = AMIFactory()
    with pytest.raises(InvalidInput) as exc:
        rating_submit(ami=ami, user=user, rating=stars)
    assert "rating" in exc.value.errors
    assert not Rating.objects.exists()


def test_submit_refuses_review_over_5000_characters(user):
    ami = AMIFactory()
    rating_submit(ami=ami, user=user, rating=3, review="x" * 5000)  # the limit itself is fine
    with pytest.raises(InvalidInput) as exc:
        rating_submit(ami=ami, user=user, rating=3, review="x" * 5001)
    assert "review" in exc.value.errors
    assert len(Rating.objects.get().review) == 5000


def test_owner_cannot_rate_own_ami(user):
    ami = AMIFactory(creator=user)
    with pytest.raises(Forbidden):
        rating_submit(ami=ami, user=user, rating=5)
    assert not Rating.objects.exists()


def test_invisible_ami_is_not_found(user, other_user):
    private = AMIFactory(creator=other_user, visibility=AMI.Visibility.PRIVATE)
    with pytest.raises(NotFound):
        rating_submit(ami=private, user=user, rating=5)


@pytest.mark.parametrize("status", [AMI.Status.PENDING_REVIEW, AMI.Status.REJECTED, AMI.Status.REVOKED])
def test_only_listed_entries_can_be_rated(moderator, status):
    ami = AMIFactory(status=status)
    with pytest.raises(Conflict) as exc:
        rating_submit(ami=ami, user=moderator, rating=5)
    assert exc.value.extra == {"current_status": status}


def test_deprecated_entries_can_still_be_rated(user):
    ami = AMIFactory(status=AMI.Status.DEPRECATED)
    _, created = rating_submit(ami=ami, user=user, rating=3)
    assert created and _aggregates(ami) == (1, 3, Decimal("3.00"))


def test_delete_removes_own_rating_and_updates_aggregates(user, other_user):
    ami = AMIFactory()
    rating_submit(ami=ami, user=user, rating=5)
    rating_submit(ami=ami, user=other_user, rating=1)
    assert _aggregates(ami) == (2, 6, Decimal("3.00"))

    rating_delete(ami=ami, user=user)

    assert list(Rating.objects.values_list("user__username", flat=True)) == ["bob"]
    assert _aggregates(ami) == (1, 1, Decimal("1.00"))
    event = AuditEvent.objects.get(action="rating.delete")
    assert event.before["rating"] == 5 and event.actor == user
    with pytest.raises(NotFound):
        rating_delete(ami=ami, user=user)


def test_deleting_the_last_rating_resets_aggregates(user):
    ami = AMIFactory()
    rating_submit(ami=ami, user=user, rating=5)
    rating_delete(ami=ami, user=user)
    assert _aggregates(ami) == (0, 0, Decimal("0.00"))


def test_hidden_review_is_excluded_from_average_and_list(user, other_user, moderator):
    ami = AMIFactory()
    spam, _ = rating_submit(ami=ami, user=user, rating=1, review="buy cheap watches")
    rating_submit(ami=ami, user=other_user, rating=5)

    rating_hide(rating=spam, moderator=moderator, reason="spam")

    assert _aggregates(ami) == (1, 5, Decimal("5.00"))
    assert spam.pk not in [r.pk for r in rating_list_for_ami(ami=ami)]
    assert spam.pk in [r.pk for r in rating_list_for_ami(ami=ami, include_hidden=True)]
    event = AuditEvent.objects.get(action="rating.hide")
    assert event.reason == "spam" and event.actor == moderator

    # Re-posting does not undo moderation: the replaced review stays hidden and out of the average.
    _, created = rating_submit(ami=ami, user=user, rating=2, review="still spam")
    assert created is False
    assert Rating.objects.get(pk=spam.pk).is_hidden is True
    assert _aggregates(ami) == (1, 5, Decimal("5.00"))


def test_hide_requires_moderator_and_reason(user, other_user, moderator):
    ami = AMIFactory()
    rating, _ = rating_submit(ami=ami, user=user, rating=1)
    with pytest.raises(Forbidden):
        rating_hide(rating=rating, moderator=other_user, reason="no")
    with pytest.raises(InvalidInput):
        rating_hide(rating=rating, moderator=moderator, reason="   ")
    assert Rating.objects.get(pk=rating.pk).is_hidden is False


def test_verified_launch_marks_reviewers_with_a_download(user, other_user):
    ami = AMIFactory()
    rating_submit(ami=ami, user=user, rating=5)
    rating_submit(ami=ami, user=other_user, rating=4)
    Download.objects.create(ami=ami, user=user, region="us-east-1", client="cws")
    Download.objects.create(ami=AMIFactory(), user=other_user, region="us-east-1")  # another AMI: no

    verified = {r.user.username: r.verified_launch for r in rating_list_for_ami(ami=ami)}
    assert verified == {"alice": True, "bob": False}


@pytest.mark.parametrize("change", [{"review": "x" * 5001}, {"rating": 6}, {"rating": 0}])
def test_database_enforces_the_limits_too(user, change):
    """The services validate first; the constraints catch any writer that skips them."""
    from django.db import IntegrityError, transaction

    rating_submit(ami=AMIFactory(), user=user, rating=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.update(**change)


def test_database_allows_one_rating_per_user_and_ami(user):
    from django.db import IntegrityError, transaction

    ami = AMIFactory()
    rating_submit(ami=ami, user=user, rating=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(ami=ami, user=user, rating=4)


def test_average_rounds_half_up(make_user):
    ami = AMIFactory()
    for i, stars in enumerate([4, 4, 3, 3, 3, 3, 3, 2]):  # 25 / 8 = 3.125
        rating_submit(ami=ami, user=make_user(f"r{i}"), rating=stars)
    assert _aggregates(ami) == (8, 25, Decimal("3.13"))
