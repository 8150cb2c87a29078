"""/healthz (database, cache, broker) and /metrics (Prometheus text)."""
import hmac
import ipaddress
import logging
import os
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from registry import metrics  # noqa: F401 — registers the registry's metrics before the first scrape
from registry.celery import app

logger = logging.getLogger(__name__)


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 — any failure means "down", reported by name
        return f"database: {exc.__class__.__name__}: {exc}".strip()
    return None


def _check_cache() -> str | None:
    key = f"healthz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=5)
        ok = cache.get(key) == "1"
        cache.delete(key)
    except Exception as exc:  # noqa: BLE001
        return f"cache: {exc.__class__.__name__}: {exc}"
    return None if ok else "cache: value written could not be read back"


def _check_broker() -> str | None:
    if not settings.CELERY_BROKER_URL:
        return None  # eager mode: there is no broker to be down
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return f"broker: {exc.__class__.__name__}: {exc}"
    return None


@never_cache
def healthz(request):
    """200 when the database, cache and broker answer; 503 naming each that does not."""
    checks = {"database": _check_database(), "cache": _check_cache(), "broker": _check_broker()}
    failed = {name: err for name, err in checks.items() if err}
    body = {
        "status": "ok" if not failed else "unavailable",
        "checks": {name: ("ok" if not err else "failed") for name, err in checks.items()},
        "broker_mode": "eager" if not settings.CELERY_BROKER_URL else "broker",
    }
    if failed:
        body["failed"] = sorted(failed)
        body["errors"] = failed
        logger.warning("healthz failed: %s", failed)
    return JsonResponse(body, status=503 if failed else 200)


def _metrics_allowed(request) -> bool:
    """A scraper in ``REGISTRY_METRICS_ALLOWED_IPS``, or one sending ``Authorization: Bearer <token>``
    with ``REGISTRY_METRICS_TOKEN``. The client address is ``REMOTE_ADDR`` after
    ``registry.proxies`` (a forged X-Forwarded-For cannot pass the allow-list)."""
    token = getattr(settings, "REGISTRY_METRICS_TOKEN", "")
    sent = request.headers.get("Authorization", "")
    if token and sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip(), token):
        return True
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    allowed = getattr(settings, "REGISTRY_METRICS_ALLOWED_IPS", [])
    return any(client in ipaddress.ip_network(net.strip(), strict=False) for net in allowed if net.strip())


@never_cache
def metrics_view(request):
    """Prometheus text, for allowed scrapers only (403 otherwise). With several gunicorn workers set
    PROMETHEUS_MULTIPROC_DIR so every worker's samples are summed (prometheus_client multiprocess mode)."""
    if not _metrics_allowed(request):
        return HttpResponseForbidden("metrics are served to allowed scrapers only\n", content_type="text/plain")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in metrics.SCRAPE_COLLECTORS:  # gauges read at scrape time (the dashboard's)
            registry.register(collector)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
