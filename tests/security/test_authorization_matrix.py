"""The probe's authorization matrix: someone else's entry, through the API and the HTML forms.

A draft (private) entry is invisible to other users — 404, never 403, so its existence does not
leak — and a listed one may be read but not changed (403/404). Anonymous writers are asked to log
in (401 in the API, a redirect to the login page on the site). Whatever the answer, nothing changes:
no edit, no operation, no share, no rating.
"""
import pytest
from django.test import Client
from rest_framework.test import APIClient

from amis.models import AMI, Operation
from ratings.models import Rating
from sharing.models import Share
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(make_user):
    owner = make_user("owner")
    draft = AMIFactory(creator=owner, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE, name="Draft")
    listed = AMIFactory(creator=owner, name="Listed")
    return {"owner": owner, "other": make_user("mallory"), "draft": draft, "listed": listed}


API_WRITES = [
    ("patch", "/api/v1/amis/{pk}", {"name": "pwned"}),
    ("delete", "/api/v1/amis/{pk}", None),
    ("post", "/api/v1/amis/{pk}/submit", {}),
    ("post", "/api/v1/amis/{pk}/deprecate", {"reason": "x"}),
    ("post", "/api/v1/amis/{pk}/copy", {"regions": ["eu-west-1"]}),
    ("post", "/api/v1/amis/{pk}/shares/", {"grantee_type": "account", "grantee": "444455556666"}),
    ("post", "/api/v1/amis/{pk}/approve", {}),
    ("post", "/api/v1/amis/{pk}/revoke", {"reason": "x"}),
]
HTML_FORMS = [
    ("/amis/{pk}/edit/", {"name": "pwned", "description": "x"}),
    ("/amis/{pk}/submit-review/", {}),
    ("/amis/{pk}/copy/", {"regions": ["eu-west-1"]}),
    ("/amis/{pk}/deprecate/", {"reason": "x"}),
    ("/amis/{pk}/shares/", {"grantee_type": "account", "grantee": "444455556666"}),
]


def _unchanged(entries):
    for key in ("draft", "listed"):
        ami = AMI.objects.get(pk=entries[key].pk)
        assert ami.name == entries[key].name and ami.status == entries[key].status
    assert not Operation.objects.exists() and not Share.objects.exists()


@pytest.mark.parametrize("which", ["draft", "listed"])
@pytest.mark.parametrize("method, url, body", API_WRITES)
def test_api_writes_on_someone_elses_entry(entries, which, method, url, body):
    pk = entries[which].pk
    other = APIClient()
    other.force_authenticate(entries["other"])
    response = getattr(other, method)(url.format(pk=pk), body, format="json")
    assert response.status_code == 404 if which == "draft" else response.status_code in (403, 404), response.content
    anonymous = getattr(APIClient(), method)(url.format(pk=pk), body, format="json")
    assert anonymous.status_code in (401, 403, 404)
    _unchanged(entries)


def test_api_reads_of_a_draft_are_404_for_others(entries):
    other = APIClient()
    other.force_authenticate(entries["other"])
    for client in (other, APIClient()):
        assert client.get(f"/api/v1/amis/{entries['draft'].pk}").status_code == 404
        assert client.get(f"/api/v1/amis/{entries['draft'].pk}/shares/").status_code == 404
    assert entries["draft"].ami_id not in str(APIClient().get("/api/v1/amis/").json())


@pytest.mark.parametrize("which", ["draft", "listed"])
@pytest.mark.parametrize("url, body", HTML_FORMS)
def test_html_forms_on_someone_elses_entry(entries, which, url, body):
    path = url.format(pk=entries[which].pk)
    anonymous = Client().post(path, body)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    browser = Client()
    browser.force_login(entries["other"])
    response = browser.post(path, body)
    assert response.status_code == 404 if which == "draft" else response.status_code in (403, 404)
    _unchanged(entries)


def test_html_rating_of_a_draft_is_404_and_records_nothing(entries):
    browser = Client()
    browser.force_login(entries["other"])
    assert browser.post(f"/amis/{entries['draft'].pk}/rate/", {"rating": 5}).status_code == 404
    assert not Rating.objects.exists()


def test_html_pages_of_a_draft_are_404_for_others(entries):
    browser = Client()
    browser.force_login(entries["other"])
    for path in ("/amis/{pk}/", "/amis/{pk}/progress/"):
        assert browser.get(path.format(pk=entries["draft"].pk)).status_code == 404
        assert Client().get(path.format(pk=entries["draft"].pk)).status_code in (302, 404)
