"""Use-cases that change the catalogue. One function per use-case; API, admin, tasks, pages,
composers and commands all call these. Each owns its transaction and writes its audit event.

Registering an existing image and the submit wizard are in ``amis.registration``; the AWS work
(create, copy, deprecate/revoke/deregister in AWS, validate) in ``amis.aws_*``.
"""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import TruncDate
from django.utils import timezone

from amis.aws_public import ami_public_sync_enqueue
from amis.aws_retire import ami_aws_deprecate_enqueue, ami_aws_revoke_enqueue, ami_deregister_enqueue
from amis.metadata import CATEGORY_MAX, CLIENT_MAX, DESCRIPTION_MAX, NAME_MAX, VERSION_MAX, tags_clean, text_clean
from amis.models import AMI, Download, DownloadDaily
from amis.scanner import ami_scan_gate, ami_scan_request
from amis.selectors import ami_require_manage, ami_require_owner
from amis.signals import ami_changed_notify
from amis.signatures import ami_signature_require_valid
from registry import aws
from registry.audit import audit_record
from registry.errors import Conflict, Forbidden, InvalidInput
from registry.permissions import is_moderator

S = AMI.Status

# Statuses in which the owner may still edit the entry's metadata (ami_update). Frozen while a
# moderator reviews it (pending_review) and once revoked.
EDITABLE_STATUSES = frozenset({S.DRAFT, S.REJECTED, S.APPROVED, S.DEPRECATED})
# Statuses in which an entry may be deleted (never once it has been published).
DELETABLE_STATUSES = frozenset({S.DRAFT, S.REJECTED})

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


def _require_moderator(user) -> None:
    if not is_moderator(user):
        raise Forbidden("only moderators may do this")


@transaction.atomic
def ami_submit(*, ami: AMI, user, description: str | None = None, public: bool | None = None,
               signature: str | None = None) -> AMI:
    """Owner sends a draft (or a rejected entry, after edits) to moderators.

    ``description`` replaces the description when given; ``public`` sets the requested
    visibility (True → public, False → private; None keeps it). 403 for anyone but the owner,
    409 (naming the current status) from any status but draft/rejected. Audited, ami_changed sent.
    """
    ami = _lock(ami)
    ami_require_owner(user=user, ami=ami, message="only the owner may submit this AMI")
    before = _transition(ami, to=S.PENDING_REVIEW, actor=user, action="ami.submit")
    if description is not None:
        ami.description = description
    if public is not None:
        ami.visibility = AMI.Visibility.PUBLIC if public else AMI.Visibility.PRIVATE
    ami.submitted_at = timezone.now()
    ami.save(update_fields=["status", "status_reason", "description", "visibility", "submitted_at", "updated_at"])
    audit_record(actor=user, action="ami.submit", target=ami, before={"status": before},
                 after={"status": ami.status, "visibility": ami.visibility})
    # Trust & compliance: a signature given now is verified (422 with the precise reason refuses
    # the submission); a submission for public listing is scanned (task after commit) so the
    # moderator sees findings before deciding.
    if signature:
        ami_signature_require_valid(ami=ami, signature=signature, user=user)
    if ami.visibility == AMI.Visibility.PUBLIC:
        ami_scan_request(ami=ami)
    ami_changed_notify(ami_id=ami.pk)
    return ami


@transaction.atomic
def ami_approve(*, ami: AMI, moderator) -> AMI:
    """Moderator approves a pending entry (409 from any other status)."""
    _require_moderator(moderator)
    ami = _lock(ami)
    before = _transition(ami, to=S.APPROVED, actor=moderator, action="ami.approve")
    ami_scan_gate(ami=ami)  # 409 scan_failed unless a moderator's scan exception is active
    ami.approved_at = timezone.now()
    ami.approved_by = moderator
    ami.save(update_fields=["status", "status_reason", "approved_at", "approved_by", "updated_at"])
    audit_record(actor=moderator, action="ami.approve", target=ami, before={"status": before},
                 after={"status": ami.status})
    ami_changed_notify(ami_id=ami.pk)
    if ami.public_requested:  # the owner asked for a public image at create time: AWS after commit
        ami_public_sync_enqueue(ami=ami)
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
    ami_changed_notify(ami_id=ami.pk)
    return ami


@transaction.atomic
def ami_deprecate(*, ami: AMI, user, reason: str = "", replacement: AMI | None = None) -> AMI:
    """Owner or moderator marks an approved entry deprecated, optionally naming its replacement."""
    ami = _lock(ami)
    ami_require_manage(user=user, ami=ami)
    if replacement is not None and replacement.pk == ami.pk:
        raise InvalidInput("an AMI cannot replace itself", errors={"replacement": ["Must be another AMI."]})
    if replacement is not None and replacement.status not in (S.APPROVED, S.DRAFT, S.PENDING_REVIEW):
        raise InvalidInput(f"the replacement's status is '{replacement.status}'",
                           errors={"replacement": ["The replacement must not be rejected, deprecated or revoked."]})
    before = _transition(ami, to=S.DEPRECATED, actor=user, action="ami.deprecate", reason=reason)
    ami.replacement = replacement
    ami.deprecated_at = timezone.now()
    ami.save(update_fields=["status", "status_reason", "replacement", "deprecated_at", "updated_at"])
    audit_record(actor=user, action="ami.deprecate", target=ami, before={"status": before},
                 after={"status": ami.status, "replacement": str(replacement.pk) if replacement else None},
                 reason=reason)
    ami_changed_notify(ami_id=ami.pk)
    ami_aws_deprecate_enqueue(ami=ami, actor=user)  # EnableImageDeprecation, after commit
    return ami


@transaction.atomic
def ami_revoke(*, ami: AMI, moderator, reason: str) -> AMI:
    """Moderator revokes an approved or deprecated entry: never resolved again, grants withdrawn."""
    _require_moderator(moderator)
    if not (reason or "").strip():
        raise InvalidInput("a reason is required to revoke", errors={"reason": ["This field is required."]})
    ami = _lock(ami)
    before = _transition(ami, to=S.REVOKED, actor=moderator, action="ami.revoke", reason=reason.strip())
    return _revoked(ami, actor=moderator, before=before, reason=reason.strip())


def _revoked(ami: AMI, *, actor, before: str, reason: str) -> AMI:
    """The effects of a revocation, whoever decided it (``ami.status`` is already ``revoked``)."""
    ami.status_reason = reason
    ami.revoked_at = timezone.now()
    ami.save(update_fields=["status", "status_reason", "revoked_at", "updated_at"])
    audit_record(actor=actor, action="ami.revoke", target=ami, before={"status": before},
                 after={"status": ami.status}, reason=reason)
    ami_changed_notify(ami_id=ami.pk)
    ami_aws_revoke_enqueue(ami=ami, actor=actor)  # withdraw permissions, after commit
    return ami


# --- Registration, editing, deletion -------------------------------------------------------------

@transaction.atomic
def ami_update(*, ami: AMI, user, **changes) -> AMI:
    """Edit an entry's descriptive metadata: ``name``, ``description``, ``tags``, ``category``, ``version``.

    Owner or moderator. Allowed while ``draft``, ``rejected`` (to fix and resubmit), ``approved``
    and ``deprecated``; 409 while ``pending_review`` (the moderator reviews a fixed text) and once
    ``revoked``. AWS-derived facts are not editable. Unknown keys → 400. One ``ami.update`` audit
    event with the changed fields before/after (nothing written when nothing changed).
    """
    allowed = {"name", "description", "tags", "category", "version"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidInput(f"not editable: {', '.join(unknown)}", errors={k: ["This field cannot be changed."]
                                                                          for k in unknown})
    ami = _lock(ami)
    ami_require_manage(user=user, ami=ami)
    if ami.status not in EDITABLE_STATUSES:
        raise Conflict(f"cannot edit an AMI whose status is '{ami.status}'", code="invalid_transition",
                       extra={"current_status": ami.status})
    cleaners = {
        "name": lambda v: text_clean("name", v, max_length=NAME_MAX, required=True),
        "description": lambda v: text_clean("description", v, max_length=DESCRIPTION_MAX),
        "category": lambda v: text_clean("category", v, max_length=CATEGORY_MAX),
        "version": lambda v: text_clean("version", v, max_length=VERSION_MAX),
        "tags": tags_clean,
    }
    before, after = {}, {}
    for field, value in changes.items():
        value = cleaners[field](value)
        if getattr(ami, field) != value:
            before[field], after[field] = getattr(ami, field), value
            setattr(ami, field, value)
    if after:
        ami.save(update_fields=[*after, "updated_at"])
        audit_record(actor=user, action="ami.update", target=ami, before=before, after=after)
        ami_changed_notify(ami_id=ami.pk)
    return ami


@transaction.atomic
def ami_delete(*, ami: AMI, user, deregister: bool = False) -> None:
    """Delete an unpublished entry (owner only; ``draft`` or ``rejected``, else 409).

    Removes the registry entry and its region rows only: the AWS image itself is the owner's and
    is left alone — unless ``deregister`` (``DELETE ...?deregister=true``): then every regional copy
    is deregistered and its snapshots deleted by a task after commit. Published entries are
    deprecated or revoked instead, never deleted. Audited (``ami.delete``, with the AMI id and name
    kept in the event).
    """
    ami = _lock(ami)
    ami_require_owner(user=user, ami=ami, message="only the owner may delete this AMI")
    if ami.status not in DELETABLE_STATUSES:
        raise Conflict(f"cannot delete an AMI whose status is '{ami.status}' (only draft or rejected entries)",
                       code="invalid_transition", extra={"current_status": ami.status})
    pk = ami.pk
    if deregister:  # before delete(): the operation keeps the regional image ids
        ami_deregister_enqueue(ami=ami, actor=user)
    audit_record(actor=user, action="ami.delete", target=ami,
                 before={"status": ami.status, "ami_id": ami.ami_id, "name": ami.name},
                 after={"deregister": bool(deregister)})
    ami.delete()
    ami_changed_notify(ami_id=pk)


# --- Erasure of an owner's account (called by registry.composers.gdpr) ------------------------------

@transaction.atomic
def ami_release_from_owner(*, ami: AMI, actor, transfer_to=None) -> str:
    """What becomes of one entry when its owner's account is erased. Returns what was done.

    - ``transfer_to`` (a user, chosen by a moderator): the entry changes owner, nothing else —
      ``"transferred"`` (audited ``ami.transfer``);
    - otherwise a ``draft`` (never submitted, so never seen by anyone) is deleted — ``"deleted"``
      (audited ``ami.delete``) — and every other entry is revoked — ``"revoked"`` (audited
      ``ami.revoke``, launch permissions withdrawn in AWS after commit). Erasure may revoke from any
      status, unlike a moderator: with the owner gone nobody can fix, resubmit or maintain it;
    - an entry already revoked is left as it is — ``"unchanged"``.
    ``actor`` is the user themself or the moderator erasing them (None for the system).
    """
    ami = _lock(ami)
    if transfer_to is not None:
        before = ami.creator_id
        ami.creator = transfer_to
        ami.save(update_fields=["creator", "updated_at"])
        audit_record(actor=actor, action="ami.transfer", target=ami, before={"creator_id": before},
                     after={"creator_id": transfer_to.pk, "creator": transfer_to.get_username()},
                     reason="owner account erased")
        return "transferred"
    if ami.status == S.REVOKED:
        return "unchanged"
    if ami.status == S.DRAFT:
        pk = ami.pk
        audit_record(actor=actor, action="ami.delete", target=ami,
                     before={"status": ami.status, "ami_id": ami.ami_id, "name": ami.name},
                     after={"deregister": False}, reason="owner account erased")
        ami.delete()
        ami_changed_notify(ami_id=pk)
        return "deleted"
    before, ami.status = ami.status, S.REVOKED
    _revoked(ami, actor=actor, before=before, reason="owner account erased")
    return "revoked"


# --- Downloads ---------------------------------------------------------------------------------------

def download_record(*, ami: AMI, region: str, user=None, client: str = "") -> Download:
    """Record one download/launch of ``ami`` in ``region`` by ``user`` (None/anonymous allowed).

    One ``ami_downloads`` row per call and ``download_count = download_count + 1`` in the same
    transaction (an F() update: exact under any concurrency, no read-modify-write). 400 on an
    unknown region or an over-long client string; 409 for a revoked entry. Not audited (it is
    telemetry, not a state change); the row itself is the record.
    """
    if not aws.is_known_region(region):
        raise InvalidInput(f"region: unknown AWS region '{region}'", errors={"region": ["Unknown AWS region."]})
    client = text_clean("client", client, max_length=CLIENT_MAX)
    if ami.status == S.REVOKED:
        raise Conflict("this AMI has been revoked", code="invalid_transition", extra={"current_status": ami.status})
    who = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        download = Download.objects.create(ami=ami, region=region, user=who, client=client)
        AMI.objects.filter(pk=ami.pk).update(download_count=F("download_count") + 1)
    return download


def downloads_delink_user(*, user) -> int:
    """Account erasure: the user's downloads stay counted but no longer name them. Returns the count."""
    return Download.objects.filter(user=user).update(user=None)


# Raw rows deleted per statement when rolling up (keeps each DELETE short).
ROLLUP_BATCH = 5000


def downloads_rollup(*, before: datetime, dry_run: bool) -> tuple[int, int]:
    """Retention: fold raw downloads older than ``before`` into per-day ``DownloadDaily`` rows (per
    AMI, day and region) and delete them. ``download_count`` is never touched and ``ami_stats``
    adds both tables, so every figure stays exact. Safe to run concurrently: the raw rows are
    claimed with ``skip_locked``, so each is folded once. Returns (raw rows folded, daily rows
    created or incremented); a dry run only counts.
    """
    old = Download.objects.filter(at__lt=before)
    groups = list(old.annotate(day=TruncDate("at")).values("ami_id", "day", "region")
                  .annotate(n=Count("id")).order_by())
    if dry_run or not groups:
        return sum(g["n"] for g in groups), len(groups)
    with transaction.atomic():
        ids = list(old.select_for_update(skip_locked=True).values_list("id", flat=True))
        if not ids:
            return 0, 0
        groups = list(Download.objects.filter(id__in=ids).annotate(day=TruncDate("at"))
                      .values("ami_id", "day", "region").annotate(n=Count("id")).order_by())
        for g in groups:
            row, created = DownloadDaily.objects.select_for_update().get_or_create(
                ami_id=g["ami_id"], day=g["day"], region=g["region"], defaults={"count": g["n"]})
            if not created:
                DownloadDaily.objects.filter(pk=row.pk).update(count=F("count") + g["n"])
        for start in range(0, len(ids), ROLLUP_BATCH):
            Download.objects.filter(id__in=ids[start:start + ROLLUP_BATCH]).delete()
    return len(ids), len(groups)

