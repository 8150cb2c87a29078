"""Use-cases that change the catalogue. One function per use-case; API, admin, tasks, pages and
commands all call these. Each owns its transaction and writes its audit event."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from amis.models import AMI
from registry.audit import audit_record
from registry.errors import Conflict, Forbidden, InvalidInput
from registry.permissions import is_moderator

S = AMI.Status

# status → statuses it may move to (ARCHITECTURE.md, *Lifecycle*).
TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.PENDING_REVIEW},
    S.PENDING_REVIEW: {S.APPROVED, S.REJECTED},
    S.REJECTED: {S.PENDING_REVIEW},
    S.APPROVED: {S.DEPRECATED, S.REVOKED},
    S.DEPRECATED: {S.REVOKED},
    S.REVOKED: set(),
}


def _lock(ami: AMI) -> AMI:
    """Re-read the row under a lock so concurrent transitions serialise."""
    return AMI.objects.select_for_update().get(pk=ami.pk)


def _transition(ami: AMI, *, to: str, actor, action: str, reason: str = "", extra_after: dict | None = None) -> str:
    if to not in TRANSITIONS.get(ami.status, set()):
        raise Conflict(f"cannot {action.split('.')[-1]} an AMI whose status is '{ami.status}'",
                       code="invalid_transition", extra={"current_status": ami.status})
    before = ami.status
    ami.status = to
    ami.status_reason = reason or ""
    return before


def _require_owner_or_moderator(ami: AMI, user) -> None:
    if not (is_moderator(user) or (user.is_authenticated and ami.creator_id == user.pk)):
        raise Forbidden("only the owner or a moderator may do this")


def _require_moderator(user) -> None:
    if not is_moderator(user):
        raise Forbidden("only moderators may do this")


@transaction.atomic
def ami_submit(*, ami: AMI, user, description: str | None = None, public: bool | None = None) -> AMI:
    """Owner sends a draft (or a rejected entry, after edits) to moderators."""
    ami = _lock(ami)
    if not (user.is_authenticated and ami.creator_id == user.pk):
        raise Forbidden("only the owner may submit this AMI")
    before = _transition(ami, to=S.PENDING_REVIEW, actor=user, action="ami.submit")
    if description is not None:
        ami.description = description
    if public is not None:
        ami.visibility = AMI.Visibility.PUBLIC if public else AMI.Visibility.PRIVATE
    ami.submitted_at = timezone.now()
    ami.save(update_fields=["status", "status_reason", "description", "visibility", "submitted_at", "updated_at"])
    audit_record(actor=user, action="ami.submit", target=ami, before={"status": before},
                 after={"status": ami.status, "visibility": ami.visibility})
    return ami


@transaction.atomic
def ami_approve(*, ami: AMI, moderator) -> AMI:
    """Moderator approves a pending entry (409 from any other status)."""
    _require_moderator(moderator)
    ami = _lock(ami)
    before = _transition(ami, to=S.APPROVED, actor=moderator, action="ami.approve")
    ami.approved_at = timezone.now()
    ami.approved_by = moderator
    ami.save(update_fields=["status", "status_reason", "approved_at", "approved_by", "updated_at"])
    audit_record(actor=moderator, action="ami.approve", target=ami, before={"status": before},
                 after={"status": ami.status})
    return ami


@transaction.atomic
def ami_reject(*, ami: AMI, moderator, reason: str) -> AMI:
    """Moderator rejects a pending entry; the reason is required and shown to the owner."""
    _require_moderator(moderator)
    if not (reason or "").strip():
        raise InvalidInput("a reason is required to reject", errors={"reason": ["This field is required."]})
    ami = _lock(ami)
    before = _transition(ami, to=S.REJECTED, actor=moderator, action="ami.reject", reason=reason.strip())
    ami.save(update_fields=["status", "status_reason", "updated_at"])
    audit_record(actor=moderator, action="ami.reject", target=ami, before={"status": before},
                 after={"status": ami.status}, reason=reason.strip())
    return ami


@transaction.atomic
def ami_deprecate(*, ami: AMI, user, reason: str = "", replacement: AMI | None = None) -> AMI:
    """Owner or moderator marks an approved entry deprecated, optionally naming its replacement."""
    ami = _lock(ami)
    _require_owner_or_moderator(ami, user)
    if replacement is not None and replacement.pk == ami.pk:
        raise InvalidInput("an AMI cannot replace itself", errors={"replacement": ["Must be another AMI."]})
    before = _transition(ami, to=S.DEPRECATED, actor=user, action="ami.deprecate", reason=reason)
    ami.replacement = replacement
    ami.deprecated_at = timezone.now()
    ami.save(update_fields=["status", "status_reason", "replacement", "deprecated_at", "updated_at"])
    audit_record(actor=user, action="ami.deprecate", target=ami, before={"status": before},
                 after={"status": ami.status, "replacement": str(replacement.pk) if replacement else None},
                 reason=reason)
    return ami


@transaction.atomic
def ami_revoke(*, ami: AMI, moderator, reason: str) -> AMI:
    """Moderator revokes an approved or deprecated entry: never resolved again, grants withdrawn."""
    _require_moderator(moderator)
    if not (reason or "").strip():
        raise InvalidInput("a reason is required to revoke", errors={"reason": ["This field is required."]})
    ami = _lock(ami)
    before = _transition(ami, to=S.REVOKED, actor=moderator, action="ami.revoke", reason=reason.strip())
    ami.revoked_at = timezone.now()
    ami.save(update_fields=["status", "status_reason", "revoked_at", "updated_at"])
    audit_record(actor=moderator, action="ami.revoke", target=ami, before={"status": before},
                 after={"status": ami.status}, reason=reason.strip())
    return ami
