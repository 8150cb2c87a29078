"""Aggregates stay exact under real concurrency: real PostgreSQL, real threads, one connection each.

These run with ``transaction=True`` so every thread's transaction really commits (and really
waits on the others' row locks). They need none of the migration-seeded rows (moderators group,
default community), which another transactional test's flush may have removed; no
``serialized_rollback``, which breaks when it follows a transactional test without it.
"""
import threading
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection
from django.db.models import Avg, Count, Sum

from amis.models import AMI
from ratings.models import Rating
from ratings.services import rating_delete, rating_submit
from registry.models import AuditEvent
from tests.factories import AMIFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(calls):
    """Start every call in its own thread, released together by a barrier; re-raise any error."""
    barrier = threading.Barrier(len(calls))
    errors = []

    def worker(call):
        try:
            barrier.wait(timeout=30)
            call()
        except Exception as exc:  # collected and re-raised in the test's thread
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection: give it back

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a rating writer hung (deadlock?)"
    assert errors == []


def assert_aggregates_match_rows(ami):
    """The denormalised columns equal a fresh computation over the stored, visible rows."""
    ami.refresh_from_db()
    rows = Rating.objects.filter(ami=ami, is_hidden=False).aggregate(n=Count("id"), s=Sum("rating"),
                                                                     a=Avg("rating"))
    expected_avg = Decimal(rows["a"] or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert (ami.rating_count, ami.rating_sum, ami.rating_avg) == (rows["n"], rows["s"] or 0, expected_avg)
    return ami


def test_fifty_distinct_users_rating_at_once():
    ami = AMIFactory()
    users = [UserFactory(username=f"rater{i:02d}") for i in range(50)]
    stars = [(i % 5) + 1 for i in range(50)]  # ten of each: the mean is exactly 3

    run_concurrently([lambda u=u, s=s: rating_submit(ami=ami, user=u, rating=s, review=f"by {u.username}")
                      for u, s in zip(users, stars)])

    ami = assert_aggregates_match_rows(ami)
    assert ami.rating_count == 50
    assert ami.rating_sum == sum(stars) == 150
    assert ami.rating_avg == Decimal("3.00")
    assert Rating.objects.filter(ami=ami).count() == 50
    assert AuditEvent.objects.filter(action="rating.create").count() == 50


def test_one_user_double_posting_concurrently_leaves_exactly_one_row():
    ami = AMIFactory()
    user = UserFactory(username="eager")

    run_concurrently([lambda s=s: rating_submit(ami=ami, user=user, rating=s) for s in [1, 2, 3, 4, 5, 5, 4, 3]])

    assert Rating.objects.filter(ami=ami, user=user).count() == 1
    ami = assert_aggregates_match_rows(ami)
    assert ami.rating_count == 1
    assert ami.rating_sum == Rating.objects.get(ami=ami, user=user).rating
    # Exactly one of the racing calls created the row; the others replaced it.
    assert AuditEvent.objects.filter(action="rating.create").count() == 1
    assert AuditEvent.objects.filter(action="rating.replace").count() == 7


def test_concurrent_new_replace_and_delete_keep_aggregates_exact():
    ami = AMIFactory()
    old = [UserFactory(username=f"old{i:02d}") for i in range(30)]
    new = [UserFactory(username=f"new{i:02d}") for i in range(10)]
    for i, u in enumerate(old):
        rating_submit(ami=ami, user=u, rating=(i % 5) + 1)
    assert_aggregates_match_rows(ami)

    calls = []
    calls += [lambda u=u: rating_submit(ami=ami, user=u, rating=5) for u in old[:15]]   # replace
    calls += [lambda u=u: rating_delete(ami=ami, user=u) for u in old[15:]]             # delete
    calls += [lambda u=u: rating_submit(ami=ami, user=u, rating=1) for u in new]        # create
    run_concurrently(calls)

    ami = assert_aggregates_match_rows(ami)
    assert ami.rating_count == 15 + 10
    assert ami.rating_sum == 15 * 5 + 10 * 1
    assert ami.rating_avg == Decimal("3.40")


def test_aggregates_of_other_amis_are_untouched():
    rated, untouched = AMIFactory(), AMIFactory()
    users = [UserFactory(username=f"r{i}") for i in range(10)]
    run_concurrently([lambda u=u: rating_submit(ami=rated, user=u, rating=4) for u in users])
    untouched.refresh_from_db()
    assert (untouched.rating_count, untouched.rating_sum) == (0, 0)
    assert AMI.objects.get(pk=rated.pk).rating_count == 10


def test_helpful_marks_at_once_count_exactly():
    from ratings.models import RatingHelpfulVote
    from ratings.services import rating_helpful_mark

    ami = AMIFactory()
    author = UserFactory(username="author")
    review, _ = rating_submit(ami=ami, user=author, rating=4, review="Works on g5.")
    voters = [UserFactory(username=f"voter{i:02d}") for i in range(20)]
    # Twenty people at once, and five of them twice (double clicks): 20 marks, no lost update.
    calls = [lambda u=u: rating_helpful_mark(rating=Rating.objects.get(pk=review.pk), user=u) for u in voters]
    calls += [lambda u=u: rating_helpful_mark(rating=Rating.objects.get(pk=review.pk), user=u) for u in voters[:5]]
    run_concurrently(calls)
    review.refresh_from_db()
    assert review.helpful_count == 20 == RatingHelpfulVote.objects.filter(rating=review).count()
    assert AuditEvent.objects.filter(action="rating.helpful", target_id=str(review.pk)).count() == 20
