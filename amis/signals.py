"""Signals of the catalogue, for decoupled concerns only (cache invalidation, trust hooks).

``ami_changed`` is sent with ``ami_id=<registry uuid>`` by every service that changes an entry's
status, visibility or regional copies — once at once (so in-process caches drop stale answers
during the transaction) and once more after the transaction commits (so nothing re-caches
the pre-commit state in between). Receivers must be cheap and idempotent; the resolver uses it
to invalidate its resolution cache.

``ami_registered`` is sent inside ``ami_register``'s transaction with ``ami``, ``user`` and the
client-supplied ``signature`` (``None`` when none was given). The trust app connects to it to
verify publisher signatures; a receiver may raise an ``ApplicationError`` to refuse the
registration (the transaction then rolls back) or update ``ami.signature_valid``/``verified``.
"""
from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

ami_changed = Signal()  # kwargs: ami_id
ami_registered = Signal()  # kwargs: ami, user, signature


def ami_changed_notify(*, ami_id) -> None:
    """Send ``ami_changed`` now and again after the surrounding transaction commits."""
    from amis.models import AMI

    ami_changed.send(sender=AMI, ami_id=ami_id)
    # NOTE: outside a transaction on_commit runs the callback immediately: a second, harmless send.
    transaction.on_commit(lambda: ami_changed.send(sender=AMI, ami_id=ami_id))
