"""The one audit writer. Every state change that matters goes through ``audit_record``.

The log is append-only in PostgreSQL (a trigger refuses UPDATE and DELETE). The only changes ever
made to it are made here, each inside ``audit_changes_allowed()``: pseudonymising an erased user
(``audit_pseudonymise``) and the retention rules (``audit_retention_apply``).
"""
from __future__ import annotations

import contextlib
import ipaddress
from datetime import datetime
from typing import Any

from django.db import connection, models

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


# --- the only changes ever made to the log ---------------------------------------------------------

@contextlib.contextmanager
def audit_changes_allowed():
    """Let the statements inside change ``registry_audit_event`` (PostgreSQL trigger bypass).

    Must run inside a transaction. The setting is ``SET LOCAL`` *and* switched off again on exit,
    so even when the caller's transaction goes on (nested atomic blocks) nothing after the block
    can edit the log.
    """
    if connection.vendor != "postgresql":
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("audit_changes_allowed() needs a transaction")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('registry.audit_purge', 'on', true)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('registry.audit_purge', 'off', true)")


def audit_pseudonymise(*, user_id: int, pseudonym: str) -> None:
    """Account erasure: the legal record stays, but names ``pseudonym`` instead of the user (as
    actor and as target). Call inside the erasure's transaction, after its last event by the user."""
    with audit_changes_allowed():
        AuditEvent.objects.filter(actor_id=user_id).update(actor_username=pseudonym)
        AuditEvent.objects.filter(target_type="auth.user", target_id=str(user_id)).update(target_repr=pseudonym)


def truncate_ip(value: str | None) -> str | None:
    """``203.0.113.77`` → ``203.0.113.0``; IPv6 keeps its /48. None/garbage → None."""
    if not value:
        return None
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def audit_retention_apply(*, ip_cutoff: datetime, audit_cutoff: datetime, dry_run: bool) -> tuple[int, int]:
    """Retention of the log: client IPs of events older than ``ip_cutoff`` are cut to their network
    (``truncate_ip``), events older than ``audit_cutoff`` are deleted. Call inside a transaction
    (unless ``dry_run``, which only counts). Returns (IPs truncated, events purged)."""
    ip_rows = [(pk, ip) for pk, ip in AuditEvent.objects.filter(at__lt=ip_cutoff, at__gte=audit_cutoff,
                                                                ip_address__isnull=False)
               .values_list("id", "ip_address") if truncate_ip(ip) != ip]
    purge = AuditEvent.objects.filter(at__lt=audit_cutoff)
    purged = purge.count()
    if dry_run:
        return len(ip_rows), purged
    with audit_changes_allowed():
        for pk, ip in ip_rows:
            AuditEvent.objects.filter(pk=pk).update(ip_address=truncate_ip(ip))
        purged = purge.delete()[0] if purged else 0
    return len(ip_rows), purged
