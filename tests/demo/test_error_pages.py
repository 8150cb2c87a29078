"""The demo (DEBUG on, ``registry.settings.demo``) shows the site's own 404/403/500 pages, not
Django's debug pages; API paths keep the JSON envelope; tracebacks still reach the log."""
import logging
import uuid

import pytest
from django.test import Client

from registry.settings import demo as demo_settings

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.demo.urls_errors")]


@pytest.fixture
def demo_debug(settings):
    settings.DEBUG = True
    settings.MIDDLEWARE = demo_settings.MIDDLEWARE
    return Client(raise_request_exception=False)


def title(response) -> str:
    body = response.content.decode()
    return body[body.index("<title>") + 7:body.index("</title>")]


def test_unknown_path_and_missing_object_get_the_site_404(demo_debug):
    for path in ("/no-such-page/", f"/amis/{uuid.uuid4()}/"):
        resp = demo_debug.get(path)
        assert resp.status_code == 404
        assert title(resp) == "Page not found — Community AMI Registry", path
        assert "URLconf" not in resp.content.decode() and "Traceback" not in resp.content.decode()


def test_api_paths_keep_the_json_envelope(demo_debug):
    resp = demo_debug.get("/api/v1/no-such-endpoint")
    assert resp.status_code == 404
    assert resp.json()["code"] == "not_found"


def test_a_crash_gets_the_site_500_and_its_traceback_is_logged(demo_debug, caplog):
    with caplog.at_level(logging.ERROR, logger="django.request"):
        resp = demo_debug.get("/crash/")
    assert resp.status_code == 500
    assert title(resp) == "Something went wrong — Community AMI Registry"
    assert "a bug in a view" not in resp.content.decode()
    record = next(r for r in caplog.records if r.name == "django.request")
    assert record.getMessage() == "Internal Server Error: /crash/"
    assert record.exc_info and "a bug in a view" in str(record.exc_info[1])


def test_permission_denied_gets_the_site_403(demo_debug):
    resp = demo_debug.get("/forbidden/")
    assert resp.status_code == 403 and "Community AMI Registry" in title(resp)


def test_adding_the_slash_still_redirects(demo_debug):
    resp = demo_debug.get("/templates")
    assert resp.status_code == 301 and resp["Location"] == "/templates/"


def test_without_the_demo_settings_debug_shows_django_pages(settings):
    """What the middleware changes: plain DEBUG answers with Django's technical pages."""
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    assert "URLconf" in client.get("/no-such-page/").content.decode()
    assert "Traceback" in client.get("/crash/").content.decode()


def test_production_mode_is_unchanged(settings):
    settings.DEBUG = False
    settings.MIDDLEWARE = demo_settings.MIDDLEWARE
    client = Client(raise_request_exception=False)
    assert title(client.get("/no-such-page/")) == "Page not found — Community AMI Registry"
    assert title(client.get("/crash/")) == "Something went wrong — Community AMI Registry"
