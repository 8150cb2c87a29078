"""EBS snapshots for the cws client (``POST /ami/snapshots``, ``/ami/snapshot/create|restore|delete``),
in the keys of the real cws daemon.

Owner-scoped: a snapshot is the caller's when the registry made it for them (tag
``RegistryOwner=<user id>``) or when it backs one of their entries (its root snapshots); a
moderator may act on any. CreateSnapshot and RegisterImage answer at once with the new id (AWS
finishes the copy of the data by itself), so the requests answer 202 with it; every change is
audited. ``restore`` registers an image from a snapshot and records it as a draft entry of the
caller, so ``cws ami status <ami_id>`` and the catalogue know it.
"""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from amis.aws_create import instance_locate_owned
from amis.ownership import candidate_roles
from amis.aws_housekeeping import SNAPSHOT_GB_MONTH, max_age_parse
from amis.metadata import DESCRIPTION_MAX, NAME_MAX, text_clean
from amis.models import AMI, AMIRegion, Operation
from amis.operations import (TASK_NAMES, OpKind, operation_enqueue_on_commit, operation_fail, operation_mark_running,
                             operation_succeed, poll_seconds)
from amis.signals import ami_changed_notify
from registry import aws
from registry.audit import audit_record
from registry.aws_accounts import account_role_for
from registry.aws_images import aws_image_name, tag_list
from registry.broker import broker_require
from registry.errors import ApplicationError, Conflict, InvalidInput, NotFound
from registry.permissions import is_moderator

OWNER_TAG = "RegistryOwner"
# Minutes AWS typically takes to finish a snapshot / an image registered from one (for the 202).
SNAPSHOT_MINUTES = 5
RESTORE_MINUTES = 2


def _unavailable(exc: aws.AwsError) -> ApplicationError:
    return ApplicationError(f"AWS did not answer, nothing was changed; try again: {exc.message}",
                            code="aws_unavailable", status_code=503)


def _aws(region: str, operation: str, *, role: aws.AccountRole | None = None, **kwargs) -> dict:
    try:
        return aws.call(region, "ec2", operation, role=role, **kwargs)
    except aws.AwsTransientError as exc:
        raise _unavailable(exc) from exc


def _owned_snapshot_ids(user) -> set[str]:
    ids: set[str] = set()
    for snaps in AMI.objects.filter(creator=user).values_list("root_snapshot_ids", flat=True):
        ids.update(snaps or [])
    return ids


def _is_mine(snapshot: dict, *, user, owned: set[str]) -> bool:
    tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags") or []}
    return (tags.get(OWNER_TAG) == str(user.pk) or snapshot["SnapshotId"] in owned) or is_moderator(user)


def _row(snapshot: dict) -> dict:
    size = int(snapshot.get("VolumeSize") or 0)
    start = snapshot.get("StartTime")
    return {"snapshot_id": snapshot["SnapshotId"], "volume_id": snapshot.get("VolumeId", ""),
            "volume_size": size, "description": snapshot.get("Description", "") or "",
            "start_time": start.isoformat() if isinstance(start, datetime) else str(start or ""),
            "state": snapshot.get("State", ""), "progress": snapshot.get("Progress", "") or "",
            "storage_cost_monthly": round(size * SNAPSHOT_GB_MONTH, 4),
            "instance_id": {t["Key"]: t["Value"] for t in snapshot.get("Tags") or []}.get("InstanceId", ""),
            "instance_name": {t["Key"]: t["Value"] for t in snapshot.get("Tags") or []}.get("InstanceName", "")}


def _snapshot_get(*, user, region: str, snapshot_id: str) -> tuple[dict, aws.AccountRole | None]:
    """The caller's snapshot and the credentials of the account it lives in (404 otherwise:
    another user's is not found, never forbidden)."""
    if not isinstance(snapshot_id, str) or not snapshot_id.startswith("snap-") or len(snapshot_id) > 22:
        raise InvalidInput(f"invalid snapshot id '{snapshot_id}'", errors={"snapshot_id": ["Must look like snap-…"]})
    owned = _owned_snapshot_ids(user)
    for role in candidate_roles(user):  # the caller's own accounts first, then the registry's
        try:
            found = _aws(region, "describe_snapshots", role=role, SnapshotIds=[snapshot_id]).get("Snapshots", [])
        except aws.AwsPermanentError:  # not in that account (or its role may not look): the next one
            found = []
        if found and _is_mine(found[0], user=user, owned=owned):
            return found[0], role
    raise NotFound(f"no snapshot of yours with id {snapshot_id} in {region}")


def _snapshots_visible(*, user, region: str) -> list[dict]:
    """Snapshots in every account the caller's roles reach, and the registry's own, once each."""
    seen: dict[str, dict] = {}
    for role in candidate_roles(user):
        try:
            found = _aws(region, "describe_snapshots", role=role, OwnerIds=["self"]).get("Snapshots", [])
        except aws.AwsPermanentError:  # a linked role that may not list snapshots: the others still answer
            continue
        for snap in found:
            seen.setdefault(snap["SnapshotId"], snap)
    return list(seen.values())


def snapshots_list(*, user, region: str, instance_id: str = "", max_age: str = "") -> dict:
    """The caller's snapshots in ``region``, newest first, filtered by instance and age."""
    snapshots = _snapshots_visible(user=user, region=region)
    owned = _owned_snapshot_ids(user)
    rows = [_row(s) for s in snapshots if _is_mine(s, user=user, owned=owned)]
    if instance_id:  # the EC2 id or the instance's name (the client suggests the name it was given)
        rows = [r for r in rows if instance_id in (r["instance_id"], r["instance_name"])]
    if max_age:
        cutoff = timezone.now() - max_age_parse(max_age)
        rows = [r for r in rows if not r["start_time"] or datetime.fromisoformat(r["start_time"]) >= cutoff]
    rows.sort(key=lambda r: r["start_time"], reverse=True)
    return {"snapshots": rows, "total_count": len(rows),
            "total_storage_cost_monthly": round(sum(r["storage_cost_monthly"] for r in rows), 2),
            "filters": {"instance_id": instance_id, "max_age": max_age, "region": region}}


def snapshot_create(*, user, instance_ref: str, region: str, description: str = "", no_reboot: bool = True) -> dict:
    """CreateSnapshot of the root volume of the caller's instance (EC2 id or Name tag, found in any
    region); tagged with the caller, audited. Answers at once with the snapshot id."""
    # Only the caller's instance (amis.ownership), snapshotted in its own account.
    region, instance, role = instance_locate_owned(user=user, ref=instance_ref, region=region)
    root = instance.get("RootDeviceName")
    ebs = [(m.get("DeviceName"), m["Ebs"]["VolumeId"]) for m in instance.get("BlockDeviceMappings") or []
           if (m.get("Ebs") or {}).get("VolumeId")]
    # The root volume; the first EBS volume when AWS (or the emulator) names the root differently.
    volumes = [v for dev, v in ebs if dev == root] or [v for _, v in ebs]
    if not volumes:
        raise InvalidInput(f"instance {instance['InstanceId']} has no EBS root volume to snapshot",
                           errors={"instance_id": ["No EBS root volume."]})
    description = text_clean("description", description, max_length=DESCRIPTION_MAX)[:255] or (
        f"Root volume of {instance['InstanceId']}")
    name = {t["Key"]: t["Value"] for t in instance.get("Tags") or []}.get("Name", "")
    tags = {OWNER_TAG: str(user.pk), "InstanceId": instance["InstanceId"], "CloudWorkstation": "true",
            **({"InstanceName": name} if name else {})}
    # The wait for "completed" is an Operation a worker follows: refuse before AWS is touched when
    # it could not be queued, so nothing is half-made.
    broker_require(task=TASK_NAMES[OpKind.SNAPSHOT])
    snapshot = _aws(region, "create_snapshot", role=role, VolumeId=volumes[0], Description=description,
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(tags)}])
    with transaction.atomic():
        op = Operation.objects.create(
            kind=OpKind.SNAPSHOT, region=region, instance_id=instance["InstanceId"], created_by=user,
            params={"snapshot_id": snapshot["SnapshotId"], "account_id": snapshot.get("OwnerId", "")},
            message=f"snapshot {snapshot['SnapshotId']} of {volumes[0]} started")
        audit_record(actor=user, action="snapshot.create", target_type="ec2.snapshot",
                     target_id=snapshot["SnapshotId"], target_repr=snapshot["SnapshotId"],
                     after={"region": region, "instance_id": instance["InstanceId"], "volume_id": volumes[0],
                            "no_reboot": bool(no_reboot), "operation_id": str(op.pk)})
        operation_enqueue_on_commit(op)
    row = _row(snapshot)
    return {**row, "region": region, "estimated_completion_minutes": SNAPSHOT_MINUTES,
            "creation_initiated_at": timezone.now().isoformat(), "operation_id": str(op.pk)}


def snapshot_wait_step(*, operation_id) -> int | None:
    """One poll of a snapshot until AWS reports it completed (or in error); the delay before the
    next poll while it is pending. Runs in the snapshot's own account."""
    op = Operation.objects.get(pk=operation_id)
    snapshot_id = op.params["snapshot_id"]
    role = account_role_for(op.params.get("account_id", ""))
    try:
        found = aws.call(op.region, "ec2", "describe_snapshots", role=role, SnapshotIds=[snapshot_id])["Snapshots"]
    except aws.AwsNotFound:
        found = []
    if not found:
        operation_fail(op, error=f"snapshot {snapshot_id} no longer exists in {op.region}")
        return None
    state, progress = found[0].get("State", ""), str(found[0].get("Progress") or "").rstrip("%")
    if state == "completed":
        operation_succeed(op, message=f"snapshot {snapshot_id} completed", result={"snapshot_id": snapshot_id})
        return None
    if state == "error":
        operation_fail(op, error=found[0].get("StateMessage") or f"AWS reported snapshot {snapshot_id} in error")
        return None
    operation_mark_running(op, progress=min(99, int(progress)) if progress.isdigit() else None,
                           message=f"snapshot {snapshot_id}: {state} {found[0].get('Progress') or ''}".strip())
    return poll_seconds()


def snapshot_restore(*, user, region: str, snapshot_id: str, name: str, description: str = "",
                     architecture: str = "x86_64") -> dict:
    """RegisterImage from the caller's snapshot → a new image, recorded as the caller's draft entry."""
    if architecture not in AMI.Architecture.values:
        raise InvalidInput(f"unknown architecture '{architecture}'", errors={"architecture": ["x86_64 or arm64."]})
    name = text_clean("name", name, max_length=NAME_MAX)
    if not name:
        raise InvalidInput("name is required", errors={"name": ["This field is required."]})
    description = text_clean("description", description, max_length=DESCRIPTION_MAX)
    # The image is registered in the snapshot's own account, with that account's credentials.
    snapshot, role = _snapshot_get(user=user, region=region, snapshot_id=snapshot_id)
    image_name = aws_image_name(name)
    try:
        image_id = _aws(region, "register_image", role=role, Name=image_name, Description=(description or name)[:255],
                        Architecture=architecture, RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                        EnaSupport=True, BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {
                            "SnapshotId": snapshot_id, "DeleteOnTermination": True}}])["ImageId"]
    except aws.AwsPermanentError as exc:
        raise InvalidInput(f"RegisterImage failed in {region}: {exc.message}",
                           errors={"snapshot_id": [exc.message]}) from exc
    try:
        _aws(region, "create_tags", role=role, Resources=[image_id], Tags=tag_list({OWNER_TAG: str(user.pk), "Name": image_name}))
    except aws.AwsError:
        pass  # the tags are a convenience; the entry below is the record
    with transaction.atomic():
        ami = AMI.objects.create(ami_id=image_id, source_region=region, name=name[:200],
                                 description=description or f"Restored from {snapshot_id}", architecture=architecture,
                                 creator=user, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE,
                                 image_name=image_name, size_gb=snapshot.get("VolumeSize"),
                                 owner_account_id=snapshot.get("OwnerId", ""),
                                 root_snapshot_ids=[snapshot_id])
        AMIRegion.objects.create(ami=ami, region=region, image_id=image_id, state=AMIRegion.State.AVAILABLE,
                                 is_source=True)
        audit_record(actor=user, action="snapshot.restore", target=ami,
                     after={"ami_id": image_id, "region": region, "snapshot_id": snapshot_id})
    ami_changed_notify(ami_id=ami.pk)
    return {"ami_id": image_id, "registry_id": str(ami.pk), "name": name, "snapshot_id": snapshot_id,
            "architecture": architecture, "region": region, "estimated_completion_minutes": RESTORE_MINUTES,
            "restore_initiated_at": timezone.now().isoformat()}


def snapshot_delete(*, user, region: str, snapshot_id: str) -> dict:
    """DeleteSnapshot of the caller's snapshot; 409 while a registered image is built on it."""
    snapshot, role = _snapshot_get(user=user, region=region, snapshot_id=snapshot_id)
    # Checked here rather than with the block-device-mapping.snapshot-id filter, which the emulator lacks.
    users = [i for i in _aws(region, "describe_images", role=role, Owners=["self"]).get("Images", [])
             if snapshot_id in {(m.get("Ebs") or {}).get("SnapshotId") for m in i.get("BlockDeviceMappings") or []}]
    ids = [i["ImageId"] for i in users]
    # The registry's own record too (an emulator may not report the mapping of a registered image).
    ids += [image for image in AMIRegion.objects.filter(ami__root_snapshot_ids__contains=[snapshot_id], region=region)
            .exclude(state=AMIRegion.State.DEREGISTERED).values_list("image_id", flat=True) if image not in ids]
    if ids:
        users = [{"ImageId": i} for i in ids]
        ids = ", ".join(ids)
        raise Conflict(f"snapshot {snapshot_id} backs {ids}: delete the image first", code="in_use",
                       extra={"reasons": [f"image {i['ImageId']} is built on it" for i in users]})
    try:
        _aws(region, "delete_snapshot", role=role, SnapshotId=snapshot_id)
    except aws.AwsPermanentError as exc:
        raise Conflict(f"AWS refused to delete {snapshot_id}: {exc.message}", code="in_use") from exc
    with transaction.atomic():
        audit_record(actor=user, action="snapshot.delete", target_type="ec2.snapshot", target_id=snapshot_id,
                     target_repr=snapshot_id, before={"region": region, "volume_size": snapshot.get("VolumeSize")})
    size = int(snapshot.get("VolumeSize") or 0)
    return {"snapshot_id": snapshot_id, "volume_size": size,
            "storage_savings_monthly": round(size * SNAPSHOT_GB_MONTH, 4),
            "deletion_completed_at": timezone.now().isoformat()}
