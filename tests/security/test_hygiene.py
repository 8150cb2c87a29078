"""Input hygiene: NULs in query strings, look-alike usernames, invisible characters, blank
passwords, an atomic anonymous throttle, /metrics access, proxy headers, seed_demo outside the demo."""
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import close_old_connections
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from amis.metadata import tags_clean, text_clean
from ratings.services import rating_submit
from registry.models import AuditEvent
from registry.throttling import AnonRateThrottle
from templates.validation import validate_fields
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db


# --- NUL bytes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "/api/v1/ami/list?region=%00", "/api/v1/ami/list?template=%00", "/api/v1/amis/?search=%00", "/api/v1/amis/?q%00=1",
    "/api/v1/templates/?category=a%00b", "/api/v1/audit/?action=%00",
])
def test_nul_in_any_api_query_parameter_is_a_400_envelope(url, make_user):
    client = APIClient()
    client.force_authenticate(make_user("nul-user", superuser=True))
    response = client.get(url)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameters"
    assert "Null characters" in response.json()["detail"]
    # The envelope names the refused parameter (its NUL shown as \0), as the serializers do.
    name = url.split("?", 1)[1].split("=", 1)[0].replace("%00", "\\0")
    assert list(response.json()["errors"]) == [name]


@pytest.mark.parametrize("url", ["/?q=%00", "/templates/?category=%00", "/me/amis/?status=%00"])
def test_nul_in_a_page_query_is_a_400(url):
    response = Client().get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 400 and b"Null characters" in response.content


# --- usernames ------------------------------------------------------------------------------------

def _register(username):
    return APIClient().post("/api/v1/auth/register",
                            {"username": username, "email": "x@example.org", "password": "a-long-passphrase-9"})


def test_mixed_script_usernames_are_refused():
    response = _register("\u0430dmin")  # Cyrillic а + Latin dmin
    assert response.status_code == 400 and response.json()["code"] == "username_mixed_script"
    assert _register("\u0438\u0432\u0430\u043d").status_code == 201  # all-Cyrillic "иван" is fine


@pytest.mark.parametrize("existing, lookalike", [
    ("admin", "adrnin"), ("bob", "b0b"), ("alice", "aIice"),
    ("pop", "\u0440\u043e\u0440"),  # whole-script Cyrillic "рор"
])
def test_confusables_of_existing_usernames_are_refused(make_user, existing, lookalike):
    make_user(existing)
    response = _register(lookalike)
    assert response.status_code == 409 and response.json()["code"] == "username_confusable"


def test_signup_page_refuses_a_lookalike_too(make_user):
    make_user("admin")
    page = Client().post("/accounts/signup/", {"username": "\u0430dmin", "email": "a@example.org",
                                               "password": "a-long-passphrase-9",
                                               "password_confirm": "a-long-passphrase-9"})
    assert page.status_code == 200 and "one script only" in page.content.decode()


# --- invisible characters -------------------------------------------------------------------------

def test_bidi_and_zero_width_are_stripped_from_descriptions_and_tags():
    assert text_clean("description", "safe\u202etxt.exe\u200b", max_length=100) == "safetxt.exe"
    assert tags_clean({"te\u200dam": "m\u2066l"}) == {"team": "ml"}


def test_bidi_controls_are_stripped_from_reviews(make_user):
    ami = AMIFactory()
    rating, _ = rating_submit(ami=ami, user=make_user("rater"), rating=4, review="great \u202eimage\u200b")
    assert rating.review == "great image"


def test_template_names_with_invisible_characters_are_refused():
    errors = validate_fields({"name": "Py\u200bTorch", "base": "ubuntu-22.04"})
    assert "name" in errors


# --- passwords -------------------------------------------------------------------------------------

@pytest.mark.parametrize("password", [" " * 10, "\t" * 12, " \u3000 " * 4])
def test_whitespace_only_passwords_are_refused(password):
    response = APIClient().post("/api/v1/auth/register",
                                {"username": "spacey", "email": "s@example.org", "password": password})
    assert response.status_code == 400 and "password" in response.json()["errors"]


# --- anonymous throttle ------------------------------------------------------------------------------

def test_anonymous_throttle_counts_atomically_under_concurrency(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                                          "anon": "50/hour"}}
    request = RequestFactory().get("/api/v1/amis/")
    request.user = type("Anon", (), {"is_authenticated": False})()
    allowed, barrier = [], threading.Barrier(10)

    def hammer():
        barrier.wait()
        for _ in range(20):
            if AnonRateThrottle().allow_request(request, None):
                allowed.append(1)
        close_old_connections()

    threads = [threading.Thread(target=hammer) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 50  # 200 attempts, exactly the budget let through


# --- /metrics -----------------------------------------------------------------------------------------

def test_metrics_are_refused_outside_the_allow_list(settings):
    settings.REGISTRY_METRICS_TOKEN = "scrape-secret"
    assert Client(REMOTE_ADDR="203.0.113.7").get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="203.0.113.7").get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    ok = Client(REMOTE_ADDR="203.0.113.7").get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert ok.status_code == 200 and b"registry_" in ok.content
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200  # the default allow-list
    settings.REGISTRY_METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    # A forged X-Forwarded-For from an outside client does not get it in.
    assert Client(REMOTE_ADDR="203.0.113.7").get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


# --- proxy headers ------------------------------------------------------------------------------------

def test_forwarded_proto_is_ignored_from_an_untrusted_client(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.REGISTRY_TRUSTED_PROXIES = ["10.0.0.1"]
    outside = Client(REMOTE_ADDR="203.0.113.7").get("/templates/", HTTP_X_FORWARDED_PROTO="https")
    assert outside.status_code == 301 and outside["Location"].startswith("https://")  # not believed
    proxied = Client(REMOTE_ADDR="10.0.0.1").get("/templates/", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 200


def test_forwarded_for_names_the_client_only_behind_a_trusted_proxy(settings, user):
    settings.REGISTRY_TRUSTED_PROXIES = ["10.0.0.1"]
    Client(REMOTE_ADDR="203.0.113.7").post("/accounts/login/", {"username": "alice", "password": "x"},
                                           HTTP_X_FORWARDED_FOR="198.51.100.1")
    Client(REMOTE_ADDR="10.0.0.1").post("/accounts/login/", {"username": "bob", "password": "x"},
                                        HTTP_X_FORWARDED_FOR="192.0.2.50, 10.0.0.1")
    ips = dict(AuditEvent.objects.filter(action="auth.login_failed").values_list("target_repr", "ip_address"))
    assert ips == {"alice": "203.0.113.7", "bob": "192.0.2.50"}


# --- seed_demo ----------------------------------------------------------------------------------------

def test_seed_demo_refuses_outside_the_demo(settings, aws, django_user_model):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="runs only in the demo"):
        call_command("seed_demo")
    assert not django_user_model.objects.filter(username="admin").exists()


@pytest.mark.parametrize("url", ["/amis/a%00b/", "/templates/a%00b/", "/api/v1/amis/a%00b"])
def test_nul_in_a_path_names_nothing(url):
    assert Client().get(url).status_code == 404
