"""My AMIs (/me/amis/): entries by status, rejected reason, running operations, own ratings."""
import pytest

from amis.models import AMI, Operation
from ratings.models import Rating
from tests.factories import AMIFactory
from tests.web.conftest import text

pytestmark = pytest.mark.django_db


def test_my_amis_groups_by_status(login, user, other_user):
    AMIFactory(creator=user, name="My draft", status=AMI.Status.DRAFT)
    AMIFactory(creator=user, name="Waiting", status=AMI.Status.PENDING_REVIEW)
    AMIFactory(creator=user, name="Bounced", status=AMI.Status.REJECTED, status_reason="No <description>")
    AMIFactory(creator=user, name="Live one")
    AMIFactory(creator=other_user, name="Not mine")
    body = text(login(user).get("/me/amis/"))
    for heading in ("Drafts", "Pending review", "Rejected", "Approved"):
        assert heading in body
    assert "Deprecated <span" not in body  # empty sections are not shown
    assert body.index("My draft") < body.index("Waiting") < body.index("Bounced") < body.index("Live one")
    assert "No &lt;description&gt;" in body
    assert "Not mine" not in body


def test_my_amis_shows_running_operations_and_ratings(login, user, other_user):
    mine = AMIFactory(creator=user, status=AMI.Status.DRAFT, name="Copying")
    Operation.objects.create(kind="copy_image", ami=mine, region="eu-west-1", created_by=user, state="running",
                             progress=40)
    Operation.objects.create(kind="copy_image", ami=mine, region="eu-west-2", created_by=user, state="succeeded",
                             progress=100)
    theirs = AMIFactory(creator=other_user, name="Their image")
    Rating.objects.create(ami=theirs, user=user, rating=4, review="nice")
    body = text(login(user).get("/me/amis/"))
    assert "Running operations" in body and 'value="40"' in body and "eu-west-1" in body
    assert 'value="100"' not in body  # finished operations are not "running"
    assert "Their image" in body and "nice" in body


def test_my_amis_requires_login_and_is_bounded(login, user, django_assert_max_num_queries):
    assert login().get("/me/amis/").status_code == 302
    for i in range(10):
        ami = AMIFactory(creator=user, name=f"A{i}")
        Operation.objects.create(kind="copy_image", ami=ami, region="eu-west-1", created_by=user, state="queued")
        Rating.objects.create(ami=AMIFactory(), user=user, rating=3)
    client = login(user)
    client.get("/me/amis/")
    with django_assert_max_num_queries(8):
        assert client.get("/me/amis/").status_code == 200
