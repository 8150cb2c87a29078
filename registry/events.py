"""Domain events: the audit trail, announced once its transaction has committed.

Every state change that matters already goes through ``registry.audit.audit_record``. That one
writer also announces each event on ``audit_event_committed`` — but only after the surrounding
transaction commits, so a rolled-back change never announces anything, and a receiver that
reads the database sees the committed state. Receivers (the notifications app) live in apps
the kernel does not import: they connect in their ``AppConfig.ready``.

Receivers must be cheap (they run in the request or task that made the change): enqueue work,
do not do it. They are called robustly: an exception is logged and never undoes or fails the
change that was already committed.
"""
from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# kwargs: event (registry.models.AuditEvent, already committed)
audit_event_committed = Signal()


def audit_event_announce_on_commit(event) -> None:
    """Send ``audit_event_committed`` for ``event`` after the current transaction commits
    (at once when there is none). Called by ``audit_record`` only."""
    transaction.on_commit(partial(audit_event_announce, event))


def is_audit_announcement(callback) -> bool:
    """Whether an on-commit callback is an audit announcement (tests that count a service's own
    on-commit work leave these out)."""
    return getattr(callback, "func", None) is audit_event_announce


def audit_event_announce(event) -> None:
    """Send ``audit_event_committed`` now (robustly: a failing receiver is logged)."""
    for receiver, result in audit_event_committed.send_robust(sender=type(event), event=event):
        if isinstance(result, Exception):
            logger.error("audit_event_committed receiver %r failed for audit event %s (%s)",
                         receiver, event.pk, event.action, exc_info=result)
