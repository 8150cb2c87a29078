"""Writes that queue work need the broker: refuse them with 503 + Retry-After while it is down.

Reads never touch the broker and keep working from PostgreSQL when Redis is down (the cache fails
open, ``registry.cache``). A write that would queue work — an image copy, a create, a share applied
in AWS — is different: committing its row without a message would leave work no worker knows
about. So the helpers that register "send after commit" call ``broker_require()`` *inside* the
service's transaction: a dead broker raises ``BrokerUnavailable`` there, the transaction rolls
back, and the caller gets 503 with ``Retry-After`` (the API's envelope, or the site's 503 page via
``BrokerUnavailableMiddleware``). Nothing is committed for work that cannot be queued.

A send can still fail after the check (the broker dies between check and commit):
``registry.celery.task_send`` then returns False and the row keeps an *unsent* marker for the
stale sweep (outbox style; see ``amis.operations``). Everything recovers without a restart: the
check is re-made at most every ``BROKER_CHECK_SECONDS`` and kombu reconnects on the next send.
"""
from __future__ import annotations

import logging
import threading
import time

from django.http import JsonResponse
from django.shortcuts import render

from registry import metrics
from registry.celery import BROKER_ERRORS, app, tasks_run_eagerly
from registry.errors import ApplicationError, envelope

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
# A broker check costs one connection; its answer is reused this long (per process).
BROKER_CHECK_SECONDS = 2.0

_lock = threading.Lock()
_last: tuple[float, bool] = (0.0, True)


class BrokerUnavailable(ApplicationError):
    """503: the job queue is down, so work cannot be queued; nothing was changed."""

    status_code = 503
    code = "service_unavailable"

    def __init__(self, message: str = "The job queue is unavailable right now; nothing was changed. "
                                      "Please try again in a minute.", **kwargs):
        super().__init__(message, **kwargs)
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _probe() -> bool:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except BROKER_ERRORS as exc:
        logger.warning("broker unavailable: %s: %s", exc.__class__.__name__, exc)
        return False
    return True


def broker_available() -> bool:
    """True when tasks can be queued (always in eager mode, where there is no broker)."""
    global _last
    if tasks_run_eagerly():
        return True
    checked_at, ok = _last
    if time.monotonic() - checked_at < BROKER_CHECK_SECONDS:
        return ok
    with _lock:
        ok = _probe()
        _last = (time.monotonic(), ok)
    return ok


def broker_check_forget() -> None:
    """Drop the remembered answer (tests, and after a known change of the broker)."""
    global _last
    _last = (0.0, True)


def broker_require(*, task: str = "") -> None:
    """Raise ``BrokerUnavailable`` (503) unless the broker can take ``task`` now.

    Call inside the service's transaction, before (or while) writing rows whose work it queues.
    """
    if not broker_available():
        metrics.BROKER_REFUSALS.labels(task=task or "-").inc()
        raise BrokerUnavailable()


class BrokerUnavailableMiddleware:
    """A ``BrokerUnavailable`` escaping a browser page becomes the 503 page with ``Retry-After``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, BrokerUnavailable):
            return None
        if request.path.startswith("/api/") or "text/html" not in request.headers.get("Accept", "text/html"):
            response = JsonResponse(envelope(exception.message, status_code=503, code=exception.code), status=503)
        else:
            response = render(request, "registry/errors/503.html", {"message": exception.message}, status=503)
        for key, value in exception.headers.items():
            response[key] = value
        return response
