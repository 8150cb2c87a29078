"""Progress pages: owner only, per-region bars, refresh without JavaScript, done state."""
import pytest

from amis.models import AMI, Operation
from tests.factories import AMIFactory
from tests.web.conftest import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def copying(user):
    ami = AMIFactory(creator=user, status=AMI.Status.DRAFT, name="Copying <x>")
    Operation.objects.create(kind="copy_image", ami=ami, region="eu-west-1", created_by=user, state="running",
                             progress=40, message="copying")
    Operation.objects.create(kind="copy_image", ami=ami, region="ap-south-1", created_by=user, state="failed",
                             progress=10, error="InvalidRegion: <nope>")
    return ami


def test_progress_page_shows_bars_and_refreshes_without_js(login, user, copying):
    body = text(login(user).get(f"/amis/{copying.pk}/progress/"))
    assert "Progress: Copying &lt;x&gt;" in body
    assert 'data-poll-url="/amis/' in body and 'data-done="false"' in body
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in body
    assert 'value="40"' in body and "InvalidRegion: &lt;nope&gt;" in body
    assert "Overall: 25%" in body


def test_progress_done_links_the_ami_page(login, user, copying):
    Operation.objects.filter(ami=copying, region="eu-west-1").update(state="succeeded", progress=100)
    body = text(login(user).get(f"/amis/{copying.pk}/progress/fragment/"))
    assert 'data-done="true"' in body and "finished with errors" in body
    assert f'id="progress-done-link" href="/amis/{copying.pk}/"' in body


def test_progress_is_owner_only(login, copying, other_user):
    assert login(other_user).get(f"/amis/{copying.pk}/progress/").status_code == 404  # a draft: invisible
    AMI.objects.filter(pk=copying.pk).update(status=AMI.Status.APPROVED, visibility=AMI.Visibility.PUBLIC)
    assert login(other_user).get(f"/amis/{copying.pk}/progress/fragment/").status_code == 403
    assert login().get(f"/amis/{copying.pk}/progress/").status_code == 302  # to the login page


def test_operation_progress_is_the_starters_only(login, user, other_user):
    op = Operation.objects.create(kind="create_image", region="us-east-1", created_by=user, state="queued",
                                  params={"name": "From instance", "multi_region": []})
    body = text(login(user).get(f"/operations/{op.pk}/progress/"))
    assert "Progress: From instance" in body and f'data-poll-url="/operations/{op.pk}/progress/fragment/"' in body
    assert login(other_user).get(f"/operations/{op.pk}/progress/").status_code == 404
    assert login(user).get("/operations/00000000-0000-0000-0000-000000000000/progress/").status_code == 404
