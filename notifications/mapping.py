"""Audit actions → notification event types: the one table that says what is worth telling.

The audit log is the event source (``registry.events.audit_event_committed``). A rule looks only
at the audit event itself (action, target, before/after, reason) — it runs in the request that
made the change, so it must not query the database.

Versions and channels plug in by writing their audit events with these actions, naming the AMI
(``target`` = the AMI, or ``after["ami"]`` = its registry uuid) and the lineage
(``after["lineage_key"]``); their ``after`` is passed on as ``data.details``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from notifications.event_types import EventType


def _always(audit) -> bool:
    return True


def _scan_failed(audit) -> bool:
    return (audit.after or {}).get("result") == "failed"


def _review_text(values: dict | None) -> str:
    return ((values or {}).get("review") or "").strip()


def _has_review(audit) -> bool:
    return bool(_review_text(audit.after))


def _review_changed(audit) -> bool:
    return _has_review(audit) and _review_text(audit.after) != _review_text(audit.before)


@dataclass(frozen=True)
class Rule:
    event_type: EventType
    applies: Callable = _always
    # Whether the user who caused the audit event is emailed about it too. Yes for asynchronous
    # outcomes they wait for (a copy finished, their scan failed); no for what they just clicked.
    tell_actor: bool = False


RULES: dict[str, Rule] = {
    "ami.approve": Rule(EventType.AMI_APPROVED),
    "ami.reject": Rule(EventType.AMI_REJECTED),
    "ami.deprecate": Rule(EventType.AMI_DEPRECATED),
    "ami.revoke": Rule(EventType.AMI_REVOKED),
    "ami.scan": Rule(EventType.SCAN_FAILED, applies=_scan_failed, tell_actor=True),
    "ami.copy_completed": Rule(EventType.COPY_COMPLETED, tell_actor=True),
    "rating.create": Rule(EventType.REVIEW_POSTED, applies=_has_review),
    "rating.replace": Rule(EventType.REVIEW_POSTED, applies=_review_changed),
    "rating.hide": Rule(EventType.REVIEW_HIDDEN),
    # Written by the versions/channels services (lineages).
    "version.publish": Rule(EventType.VERSION_PUBLISHED),
    "channel.move": Rule(EventType.CHANNEL_MOVED),
}

# Event types about a review (target ``ratings.rating``) rather than the AMI itself.
REVIEW_EVENTS = frozenset({EventType.REVIEW_POSTED, EventType.REVIEW_HIDDEN})


def rule_for(audit) -> Rule | None:
    """The rule that turns ``audit`` into a notification event, or None (not worth telling)."""
    rule = RULES.get(audit.action)
    if rule is None or not rule.applies(audit):
        return None
    return rule


def ami_ref_of(audit) -> str | None:
    """The registry uuid of the AMI an audit event is about (None for a review: see the rating)."""
    if audit.target_type == "amis.ami":
        return audit.target_id or None
    ref = (audit.after or {}).get("ami")
    return str(ref) if ref else None


def lineage_key_of(audit) -> str:
    after = audit.after or {}
    return str(after.get("lineage_key") or after.get("lineage") or "")[:200]
