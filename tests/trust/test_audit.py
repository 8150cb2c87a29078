"""Audit log: append-only in PostgreSQL, the moderators' API, failed logins and lockout."""
import datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from registry.audit import audit_record
from registry.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(user):
    return audit_record(actor=user, action="test.thing", target=user, after={"x": 1})


def test_update_is_refused_by_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE registry_audit_event SET action = 'x' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert event.reason == "" and event.action == "test.thing"


def test_delete_is_refused_by_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM registry_audit_event")
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_purge_bypass_holds_only_inside_its_block(event):
    from registry.audit import audit_changes_allowed

    with transaction.atomic(), audit_changes_allowed():
        AuditEvent.objects.filter(pk=event.pk).update(ip_address=None)
    # Switched off again on exit, even though the test's outer transaction goes on.
    with pytest.raises(DatabaseError):
        with transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(reason="x")


def test_deleting_a_user_only_unlinks_the_actor(user, event):
    """The FK's SET NULL is the one UPDATE the trigger lets through without the purge setting."""
    user.delete()
    event.refresh_from_db()
    assert event.actor_id is None and event.actor_username == "alice" and event.action == "test.thing"


def test_audit_api_is_for_moderators_with_filters(user, other_user, moderator, event):
    audit_record(actor=other_user, action="ami.submit", target_type="amis.ami", target_id="abc")
    audit_record(actor=other_user, action="ami.approve", target_type="amis.ami", target_id="abc")
    assert client_for(None).get("/api/v1/audit/").status_code == 401
    assert client_for(user).get("/api/v1/audit/").status_code == 403
    mod = client_for(moderator)
    body = mod.get("/api/v1/audit/").json()
    assert body["count"] == AuditEvent.objects.count() and body["results"][0]["action"] == "ami.approve"
    assert mod.get("/api/v1/audit/", {"actor": "bob"}).json()["count"] == 2
    assert mod.get("/api/v1/audit/", {"actor": str(other_user.pk)}).json()["count"] == 2
    assert mod.get("/api/v1/audit/", {"action": "ami."}).json()["count"] == 2
    assert mod.get("/api/v1/audit/", {"action": "ami.submit"}).json()["count"] == 1
    assert mod.get("/api/v1/audit/", {"target_type": "amis.ami", "target_id": "abc"}).json()["count"] == 2
    future = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
    assert mod.get("/api/v1/audit/", {"since": future}).json()["count"] == 0
    assert mod.get("/api/v1/audit/", {"until": future}).json()["count"] == AuditEvent.objects.count()
    bad = mod.get("/api/v1/audit/", {"since": "yesterday"})
    assert bad.status_code == 400
    assert mod.get("/api/v1/audit/", {"page_size": 1}).json()["next"]


def test_browser_login_failure_writes_one_event(user):
    resp = Client().post("/admin/login/", {"username": "alice", "password": "wrong"})
    assert resp.status_code == 200  # the form again, with an error
    events = AuditEvent.objects.filter(action="auth.login_failed")
    assert events.count() == 1 and events.get().target_repr == "alice" and events.get().ip_address == "127.0.0.1"


def test_token_failures_lock_out_then_recover(make_user, settings):
    make_user("root", superuser=True)  # may use the admin login, so a refusal there means "locked"
    settings.REGISTRY_LOGIN_MAX_FAILURES = 3
    client = client_for(None)
    for _ in range(3):
        resp = client.post("/api/v1/auth/token", {"username": "root", "password": "nope"})
        assert resp.status_code == 400
    # Aggregated: the first failure of the window and the one that locks, not every attempt.
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 1
    assert AuditEvent.objects.get(action="auth.login_locked").after["failures"] == 3
    # Locked: even the right password is refused, with 429 and Retry-After.
    locked = client.post("/api/v1/auth/token", {"username": "root", "password": "correct-horse-battery"})
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert locked.json()["code"] == "rate_limited"
    # The browser/admin login is locked too (same backend).
    page = Client().post("/admin/login/?next=/admin/", {"username": "root", "password": "correct-horse-battery"})
    assert page.status_code == 200 and "_auth_user_id" not in page.wsgi_request.session
    from django.core.cache import cache

    cache.clear()  # the window expires
    ok = client.post("/api/v1/auth/token", {"username": "root", "password": "correct-horse-battery"})
    assert ok.status_code == 200 and ok.json()["token"]
    page = Client().post("/admin/login/?next=/admin/", {"username": "root", "password": "correct-horse-battery"})
    assert page.status_code == 302  # unlocked: the same login now succeeds
