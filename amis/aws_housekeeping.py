"""The caller's own images, tidied: ``POST /ami/cleanup`` (old, unused entries) and
``POST /ami/delete`` (one entry), in the keys of the real cws daemon.

Both go through the AWS lifecycle (``amis.aws_retire``): an ``Operation(kind=deregister)`` per
entry deregisters every regional copy and deletes its snapshots (``deregister_only`` keeps them)
after commit, audited. An unpublished entry (draft, rejected) leaves the catalogue; a retired one
(deprecated, revoked) stays as history with its copies marked deregistered. Anything others may
depend on — an approved public entry, an image a template maps, grants, an entry named as another's
replacement, a published entry still in use — is refused with the reason (409).
"""
from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from amis.aws_retire import ami_deregister_enqueue
from amis.models import AMI, AMIRegion, Operation
from amis.selectors import ami_can_manage, ami_list_visible_to, ami_lookup_q
from amis.services import DELETABLE_STATUSES, ami_delete
from registry import aws
from registry.audit import audit_record
from registry.aws_images import snapshot_ids
from registry.errors import Conflict, InvalidInput, NotFound
from templates.models import Template

S = AMI.Status
RETIRED_STATUSES = frozenset({S.DEPRECATED, S.REVOKED})
# Snapshot storage, $ per GB-month (the figure create's estimate uses: docs/aws-lifecycle.md).
SNAPSHOT_GB_MONTH = 0.05
_AGE_RE = re.compile(r"^\s*(\d{1,5})\s*([hdwm]?)\s*$")
_AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "m": timedelta(days=30), "": timedelta(days=1)}


def max_age_parse(value: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``3m`` (30-day months) or a bare number of days."""
    match = _AGE_RE.match(value or "")
    if not match:
        raise InvalidInput(f"invalid max_age '{value}'", errors={"max_age": ["Use e.g. 30d, 12h, 2w or 3m."]})
    return int(match.group(1)) * _AGE_UNITS[match.group(2)]


def _mapped_image_ids() -> set[str]:
    """Every image id a template's ``ami_mappings`` (or legacy ``amis``) names."""
    ids: set[str] = set()
    for template in Template.objects.only("document"):
        config = template.ami_config or {}
        for value in (config.get("ami_mappings") or {}).values():
            if isinstance(value, str):
                ids.add(value)
        for per_arch in (config.get("amis") or {}).values():
            if isinstance(per_arch, dict):
                ids.update(v for v in per_arch.values() if isinstance(v, str))
    return ids


def ami_dependents(ami: AMI, *, mapped: set[str] | None = None) -> list[str]:
    """Why others depend on ``ami`` (empty: nobody does)."""
    reasons = []
    if ami.status == S.APPROVED and ami.visibility == AMI.Visibility.PUBLIC:
        reasons.append("it is an approved public entry others may launch")
    images = {ami.ami_id, *AMIRegion.objects.filter(ami=ami).exclude(image_id="").values_list("image_id", flat=True)}
    used = sorted(images & (mapped if mapped is not None else _mapped_image_ids()))
    if used:
        reasons.append(f"a template maps {', '.join(used)}")
    shares = ami.shares.count() if hasattr(ami, "shares") else 0
    if shares:
        reasons.append(f"it has {shares} grant(s)")
    replaces = list(ami.replaces.values_list("name", flat=True)[:3])
    if replaces:
        reasons.append(f"it is named as the replacement of {', '.join(replaces)}")
    return reasons


def _summary(ami: AMI) -> dict:
    regions = list(AMIRegion.objects.filter(ami=ami).exclude(state=AMIRegion.State.DEREGISTERED)
                   .exclude(image_id="").values_list("region", flat=True))
    size = float(ami.size_gb or 8)
    return {"ami_id": ami.ami_id, "registry_id": str(ami.pk), "name": ami.name, "status": ami.status,
            "creation_date": ami.image_creation_date or ami.created_at.isoformat(), "regions": regions,
            "size_gb": size, "storage_cost_monthly": round(size * SNAPSHOT_GB_MONTH * max(1, len(regions)), 4)}


def _retire_in_aws(*, ami: AMI, user, keep_snapshots: bool, reason: str) -> Operation | None:
    """Deregister ``ami``'s copies (an unpublished entry also leaves the catalogue). Inside a transaction."""
    if ami.status in DELETABLE_STATUSES:
        image_id = ami.ami_id
        ami_delete(ami=ami, user=user, deregister=True)
        # The deregistration ami_delete queued in this transaction (it keeps the image id).
        op = (Operation.objects.filter(kind=Operation.Kind.DEREGISTER, image_id=image_id, state=Operation.State.QUEUED)
              .order_by("-created_at").first())
    else:
        op = ami_deregister_enqueue(ami=ami, actor=user)
        audit_record(actor=user, action="ami.deregister", target=ami, before={"status": ami.status},
                     after={"keep_snapshots": keep_snapshots}, reason=reason)
    if op is not None and keep_snapshots:
        Operation.objects.filter(pk=op.pk).update(params={**op.params, "keep_snapshots": True})
    return op


def _snapshots_in_aws(ami: AMI) -> list[str]:
    """The source image's snapshots as AWS reports them (an entry whose facts are not recorded yet)."""
    try:
        return snapshot_ids(aws.describe_image(ami.source_region, ami.ami_id) or {})
    except aws.AwsError:
        return []


def ami_cleanup(*, user, max_age: str = "30d", dry_run: bool = False) -> dict:
    """The caller's entries older than ``max_age`` that nobody depends on and that are not live in
    the catalogue (draft, rejected, deprecated, revoked): listed (``dry_run``) or deregistered with
    their snapshots (audited ``ami.cleanup`` once, plus each entry's own event)."""
    age = max_age_parse(max_age)
    cutoff = timezone.now() - age
    mapped = _mapped_image_ids()
    candidates = AMI.objects.filter(creator=user, created_at__lt=cutoff,
                                    status__in=[*DELETABLE_STATUSES, *RETIRED_STATUSES]).order_by("created_at")
    chosen = [ami for ami in candidates if not ami_dependents(ami, mapped=mapped)
              and AMIRegion.objects.filter(ami=ami).exclude(state=AMIRegion.State.DEREGISTERED).exists()]
    listed = [_summary(ami) for ami in chosen]
    operations = []
    if not dry_run and chosen:
        with transaction.atomic():
            for ami in AMI.objects.select_for_update().filter(pk__in=[a.pk for a in chosen]):
                op = _retire_in_aws(ami=ami, user=user, keep_snapshots=False, reason=f"cleanup older than {max_age}")
                if op is not None:
                    operations.append(str(op.pk))
            audit_record(actor=user, action="ami.cleanup", target_type="auth.user", target_id=str(user.pk),
                         target_repr=user.get_username(),
                         after={"max_age": max_age, "removed": [a["ami_id"] for a in listed]})
    return {"total_found": candidates.count(), "total_removed": len(listed),
            "storage_savings_monthly": round(sum(a["storage_cost_monthly"] for a in listed), 2),
            "removed_amis": listed, "dry_run": bool(dry_run), "max_age": max_age,
            "cleanup_completed_at": timezone.now().isoformat(), "operations": operations}


def ami_delete_cws(*, user, ref: str, deregister_only: bool = False) -> dict:
    """Delete one of the caller's entries in AWS (``POST /ami/delete``): 404 when it is not theirs
    to manage, 409 with the reasons when others depend on it or it is still live in the catalogue."""
    lookup = ami_lookup_q(ref)
    ami = ami_list_visible_to(user=user).filter(lookup).first() if lookup is not None else None
    if ami is None or not ami_can_manage(user=user, ami=ami):
        raise NotFound(f"no AMI of yours with id '{ref}'")
    reasons = ami_dependents(ami)
    if not reasons and ami.status not in DELETABLE_STATUSES and ami.status not in RETIRED_STATUSES:
        reasons.append(f"its status is '{ami.status}': deprecate or revoke a published entry before deleting it")
    if reasons:
        raise Conflict(f"cannot delete {ami.ami_id}: {'; '.join(reasons)}", code="in_use",
                       extra={"reasons": reasons, "ami_id": ami.ami_id})
    summary = _summary(ami)
    snapshots = list(ami.root_snapshot_ids or []) or _snapshots_in_aws(ami)
    with transaction.atomic():
        locked = AMI.objects.select_for_update().get(pk=ami.pk)
        op = _retire_in_aws(ami=locked, user=user, keep_snapshots=deregister_only, reason="deleted by its owner")
    if op is not None:
        op.refresh_from_db()
    done = op is not None and op.state == Operation.State.SUCCEEDED
    deleted = sorted({s for o in ((op.result or {}).get("regions") or {}).values() if isinstance(o, dict)
                      for s in o.get("deleted_snapshots", [])}) if done else []
    return {"ami_id": summary["ami_id"], "registry_id": summary["registry_id"],
            "status": "deleted" if done else "deleting", "operation_id": str(op.pk) if op else "",
            "deleted_snapshots": [] if deregister_only else (deleted or snapshots),
            "storage_savings_monthly": 0.0 if deregister_only else summary["storage_cost_monthly"],
            "deregister_only": bool(deregister_only), "deletion_completed_at": timezone.now().isoformat()}

