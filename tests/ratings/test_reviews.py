"""Reviews as readers use them: delete one's rating, mark helpful, report to the moderators,
pages beyond the first 20, "no ratings yet" — over the API and on the AMI page."""
import pytest

from amis.models import AMI
from ratings.models import Rating, RatingReport
from amis.downloads import download_record
from ratings.selectors import ReviewsOfAMI, rating_list_ordered, rating_reports_open
from ratings.services import rating_helpful_mark, rating_reports_resolve, rating_submit
from registry.models import AuditEvent
from registry.templatetags.stars import stars
from tests.conftest import client_for
from tests.factories import AMIFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(db):
    """``login(user)`` → a test client signed in as ``user`` (None → anonymous)."""
    from django.test import Client

    def make(user=None):
        client = Client()
        if user is not None:
            client.force_login(user)
        return client
    return make


def url(ami, suffix=""):
    return f"/api/v1/amis/{ami.pk}/ratings/{suffix}"


@pytest.fixture
def reviewed(user, other_user):
    ami = AMIFactory(name="PyTorch box")
    review, _ = rating_submit(ami=ami, user=user, rating=4, review="Works on g5.")
    return ami, review


def test_mark_helpful_once_and_the_helpful_order_counts_it(reviewed, other_user, make_user):
    ami, review = reviewed
    later, _ = rating_submit(ami=ami, user=make_user("carol"), rating=2, review="Newer review")
    client = client_for(other_user)
    first = client.post(url(ami, f"{review.pk}/helpful"))
    again = client.post(url(ami, f"{review.pk}/helpful"))
    assert (first.status_code, first.json()) == (200, {"id": review.pk, "helpful_count": 1, "counted": True})
    assert again.json() == {"id": review.pk, "helpful_count": 1, "counted": False}
    assert AuditEvent.objects.filter(action="rating.helpful").count() == 1
    # Newest first by default; the most helpful first when asked.
    assert [r["id"] for r in client_for(None).get(url(ami)).json()["results"]] == [later.pk, review.pk]
    helpful = client_for(None).get(url(ami), {"ordering": "-helpful_count"}).json()["results"]
    assert [r["id"] for r in helpful] == [review.pk, later.pk] and helpful[0]["helpful_count"] == 1
    page = client_for(None).get(f"/amis/{ami.pk}/?reviews=helpful").content.decode()
    assert page.index("Works on g5.") < page.index("Newer review")
    assert "1 found this helpful" in page
    # Withdrawn.
    assert client.delete(url(ami, f"{review.pk}/helpful")).json()["helpful_count"] == 0


def test_own_review_cannot_be_marked_or_reported(reviewed, user):
    ami, review = reviewed
    assert client_for(user).post(url(ami, f"{review.pk}/helpful")).status_code == 403
    assert client_for(user).post(url(ami, f"{review.pk}/report"), {"reason": "x"}).status_code == 403
    assert client_for(None).post(url(ami, f"{review.pk}/helpful")).status_code == 401
    assert client_for(user).post(url(ami, "999999/helpful")).status_code == 404


def test_report_goes_to_the_moderators_queue_and_hiding_resolves_it(reviewed, other_user, make_user, moderator):
    ami, review = reviewed
    response = client_for(other_user).post(url(ami, f"{review.pk}/report"), {"reason": "Advertises a paid fork."})
    assert response.status_code == 201 and response.json()["status"] == "open"
    # Reporting again while open changes nothing.
    assert client_for(other_user).post(url(ami, f"{review.pk}/report"), {"reason": "again"}).status_code == 200
    assert client_for(make_user("dave")).post(url(ami, f"{review.pk}/report"), {"reason": ""}).status_code == 400
    client_for(make_user("erin")).post(url(ami, f"{review.pk}/report"), {"reason": "Spam."})
    assert [r.rating_id for r in rating_reports_open()] == [review.pk, review.pk]
    assert AuditEvent.objects.filter(action="rating.report").count() == 2

    closed = rating_reports_resolve(rating=review, moderator=moderator, hide=True, reason="Advertising.")
    assert closed == 2 and not rating_reports_open().exists()
    review.refresh_from_db()
    assert review.is_hidden and set(RatingReport.objects.values_list("status", flat=True)) == {"hidden"}
    ami.refresh_from_db()
    assert ami.rating_count == 0
    assert AuditEvent.objects.filter(action="rating.reports_resolve", reason="Advertising.").count() == 1


def test_dismissing_reports_keeps_the_review(reviewed, other_user, moderator):
    ami, review = reviewed
    client_for(other_user).post(url(ami, f"{review.pk}/report"), {"reason": "I disagree."})
    assert rating_reports_resolve(rating=review, moderator=moderator, hide=False) == 1
    review.refresh_from_db()
    assert not review.is_hidden and RatingReport.objects.get().status == "dismissed"


def test_page_delete_own_rating(login, reviewed, user):
    ami, review = reviewed
    page = login(user).get(f"/amis/{ami.pk}/").content.decode()
    assert 'id="rating-delete-form"' in page
    response = login(user).post(f"/amis/{ami.pk}/rating/delete/")
    assert response.status_code == 302 and not Rating.objects.filter(pk=review.pk).exists()
    ami.refresh_from_db()
    assert ami.rating_count == 0
    assert AuditEvent.objects.filter(action="rating.delete", target_id=str(review.pk)).exists()
    assert "No ratings yet." in login(user).get(f"/amis/{ami.pk}/").content.decode()


def test_page_helpful_and_report_buttons(login, reviewed, other_user):
    ami, review = reviewed
    client = login(other_user)
    assert f"/amis/{ami.pk}/reviews/{review.pk}/helpful/" in client.get(f"/amis/{ami.pk}/").content.decode()
    client.post(f"/amis/{ami.pk}/reviews/{review.pk}/helpful/")
    review.refresh_from_db()
    assert review.helpful_count == 1
    assert 'aria-pressed="true"' in client.get(f"/amis/{ami.pk}/").content.decode()
    client.post(f"/amis/{ami.pk}/reviews/{review.pk}/report/", {"reason": "Off-topic."})
    assert RatingReport.objects.filter(rating=review, reporter=other_user, status="open").exists()


def test_reviews_beyond_the_first_twenty(login):
    ami = AMIFactory()
    for i in range(23):
        rating_submit(ami=ami, user=UserFactory(username=f"r{i:02d}"), rating=3, review=f"review number {i:02d}")
    first = login().get(f"/amis/{ami.pk}/").content.decode()
    assert first.count('class="review"') == 20 and "Page 1 of 2 (23 reviews)" in first
    second = login().get(f"/amis/{ami.pk}/?reviews=newest&reviews_page=2").content.decode()
    assert second.count('class="review"') == 3 and "review number 00" in second
    # Past the end: the last page, not an error.
    assert login().get(f"/amis/{ami.pk}/?reviews_page=99").status_code == 200


def test_no_ratings_yet_instead_of_zero(login):
    ami = AMIFactory(name="Fresh image", status=AMI.Status.APPROVED)
    page = login().get(f"/amis/{ami.pk}/").content.decode()
    assert "No ratings yet." in page and "0.0 (0)" not in page and "0.0 from" not in page
    assert "No ratings yet" in login().get("/?q=Fresh").content.decode()


def test_the_pages_review_rows_are_the_ordered_reviews(reviewed, other_user, make_user):
    """The AMI page's compiled statements (``ReviewsOfAMI``) list exactly ``rating_list_ordered``:
    hidden reviews left out, deleted reviewers, verified launches, both orders, any slice."""
    ami, review = reviewed
    people = [make_user(f"reader{i}") for i in range(4)]
    for i, person in enumerate(people):
        rating_submit(ami=ami, user=person, rating=1 + i, review="" if i % 2 else f"text {i}")
    download_record(ami=ami, region="us-east-1", user=people[1])
    rating_helpful_mark(rating=Rating.objects.get(user=people[2]), user=other_user)
    Rating.objects.filter(user=people[3]).update(is_hidden=True)
    people[0].delete()
    fields = ("pk", "user_id", "rating", "review", "helpful_count", "updated_at", "verified_launch")
    for order in ("newest", "helpful"):
        expected = list(rating_list_ordered(ami=ami, order=order))
        rows = ReviewsOfAMI(ami=ami, order=order)
        assert rows.count() == len(expected) == 4
        assert [tuple(getattr(r, f) for f in fields) for r in rows[0:10]] == \
            [tuple(getattr(r, f) for f in fields) for r in expected]
        assert [r.username for r in rows[0:10]] == [r.user.username if r.user else None for r in expected]
        assert [r.pk for r in rows[1:3]] == [r.pk for r in expected[1:3]]
    assert any(r.verified_launch for r in ReviewsOfAMI(ami=ami, order="newest")[0:10])
    assert None in [r.username for r in ReviewsOfAMI(ami=ami, order="newest")[0:10]]
    assert ReviewsOfAMI(ami=AMIFactory(), order="newest").count() == 0
    assert "deleted user" in client_for(None).get(f"/amis/{ami.pk}/").content.decode()


@pytest.mark.parametrize("value, drawn, label", [
    (0, "☆☆☆☆☆", "0.0"), (0.5, "★☆☆☆☆", "0.5"), (1.49, "★☆☆☆☆", "1.5"), (3.5, "★★★★☆", "3.5"),
    ("4.50", "★★★★★", "4.5"), (5, "★★★★★", "5.0"), (None, "☆☆☆☆☆", ""),
])
def test_stars_earned_from_half_a_point(value, drawn, label):
    assert stars(value) == f'<span class="stars" role="img" aria-label="Rated {label} out of 5">{drawn}</span>'
