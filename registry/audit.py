"""The one audit writer. Every state change that matters goes through ``audit_record``."""
from __future__ import annotations

from typing import Any

from django.db import models

from registry.events import audit_event_announce_on_commit
from registry.middleware import current_request
from registry.models import AuditEvent


def _client_ip(request) -> str | None:
    # NOTE: behind a proxy, configure it to set REMOTE_ADDR (gunicorn --forwarded-allow-ips);
    # trusting X-Forwarded-For blindly would let callers forge the audit trail.
    return request.META.get("REMOTE_ADDR") or None


def audit_record(*, actor, action: str, target: models.Model | None = None, before: dict | None = None,
                 after: dict | None = None, reason: str = "", target_type: str = "", target_id: str = "",
                 target_repr: str = "") -> AuditEvent:
    """Append one audit event. Call inside the service's transaction so both commit or neither.

    ``actor`` may be None (system jobs) or an anonymous user. IP, user agent and request id are
    taken from the request being served, when there is one. Once the transaction commits, the
    event is announced on ``registry.events.audit_event_committed`` (never for a rollback).
    """
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_repr = target_repr or str(target)[:255]
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    request = current_request()
    event = AuditEvent.objects.create(
        actor=user,
        actor_username=user.get_username() if user else ("system" if actor is None else "anonymous"),
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=target_repr[:255],
        before=_jsonable(before or {}),
        after=_jsonable(after or {}),
        reason=reason or "",
        ip_address=_client_ip(request) if request is not None else None,
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:255] if request is not None else ""),
        request_id=getattr(request, "request_id", "") if request is not None else "",
    )
    audit_event_announce_on_commit(event)
    return event


def _jsonable(value: Any):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
