"""Redis down must not mean the API down: a real redis-server (cache and broker) is killed.

Reads keep being served from PostgreSQL (throttles and lockout fail open), logins work, writes that
must queue work are refused with 503 + Retry-After and commit nothing, a send that fails after
commit leaves an unsent row the sweep sends, and everything recovers when Redis is back — no
restart of anything.
"""
import time

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from amis import operations
from amis.models import Operation
from registry import broker as registry_broker
from registry.celery import app as celery_app
from tests.aws.test_worker import _reset_connections
from tests.factories import AMIFactory
from tests.security.redis_server import RedisServer

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


@pytest.fixture
def redis_server(settings):
    """Cache and broker on a private redis-server; throttles on, as in production."""
    server = RedisServer()
    server.start()
    settings.CACHES = {"default": {"BACKEND": "registry.redis_cache.PooledRedisCache", "LOCATION": server.url,
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "anon": "1000/min", "user": "1000/min", "write": "1000/min", "login": "1000/min"}}
    conf = celery_app.conf
    changes = {"CELERY_TASK_ALWAYS_EAGER": False, "CELERY_BROKER_URL": server.url,
               "CELERY_BROKER_TRANSPORT_OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
    saved = {key: conf[key] for key in changes}
    conf.update(changes)
    _reset_connections()
    registry_broker.broker_check_forget()
    yield server
    server.kill()
    conf.update(saved)
    _reset_connections()
    registry_broker.broker_check_forget()


@pytest.fixture
def owner(make_user):
    return make_user("owner")


def _queued(server) -> int:
    return server.client().llen("aws")


def test_reads_and_logins_keep_working_and_queued_writes_are_refused(redis_server, owner, aws,
                                                                    django_capture_on_commit_callbacks):
    ami = AMIFactory(creator=owner)
    token = Token.objects.create(user=owner).key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert APIClient().get("/api/v1/amis/").status_code == 200  # throttles count in Redis

    redis_server.kill()
    registry_broker.broker_check_forget()

    # Reads, anonymous and signed in, API and pages.
    for client, url in [(APIClient(), "/api/v1/amis/"), (api, "/api/v1/amis/"), (api, "/api/v1/ami/list"),
                        (APIClient(), f"/api/v1/amis/{ami.pk}"), (APIClient(), "/api/v1/templates/"),
                        (Client(), "/"), (Client(), f"/amis/{ami.pk}/")]:
        assert client.get(url).status_code == 200, url
    # Logins: API token, the site's login page (the lockout fails open).
    login = APIClient().post("/api/v1/auth/token", {"username": "owner", "password": PASSWORD})
    assert login.status_code == 200 and login.json()["token"] == token
    page = Client().post("/accounts/login/", {"username": "owner", "password": PASSWORD})
    assert page.status_code == 302
    # A write that must queue work: 503 + Retry-After, and no row committed (API and HTML form).
    refused = api.post(f"/api/v1/amis/{ami.pk}/copy", {"regions": ["eu-west-1"]}, format="json")
    assert refused.status_code == 503 and int(refused["Retry-After"]) > 0
    assert refused.json()["code"] == "service_unavailable"
    browser = Client()
    browser.force_login(owner)
    form = browser.post(f"/amis/{ami.pk}/copy/", {"regions": ["eu-west-1"]}, HTTP_ACCEPT="text/html")
    assert form.status_code == 503 and int(form["Retry-After"]) > 0
    assert b"Try again in a minute" in form.content
    assert not Operation.objects.filter(ami=ami).exists()
    assert ami.regions.count() == 1

    # Redis comes back: the same request is accepted and its message queued — nothing restarted.
    redis_server.start()
    deadline = time.time() + 15
    while True:
        with django_capture_on_commit_callbacks(execute=True):
            accepted = api.post(f"/api/v1/amis/{ami.pk}/copy", {"regions": ["eu-west-1"]}, format="json")
        if accepted.status_code == 202 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert accepted.status_code == 202, accepted.content
    op = Operation.objects.get(ami=ami)
    assert op.celery_task_id and _queued(redis_server) == 1


def test_a_send_that_fails_after_commit_is_sent_by_the_sweep(redis_server, owner, aws, monkeypatch,
                                                            django_capture_on_commit_callbacks):
    ami = AMIFactory(creator=owner)
    api = APIClient()
    api.force_authenticate(owner)
    redis_server.kill()
    # The broker dies between the check and the commit: the check still says "up".
    monkeypatch.setattr(registry_broker, "broker_available", lambda: True)
    with django_capture_on_commit_callbacks(execute=True):
        accepted = api.post(f"/api/v1/amis/{ami.pk}/copy", {"regions": ["eu-west-1"]}, format="json")
    assert accepted.status_code == 202  # the row committed; its send failed without a 500
    op = Operation.objects.get(ami=ami)
    assert op.state == Operation.State.QUEUED and op.celery_task_id == ""  # the unsent marker

    redis_server.start()
    _reset_connections()
    Operation.objects.filter(pk=op.pk).update(updated_at=op.updated_at - operations.timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        swept = operations.operations_refresh_stale()
    assert swept == [str(op.pk)]
    op.refresh_from_db()
    assert op.celery_task_id and _queued(redis_server) == 1
