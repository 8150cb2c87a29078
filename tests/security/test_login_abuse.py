"""Login abuse: lockout per (username, IP) with a larger per-IP budget, the locked-out message on
every login, rate limits on the browser and admin logins, and an aggregated audit trail."""
import pytest
from django.test import Client

from registry.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def _web_login(client, username, password, path="/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def test_failures_under_many_names_do_not_lock_out_others_behind_the_same_address(make_user):
    # A campus NAT: one address, many people. 60 failures spread over 30 names (2 each) used to hit
    # the per-IP limit of 50 and lock everybody out.
    make_user("carol")
    client = Client()
    for n in range(30):
        for _ in range(2):
            assert _web_login(client, f"someone{n}", "wrong").status_code == 200
    response = _web_login(Client(), "carol", PASSWORD)
    assert response.status_code == 302 and response.wsgi_request.user.username == "carol"


def test_one_account_locks_after_its_own_budget_and_says_for_how_long(make_user, settings):
    make_user("carol")
    settings.REGISTRY_LOGIN_MAX_FAILURES = 3
    client = Client()
    for _ in range(3):
        _web_login(client, "carol", "wrong")
    page = _web_login(client, "carol", PASSWORD)
    assert page.status_code == 200 and not page.wsgi_request.user.is_authenticated
    text = page.content.decode()
    assert "Too many failed login attempts; try again in 15 minutes." in text
    assert "enter a correct username and password" not in text.lower()
    # The admin login says the same.
    admin = _web_login(Client(), "carol", PASSWORD, "/admin/login/")
    assert "Too many failed login attempts; try again in" in admin.content.decode()
    # The API says it too, with 429 and Retry-After.
    api = client_for(None).post("/api/v1/auth/token", {"username": "carol", "password": PASSWORD})
    assert api.status_code == 429 and int(api["Retry-After"]) > 0
    assert "Too many failed login attempts" in api.json()["detail"]


def test_per_ip_budget_still_stops_spraying(make_user, settings):
    make_user("carol")
    settings.REGISTRY_LOGIN_MAX_FAILURES_PER_IP = 10
    client = Client()
    for n in range(10):
        _web_login(client, f"name{n}", "wrong")
    page = _web_login(client, "carol", PASSWORD)
    assert not page.wsgi_request.user.is_authenticated
    assert "Too many failed login attempts" in page.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_locked", after__scope="ip").count() == 1


def test_default_per_ip_budget_is_far_above_one_accounts(settings):
    assert settings.REGISTRY_LOGIN_MAX_FAILURES_PER_IP >= 20 * settings.REGISTRY_LOGIN_MAX_FAILURES


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_html_and_admin_logins_are_rate_limited_per_address(path, make_user, settings):
    make_user("carol")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                                          "login": "5/min"}}
    settings.REGISTRY_LOGIN_MAX_FAILURES = 1000  # isolate the rate limit from the lockout
    client = Client()
    codes = [_web_login(client, "carol", "wrong", path).status_code for _ in range(20)]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
    refused = _web_login(client, "carol", "wrong", path)
    assert int(refused["Retry-After"]) > 0 and "try again in" in refused.content.decode()
    # The flood is one aggregated trail: a first failure and one throttle event, not 21 rows.
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 1
    assert AuditEvent.objects.filter(action="auth.login_throttled").count() == 1
    # GET (the form itself) is never rate limited.
    assert client.get(path).status_code in (200, 302)


def test_token_api_shares_the_login_rate(make_user, settings):
    make_user("carol")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                                          "login": "3/min"}}
    settings.REGISTRY_LOGIN_MAX_FAILURES = 1000
    client = client_for(None)
    codes = [client.post("/api/v1/auth/token", {"username": "carol", "password": "x"}).status_code
             for _ in range(5)]
    assert codes == [400, 400, 400, 429, 429]


def test_a_hundred_failures_write_a_bounded_audit_trail(make_user, settings):
    make_user("carol")
    client = Client()
    for _ in range(100):
        _web_login(client, "carol", "wrong", "/admin/login/")
    # One event for the first failure, one for the lock; the rest are only counted.
    assert AuditEvent.objects.filter(action__startswith="auth.login").count() == 2
