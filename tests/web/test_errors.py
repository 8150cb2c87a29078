"""Friendly error pages (HTML for pages, the JSON envelope stays for the API)."""
import pytest

from tests.web.conftest import text

pytestmark = pytest.mark.django_db


def test_404_page_is_friendly_html(login):
    r = login().get("/no/such/page/")
    assert r.status_code == 404 and r["Content-Type"].startswith("text/html")
    assert "Page not found" in text(r) and "Back to the catalogue" in text(r)


def test_api_404_stays_json(login):
    r = login().get("/api/v1/amis/ami-0123456789abcdef0")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_403_page_is_friendly_html(login, user, other_user):
    from tests.factories import AMIFactory

    ami = AMIFactory(creator=other_user)
    r = login(user).post(f"/amis/{ami.pk}/edit/", {"name": "x"})
    assert r.status_code == 403 and "Not allowed" in text(r)


def test_500_page_renders_standalone(rf):
    from registry.web_errors import server_error

    r = server_error(rf.get("/boom/"))
    assert r.status_code == 500 and b"Something went wrong" in r.content
