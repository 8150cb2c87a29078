"""Ratings REST API (API.md, *Ratings*): status codes, bodies and database state."""
from decimal import Decimal

import pytest

from amis.models import AMI, Download
from ratings.models import Rating
from ratings.services import rating_submit
from registry.models import AuditEvent
from tests.conftest import client_for
from tests.factories import AMIFactory, AMIRegionFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(ami, suffix=""):
    ref = ami if isinstance(ami, str) else str(ami.pk)
    return f"/api/v1/amis/{ref}/ratings/{suffix}"


# --- list -----------------------------------------------------------------------------------

def test_list_fields_order_hidden_and_verified(user, other_user, make_user, moderator):
    ami = AMIFactory()
    older, _ = rating_submit(ami=ami, user=user, rating=5, review="Great")
    newer, _ = rating_submit(ami=ami, user=other_user, rating=3, review="OK")
    spam, _ = rating_submit(ami=ami, user=make_user("spammer"), rating=1, review="spam")
    Rating.objects.filter(pk=older.pk).update(created_at=newer.created_at.replace(year=2020))
    Download.objects.create(ami=ami, user=user, region="us-east-1")
    client_for(moderator).post(url(ami, f"{spam.pk}/hide"), {"reason": "spam"})

    response = client_for(None).get(url(ami))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [r["id"] for r in body["results"]] == [newer.pk, older.pk]  # newest first, hidden omitted
    first = body["results"][1]
    assert set(first) == {"id", "user", "rating", "review", "verified_launch", "helpful_count", "created_at",
                          "updated_at"}
    assert (first["user"], first["rating"], first["review"], first["verified_launch"]) == ("alice", 5, "Great", True)
    assert body["results"][0]["verified_launch"] is False


def test_list_ordering_by_rating(user, other_user):
    ami = AMIFactory()
    rating_submit(ami=ami, user=user, rating=2)
    rating_submit(ami=ami, user=other_user, rating=5)
    body = client_for(None).get(url(ami), {"ordering": "-rating"}).json()
    assert [r["rating"] for r in body["results"]] == [5, 2]


def test_list_shows_deleted_user_for_erased_accounts(user):
    ami = AMIFactory()
    rating_submit(ami=ami, user=user, rating=4, review="kept after erasure")
    Rating.objects.update(user=None)
    result = client_for(None).get(url(ami)).json()["results"][0]
    assert (result["user"], result["verified_launch"]) == ("deleted user", False)


def test_list_query_count_does_not_grow_with_the_page(django_assert_max_num_queries):
    ami = AMIFactory()
    for i in range(30):
        u = UserFactory(username=f"reviewer{i}")
        rating_submit(ami=ami, user=u, rating=(i % 5) + 1)
        Download.objects.create(ami=ami, user=u)
    client = client_for(None)
    # AMI lookup (its id, then the row with its copies) + count + page (users joined,
    # verified_launch as EXISTS): no per-row queries.
    with django_assert_max_num_queries(5):
        response = client.get(url(ami), {"page_size": 30})
    assert len(response.json()["results"]) == 30
    assert all(r["verified_launch"] for r in response.json()["results"])


def test_review_text_is_returned_raw_not_html(user):
    ami = AMIFactory()
    payload = '<script>alert("x")</script> & <b>bold</b>'
    response = client_for(user).post(url(ami), {"rating": 4, "review": payload})
    assert response.status_code == 201
    assert response.json()["review"] == payload
    assert Rating.objects.get().review == payload
    assert response["Content-Type"].startswith("application/json")


def test_ami_resolved_by_canonical_and_regional_ids(user):
    ami = AMIFactory()
    copy = AMIRegionFactory(ami=ami, region="eu-west-1")
    rating_submit(ami=ami, user=user, rating=4)
    for ref in (ami.ami_id, copy.image_id, str(ami.pk)):
        assert client_for(None).get(url(ref)).json()["count"] == 1


@pytest.mark.parametrize("ref", ["ami-0123456789abcdef0", "not-an-id", "00000000-0000-0000-0000-000000000000"])
def test_unknown_ami_is_404(ref):
    response = client_for(None).get(url(ref))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- submit ---------------------------------------------------------------------------------

def test_post_creates_201_then_replaces_200(user):
    ami = AMIFactory()
    client = client_for(user)

    first = client.post(url(ami), {"rating": 5, "review": "Fast boot"})
    assert first.status_code == 201
    assert first.json()["rating"] == 5 and first.json()["user"] == "alice"

    second = client.post(url(ami), {"rating": 3})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["review"] == ""

    ami.refresh_from_db()
    assert (ami.rating_count, ami.rating_avg) == (1, Decimal("3.00"))
    assert Rating.objects.filter(ami=ami).count() == 1


def test_post_marks_verified_launch_when_the_caller_downloaded(user):
    ami = AMIFactory()
    Download.objects.create(ami=ami, user=user, region="us-east-1")
    assert client_for(user).post(url(ami), {"rating": 4}).json()["verified_launch"] is True


def test_post_own_ami_is_403(user):
    ami = AMIFactory(creator=user)
    response = client_for(user).post(url(ami), {"rating": 5})
    assert response.status_code == 403
    assert response.json()["code"] == "own_ami"
    assert not Rating.objects.exists()


def test_post_anonymous_is_401():
    ami = AMIFactory()
    response = client_for(None).post(url(ami), {"rating": 5})
    assert response.status_code == 401
    assert not Rating.objects.exists()


def test_post_private_ami_of_someone_else_is_404(user):
    ami = AMIFactory(visibility=AMI.Visibility.PRIVATE)
    response = client_for(user).post(url(ami), {"rating": 5})
    assert response.status_code == 404
    assert not Rating.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"rating": 0}, "rating"),
    ({"rating": 6}, "rating"),
    ({"rating": -3}, "rating"),
    ({"rating": 4.5}, "rating"),
    ({"rating": "four"}, "rating"),
    ({"rating": True}, "rating"),
    ({"rating": None}, "rating"),
    ({"rating": [4]}, "rating"),
    ({}, "rating"),
    ({"rating": 4, "review": "x" * 5001}, "review"),
    ({"rating": 4, "review": {"text": "nested"}}, "review"),
    ({"rating": 4, "review": ["a"]}, "review"),
    ({"rating": 4, "review": "nul\x00byte"}, "review"),
])
def test_post_bad_input_is_400_naming_the_field(user, body, field):
    ami = AMIFactory()
    response = client_for(user).post(url(ami), body, format="json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"] == "invalid_parameters"
    assert field in payload["errors"]
    assert not Rating.objects.exists()


def test_post_review_of_exactly_5000_characters_is_accepted(user):
    ami = AMIFactory()
    assert client_for(user).post(url(ami), {"rating": 4, "review": "é" * 5000}).status_code == 201


def test_post_not_json_is_400_not_500(user):
    ami = AMIFactory()
    response = client_for(user).post(url(ami), "{not json", content_type="application/json")
    assert response.status_code == 400


def test_post_on_a_submission_by_a_moderator_is_409(moderator):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW)
    response = client_for(moderator).post(url(ami), {"rating": 5})
    assert response.status_code == 409
    assert response.json()["current_status"] == "pending_review"


def test_post_on_a_draft_by_a_moderator_is_404(moderator):
    # A draft is its owner's alone: to a moderator it does not exist.
    assert client_for(moderator).post(url(AMIFactory(status=AMI.Status.DRAFT)), {"rating": 5}).status_code == 404


# --- delete mine ----------------------------------------------------------------------------

def test_delete_mine_204_then_404(user, other_user):
    ami = AMIFactory()
    rating_submit(ami=ami, user=user, rating=5)
    rating_submit(ami=ami, user=other_user, rating=1)
    client = client_for(user)

    assert client.delete(url(ami, "mine")).status_code == 204
    ami.refresh_from_db()
    assert (ami.rating_count, ami.rating_avg) == (1, Decimal("1.00"))
    assert not Rating.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="rating.delete", actor=user).count() == 1

    again = client.delete(url(ami, "mine"))
    assert again.status_code == 404 and again.json()["code"] == "not_found"


def test_delete_mine_anonymous_401_and_invisible_404(user):
    ami = AMIFactory(visibility=AMI.Visibility.PRIVATE)
    assert client_for(None).delete(url(AMIFactory(), "mine")).status_code == 401
    assert client_for(user).delete(url(ami, "mine")).status_code == 404


# --- hide -----------------------------------------------------------------------------------

def test_moderator_hides_a_review(user, other_user, moderator):
    ami = AMIFactory()
    bad, _ = rating_submit(ami=ami, user=user, rating=1, review="rude")
    rating_submit(ami=ami, user=other_user, rating=5)

    response = client_for(moderator).post(url(ami, f"{bad.pk}/hide"), {"reason": "abusive language"})

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == bad.pk and body["is_hidden"] is True
    assert body["hidden_reason"] == "abusive language" and body["hidden_by"] == "mod"
    ami.refresh_from_db()
    assert (ami.rating_count, ami.rating_avg) == (1, Decimal("5.00"))
    assert [r["rating"] for r in client_for(None).get(url(ami)).json()["results"]] == [5]
    assert AuditEvent.objects.get(action="rating.hide").reason == "abusive language"


def test_hide_by_non_moderator_is_403(user, other_user):
    ami = AMIFactory()
    rating, _ = rating_submit(ami=ami, user=user, rating=1)
    response = client_for(other_user).post(url(ami, f"{rating.pk}/hide"), {"reason": "I disagree"})
    assert response.status_code == 403
    assert Rating.objects.get(pk=rating.pk).is_hidden is False


def test_hide_needs_a_reason_and_a_rating_of_that_ami(user, moderator):
    ami, elsewhere = AMIFactory(), AMIFactory()
    rating, _ = rating_submit(ami=ami, user=user, rating=1)
    client = client_for(moderator)
    missing = client.post(url(ami, f"{rating.pk}/hide"), {})
    assert missing.status_code == 400 and "reason" in missing.json()["errors"]
    assert client.post(url(elsewhere, f"{rating.pk}/hide"), {"reason": "x"}).status_code == 404
    assert client.post(url(ami, "999999/hide"), {"reason": "x"}).status_code == 404
    assert client_for(None).post(url(ami, f"{rating.pk}/hide"), {"reason": "x"}).status_code == 401
    assert Rating.objects.get(pk=rating.pk).is_hidden is False
