"""What a webhook receives: a CloudEvents 1.0 event in structured JSON mode, signed with HMAC-SHA256.

Signature header (docs/notifications.md shows how to verify it)::

    X-Registry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

The timestamp is signed with the body, so a receiver can refuse replays older than a few
minutes; it is taken fresh on every attempt while the body (CloudEvent id, time, data) stays the
same, so a receiver deduplicates retries by the CloudEvent ``id``.
"""
from __future__ import annotations

import hashlib
import hmac
import time

from cloudevents.core.bindings.http import to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from django.conf import settings

from notifications.models import Event

SIGNATURE_HEADER = "X-Registry-Signature"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
USER_AGENT = "cws-registry-webhooks/1.0"


def event_source() -> str:
    """The CloudEvents ``source``: this registry (its public URL)."""
    return settings.REGISTRY_SITE_URL.rstrip("/") or "/cws-registry"


def cloudevent_body(event: Event) -> bytes:
    """The structured-mode JSON body of ``event`` (the same bytes on every attempt)."""
    attributes = {
        "id": str(event.pk),
        "source": event_source(),
        "type": event.type,
        "specversion": "1.0",
        "time": event.occurred_at,
        "datacontenttype": "application/json",
    }
    if event.subject:
        attributes["subject"] = event.subject
    return to_structured(CloudEvent(attributes, event.data or {}), JSONFormat()).body


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The value of ``X-Registry-Signature`` for ``body`` signed with ``secret``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def signature_valid(secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """Verify a signature header as a receiver would (used by the tests and the docs' example)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def request_headers(*, secret: str, body: bytes, delivery_id: int, attempt: int, event: Event) -> dict[str, str]:
    return {
        "Content-Type": CONTENT_TYPE,
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secret, body),
        "X-Registry-Event": event.type,
        "X-Registry-Delivery": str(delivery_id),
        "X-Registry-Attempt": str(attempt),
    }
