"""Retiring an entry in AWS: deprecate, revoke (withdraw every permission) and deregister.

The lifecycle services (``ami_deprecate``, ``ami_revoke``, ``ami_delete(deregister=True)``, the
erasure of an owner) call the ``*_enqueue`` hooks inside their transaction; the hooks write an
``Operation`` listing every regional image and start its task after commit. The steps are
idempotent: a copy already deprecated, withdrawn or gone is simply reported as such.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.utils import timezone

from amis.models import AMI, AMIRegion, Operation
from amis.operations import (TERMINAL, OpKind, operation_enqueue_on_commit, operation_fail,
                             operation_finish_by_outcome, operation_mark_running, operation_save, operation_succeed)
from amis.selectors import ami_live_copies
from amis.signals import ami_launch_permissions_withdrawn
from registry import aws
from registry.aws_accounts import account_role_for
from registry.aws_images import snapshot_ids


def _lifecycle_enqueue(*, ami: AMI, actor, kind: str, params: dict | None = None) -> Operation:
    # The owning account travels with the operation: a deregistration outlives the entry's row.
    op = Operation.objects.create(kind=kind, ami=ami, region=ami.source_region, image_id=ami.ami_id,
                                  created_by=actor if getattr(actor, "is_authenticated", False) else None,
                                  params={"images": ami_live_copies(ami_id=ami.pk),
                                          "account_id": ami.owner_account_id or "", **(params or {})},
                                  message="queued")
    operation_enqueue_on_commit(op)
    return op


def ami_aws_deprecate_enqueue(*, ami: AMI, actor, deprecate_at: datetime | None = None) -> Operation:
    """Hook for ``ami_deprecate`` (call inside its transaction): EnableImageDeprecation on every copy."""
    when = deprecate_at or timezone.now()
    return _lifecycle_enqueue(ami=ami, actor=actor, kind=OpKind.DEPRECATE, params={"deprecate_at": when.isoformat()})


def ami_aws_revoke_enqueue(*, ami: AMI, actor) -> Operation:
    """Hook for ``ami_revoke``: withdraw every launch permission and deprecate every copy."""
    return _lifecycle_enqueue(ami=ami, actor=actor, kind=OpKind.REVOKE)


def ami_deregister_enqueue(*, ami: AMI, actor) -> Operation:
    """Hook for ``ami_delete(..., deregister=True)``: call inside its transaction **before** the row
    is deleted — the operation keeps the regional image ids (the AMI link is SET_NULL)."""
    return _lifecycle_enqueue(ami=ami, actor=actor, kind=OpKind.DEREGISTER)


def _deprecate_at(when: datetime) -> datetime:
    # AWS rejects past times and rounds to the minute: use the next whole minute at the earliest.
    floor = (timezone.now() + timedelta(minutes=1)).replace(second=0, microsecond=0)
    return max(when, floor).astimezone(dt_timezone.utc)


def _op_role(op: Operation) -> aws.AccountRole | None:
    """The credentials of the account owning the operation's images (``params.account_id``)."""
    return account_role_for(op.params.get("account_id") or "")


def _step_start(operation_id) -> tuple[Operation, aws.AccountRole | None] | None:
    """The opening of every retirement step: the operation (None when gone or finished), marked
    running, and the credentials of its account (None, the operation failed, when nobody may act there)."""
    op = Operation.objects.filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL:
        return None
    operation_mark_running(op, progress=10)
    try:
        return op, _op_role(op)
    except aws.AwsPermanentError as exc:
        operation_fail(op, error=exc.message, result={"account_id": op.params.get("account_id") or ""})
        return None


def images_deprecate(images, *, when: datetime, role: aws.AccountRole | None = None) -> dict:
    """EnableImageDeprecation on each (region, image), in ``role``'s account. Returns {region: outcome}."""
    at = _deprecate_at(when)
    outcome = {}
    for region, image_id in images:
        try:
            aws.call(region, "ec2", "enable_image_deprecation", role=role, ImageId=image_id, DeprecateAt=at)
            outcome[region] = {"ami_id": image_id, "status": "deprecated", "deprecate_at": at.isoformat()}
        except aws.AwsNotFound:
            outcome[region] = {"ami_id": image_id, "status": "not_found"}
        except aws.AwsTransientError:
            raise
        except aws.AwsPermanentError as exc:
            status = "not_supported_by_endpoint" if aws.is_not_implemented(exc) else "failed"
            outcome[region] = {"ami_id": image_id, "status": status, "error": exc.message}
    return outcome


def deprecate_step(*, operation_id) -> None:
    """Deprecate every regional copy in AWS. The emulator's NotImplemented is recorded per region
    (``not_supported_by_endpoint``) and does not fail the operation; AWS errors do."""
    started = _step_start(operation_id)
    if started is None:
        return None
    op, role = started
    outcome = images_deprecate(sorted(op.params.get("images", {}).items()),
                               when=datetime.fromisoformat(op.params["deprecate_at"]), role=role)
    operation_finish_by_outcome(op, outcome, "deprecation")
    return None


def _withdraw(region: str, image_id: str, role: aws.AccountRole | None) -> dict:
    """Remove every launch permission of one copy and every volume permission of its snapshots."""
    perms = aws.call(region, "ec2", "describe_image_attribute", role=role, ImageId=image_id,
                     Attribute="launchPermission").get("LaunchPermissions", [])
    if perms:
        aws.call(region, "ec2", "modify_image_attribute", role=role, ImageId=image_id,
                 LaunchPermission={"Remove": perms})
    image = aws.describe_image(region, image_id, role=role) or {}
    for snap in snapshot_ids(image):
        current = aws.call(region, "ec2", "describe_snapshot_attribute", role=role, SnapshotId=snap,
                           Attribute="createVolumePermission").get("CreateVolumePermissions", [])
        if current:
            aws.call(region, "ec2", "modify_snapshot_attribute", role=role, SnapshotId=snap, Attribute="createVolumePermission",
                     CreateVolumePermission={"Remove": current})
    return {"ami_id": image_id, "status": "withdrawn", "removed": perms}


def revoke_step(*, operation_id) -> None:
    """Withdraw every launch permission (accounts, organizations, OUs, public) and snapshot
    volume permission from every copy, then deprecate every copy. Idempotent."""
    started = _step_start(operation_id)
    if started is None:
        return None
    op, role = started
    images = sorted(op.params.get("images", {}).items())
    outcome = {}
    for region, image_id in images:
        try:
            outcome[region] = _withdraw(region, image_id, role)
        except aws.AwsNotFound:
            outcome[region] = {"ami_id": image_id, "status": "not_found"}
        except aws.AwsTransientError:
            raise
        except aws.AwsPermanentError as exc:
            outcome[region] = {"ami_id": image_id, "status": "failed", "error": exc.message}
    deprecation = images_deprecate(images, when=timezone.now(), role=role)
    if op.ami_id:
        # Sharing marks its AWS grants as no longer in effect.
        ami_launch_permissions_withdrawn.send(sender=AMI, ami_id=op.ami_id)
    failed = {r: o for r, o in {**outcome, **deprecation}.items() if o.get("status") == "failed"}
    result = {"regions": outcome, "deprecation": deprecation}
    if failed:
        operation_fail(op, error="; ".join(f"{r}: {o['error']}" for r, o in failed.items()), result=result)
    else:
        operation_succeed(op, message="launch permissions withdrawn and copies deprecated", result=result)
    return None


def deregister_step(*, operation_id) -> None:
    """Deregister every regional copy and delete its snapshots (idempotent: missing ones are skipped);
    ``params.keep_snapshots`` (``POST /ami/delete`` with ``deregister_only``) leaves them."""
    started = _step_start(operation_id)
    if started is None:
        return None
    op, role = started
    outcome = {}
    for region, image_id in sorted(op.params.get("images", {}).items()):
        try:
            image = aws.describe_image(region, image_id, role=role)
            snaps = snapshot_ids(image) if image else list((op.result.get("snapshots") or {}).get(region, []))
            if image is not None:
                # Remember the snapshots first: after DeregisterImage they cannot be looked up.
                operation_save(op, result={**op.result, "snapshots": {**(op.result.get("snapshots") or {}),
                                                                      region: snaps}})
                aws.call(region, "ec2", "deregister_image", role=role, ImageId=image_id)
            deleted = []
            for snap in ([] if op.params.get("keep_snapshots") else snaps):
                try:
                    aws.call(region, "ec2", "delete_snapshot", role=role, SnapshotId=snap)
                    deleted.append(snap)
                except aws.AwsNotFound:
                    pass
            outcome[region] = {"ami_id": image_id, "status": "deregistered", "deleted_snapshots": deleted}
        except aws.AwsTransientError:
            raise
        except aws.AwsPermanentError as exc:
            outcome[region] = {"ami_id": image_id, "status": "failed", "error": exc.message}
    if op.ami_id:
        AMIRegion.objects.filter(ami_id=op.ami_id, region__in=[r for r, o in outcome.items()
                                                              if o["status"] == "deregistered"]).update(
            state=AMIRegion.State.DEREGISTERED, updated_at=timezone.now())
    operation_finish_by_outcome(op, outcome, "deregistration")
    return None
