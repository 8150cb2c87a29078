"""/healthz, /metrics, the OpenAPI schema and docs, and migrations in step with the models."""
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_healthz_ok_when_everything_answers(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


def test_healthz_names_a_stopped_cache_with_503(client, monkeypatch):
    from django.core.cache.backends.redis import RedisCache

    from registry import health

    # A real Redis client aimed where no Redis listens (port 1 on loopback).
    monkeypatch.setattr(health, "cache", RedisCache("redis://127.0.0.1:1/0", {}))
    resp = client.get("/healthz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["failed"] == ["cache"]
    assert body["checks"]["database"] == "ok"
    assert "cache" in body["errors"]["cache"]


def test_healthz_names_a_stopped_broker_with_503(client, settings):
    from registry.celery import app

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    # The app reads Django settings with the CELERY_ namespace: the namespaced key is the one it
    # honours (assigning conf.broker_url would be shadowed by it).
    old = app.conf["CELERY_BROKER_URL"]
    app.conf.update({"CELERY_BROKER_URL": "redis://127.0.0.1:1/0"})
    try:
        resp = client.get("/healthz")
    finally:
        app.conf.update({"CELERY_BROKER_URL": old})
    assert resp.status_code == 503
    assert resp.json()["failed"] == ["broker"]


def test_healthz_names_a_stopped_database_with_503(client, monkeypatch):
    from registry import health

    def broken_cursor():
        from django.db import OperationalError

        raise OperationalError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.json()["failed"] == ["database"]


def test_metrics_are_prometheus_text(client):
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert b"registry_aws_calls_total" in resp.content


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/auth/register", "/api/v1/auth/token", "/api/v1/me"):
        assert path in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    assert b"cdn" not in docs.content.lower()  # assets come from our own static files


def test_makemigrations_check_is_clean():
    result = subprocess.run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
                            cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "registry.settings.test"})
    assert result.returncode == 0, result.stdout + result.stderr
