"""Copy an entry's image to more regions: the request (``POST /amis/{ami}/copy``, the AMI page, the
wizard, the create job's ``multi_region``) and the worker's steps (CopyImage, wait for ``available``).

AWS limits concurrent CopyImage operations per destination region, so a copy holds one of
``REGISTRY_COPY_CONCURRENCY_PER_REGION`` slots (a Redis sorted set scored by acquisition time: a
slot leaked by a crash frees itself after the copy timeout) from the CopyImage call until the copy
is available or failed. The ``(ami, region)`` row is the claim, so a region is never copied twice;
CopyImage's deterministic ``ClientToken`` and the ``RegistryId`` tag make retries idempotent.
"""
from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from amis.aws_public import ami_public_sync
from amis.aws_retire import images_deprecate
from amis.metadata import regions_clean
from amis.models import AMI, AMIRegion, Operation
from amis.ownership import ami_role
from amis.operations import (TERMINAL, OpKind, operation_enqueue_on_commit, operation_fail, operation_mark_running,
                             operation_progress, operation_save, operation_succeed, operation_timed_out,
                             poll_seconds, setting_seconds)
from amis.selectors import ami_require_manage
from amis.signals import ami_changed_notify, ami_copy_available
from registry import aws
from registry.audit import audit_record
from registry.aws_images import (IMAGE_DEAD_STATES, aws_image_name, image_find_by_tag, image_state_error, tag_list,
                                 tags_of)
from registry.errors import Conflict, InvalidInput


def copy_timeout_seconds() -> int:
    return setting_seconds("REGISTRY_COPY_IMAGE_TIMEOUT", 180 * 60)


# --- per-region copy slots (Redis) ------------------------------------------------------------------

_ACQUIRE_LUA = """
local key, now, ttl, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - ttl)
if redis.call('ZSCORE', key, member) then return 1 end
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('EXPIRE', key, ttl)
  return 1
end
return 0
"""


def _redis():
    url = getattr(settings, "REDIS_URL", "")
    return redis.Redis.from_url(url) if url else None


def _slot_key(region: str) -> str:
    return f"registry:copy-slots:{region}"


def copy_slot_acquire(*, region: str, holder: str) -> bool:
    """Take one of ``REGISTRY_COPY_CONCURRENCY_PER_REGION`` slots for ``region`` (True if held).

    Without Redis (the single-process demo) there is nothing to coordinate and the slot is granted.
    """
    client = _redis()
    if client is None:
        return True
    limit = int(getattr(settings, "REGISTRY_COPY_CONCURRENCY_PER_REGION", 20))
    return bool(client.eval(_ACQUIRE_LUA, 1, _slot_key(region), time.time(), copy_timeout_seconds(), limit, holder))


def copy_slot_release(*, region: str, holder: str) -> None:
    client = _redis()
    if client is not None:
        client.zrem(_slot_key(region), holder)


# --- the request -------------------------------------------------------------------------------------

def copy_claim(*, ami: AMI, regions: list[str], user, parent: Operation | None = None) -> list[Operation]:
    """Claim (ami, region) rows for new copies; the caller holds the AMI row lock.

    A region with a pending or available copy is skipped — the unique (ami, region) row is the
    claim, so a region is never copied twice. A failed or deregistered row is claimed again.
    """
    ops = []
    for region in regions:
        if region == ami.source_region:
            continue
        row = AMIRegion.objects.select_for_update().filter(ami=ami, region=region).first()
        if row is not None and row.state in (AMIRegion.State.PENDING, AMIRegion.State.AVAILABLE):
            continue
        generation = Operation.objects.filter(ami=ami, kind=OpKind.COPY_IMAGE, region=region).count()
        op = Operation.objects.create(
            kind=OpKind.COPY_IMAGE, ami=ami, region=region, parent=parent, created_by=user,
            source_image_id=ami.ami_id, source_region=ami.source_region, message="queued: waiting for a worker",
            # Deterministic per (registry id, region, claim): a retried CopyImage returns the same copy.
            params={"client_token": f"{ami.pk.hex}-{region}" + (f"-{generation}" if generation else "")})
        if row is None:
            AMIRegion.objects.create(ami=ami, region=region, state=AMIRegion.State.PENDING,
                                     copied_from=ami.source_region, operation=op)
        else:
            row.state, row.image_id, row.error, row.operation = AMIRegion.State.PENDING, "", "", op
            row.copied_from = ami.source_region
            row.save(update_fields=["state", "image_id", "error", "operation", "copied_from", "updated_at"])
        ops.append(op)
    return ops


def ami_copy_locked(*, ami: AMI, user, regions: list[str]) -> tuple[list[Operation], list[str]]:
    """``ami_copy_request``'s work inside the caller's transaction (the wizard's one transaction).

    ``regions`` must be clean (``amis.metadata.regions_clean``) and ``user`` allowed.
    """
    ami = AMI.objects.select_for_update().get(pk=ami.pk)
    if ami.status == AMI.Status.REVOKED:
        raise Conflict("a revoked AMI cannot be copied", code="invalid_state")
    source = AMIRegion.objects.filter(ami=ami, region=ami.source_region).first()
    if source is not None and source.state != AMIRegion.State.AVAILABLE:
        raise Conflict(f"the source image is not available yet (state: {source.state})", code="invalid_state")
    ops = copy_claim(ami=ami, regions=regions, user=user)
    skipped = [r for r in regions if r not in {o.region for o in ops}]
    audit_record(actor=user, action="ami.copy_requested", target=ami,
                 after={"regions": [o.region for o in ops], "skipped": skipped})
    for op in ops:
        operation_enqueue_on_commit(op)
    return ops, skipped


def ami_copy_request(*, ami: AMI, user, regions: list[str]) -> tuple[list[Operation], list[str]]:
    """Copy an entry's source image to ``regions`` (``POST /amis/{ami}/copy``; owner or moderator).

    Returns (new copy operations, skipped regions). Regions that already have a pending or
    available copy, and the source region, are skipped. 409 when the entry is revoked or its
    source image is not available yet. Audited ``ami.copy_requested``; tasks after commit.
    """
    ami_require_manage(user=user, ami=ami, message="only the owner or a moderator may copy this AMI")
    regions = regions_clean(regions, field="regions")
    if not regions:
        raise InvalidInput("regions must name at least one region", errors={"regions": ["This list is empty."]})
    with transaction.atomic():
        return ami_copy_locked(ami=ami, user=user, regions=regions)


# --- the worker's steps ------------------------------------------------------------------------------

def copy_image_step(*, operation_id) -> int | None:
    """One round of a copy job. Returns a countdown to run again, or None when finished.

    Unless the region row already names an image: takes a per-region slot (waiting for one makes
    no AWS call), then starts the copy unless an image tagged with this registry id exists in the
    destination already (an earlier attempt's); then waits for
    ``available`` (→ ``ami_copy_available``: sharing grants it there) or failure /
    ``REGISTRY_COPY_IMAGE_TIMEOUT``.
    """
    op = Operation.objects.select_related("ami").filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL:
        return None
    row = AMIRegion.objects.filter(ami_id=op.ami_id, region=op.region).first()
    if op.ami is None or row is None or row.operation_id != op.pk:
        operation_fail(op, error="superseded: the region row is no longer claimed by this operation")
        return None
    ami = op.ami
    holder = str(op.pk)
    operation_mark_running(op, progress=5)
    try:
        role = ami_role(ami)  # copies are made in (and owned by) the entry's own account
    except aws.AwsPermanentError as exc:
        return _copy_failed(op, row, exc.message)
    if not row.image_id:
        # The slot before any AWS call: hundreds of queued copies each poll while they wait, and
        # waiting must cost AWS nothing (DescribeImages shares the account's API rate with
        # everything else). A copy an earlier attempt already started is then counted too.
        if not copy_slot_acquire(region=op.region, holder=holder):
            operation_progress(op, progress=5, message=f"waiting for a free copy slot in {op.region}")
            return poll_seconds()
        try:
            existing = image_find_by_tag(op.region, "RegistryId", str(ami.pk), role=role)
        except aws.AwsPermanentError:
            copy_slot_release(region=op.region, holder=holder)
            raise
        if existing is not None:
            image_id = existing["ImageId"]
        else:
            try:
                image_id = _copy_start(op, ami, role)
            except aws.AwsTransientError:
                raise  # the slot stays held: the retry uses it
            except aws.AwsError as exc:
                copy_slot_release(region=op.region, holder=holder)
                return _copy_failed(op, row, f"CopyImage to {op.region} failed: {exc.message}")
        with transaction.atomic():
            AMIRegion.objects.filter(pk=row.pk).update(image_id=image_id, updated_at=timezone.now())
            operation_save(op, image_id=image_id, progress=max(op.progress, 20), message=f"copying as {image_id}")
        row.image_id = image_id

    image = aws.describe_image(op.region, row.image_id, role=role)
    if image is None or image.get("State") in IMAGE_DEAD_STATES:
        copy_slot_release(region=op.region, holder=holder)
        error = (f"copy {row.image_id} no longer exists in {op.region}" if image is None
                 else image_state_error(image, op.region))
        return _copy_failed(op, row, error)
    if image.get("State") != "available":
        limit = copy_timeout_seconds()
        if operation_timed_out(op, limit):
            copy_slot_release(region=op.region, holder=holder)
            return _copy_failed(op, row, f"timed out after {limit // 60} minutes waiting for "
                                         f"copy {row.image_id} in {op.region} (last state: {image.get('State')})")
        operation_progress(op, progress=50, message=f"waiting for copy {row.image_id} to become available")
        return poll_seconds()

    copy_slot_release(region=op.region, holder=holder)
    with transaction.atomic():
        AMIRegion.objects.filter(pk=row.pk).update(state=AMIRegion.State.AVAILABLE, error="",
                                                   updated_at=timezone.now())
        operation_succeed(op, message=f"copy {row.image_id} available in {op.region}")
        audit_record(actor=op.created_by, action="ami.copy_completed", target=ami,
                     after={"region": op.region, "ami_id": row.image_id, "operation": str(op.pk)})
    # A copy made later gets the entry's AWS state too: public flag here, grants by sharing.
    ami.refresh_from_db()
    if ami.status != AMI.Status.REVOKED:
        ami_public_sync(ami=ami)
    ami_copy_available.send(sender=AMI, ami_id=ami.pk, region=op.region)
    ami_changed_notify(ami_id=ami.pk)  # a new available region: cached resolutions may be stale
    if ami.status in (AMI.Status.DEPRECATED, AMI.Status.REVOKED):
        images_deprecate([(op.region, row.image_id)], when=ami.deprecated_at or timezone.now(), role=role)
    return None


def _copy_start(op: Operation, ami: AMI, role: aws.AccountRole | None) -> str:
    source = aws.describe_image(ami.source_region, ami.ami_id, role=role)
    if source is None:
        raise aws.AwsNotFound(f"source image {ami.ami_id} not found in {ami.source_region}",
                              code="InvalidAMIID.NotFound")
    tags = {**tags_of(source), "RegistryId": str(ami.pk), "CloudWorkstation": "true",
            "CopiedFrom": f"{ami.source_region}/{ami.ami_id}"}
    tags = {k: v for k, v in tags.items() if not k.lower().startswith("aws:")}
    resp = aws.call(op.region, "ec2", "copy_image", role=role, SourceImageId=ami.ami_id, SourceRegion=ami.source_region,
                    Name=source.get("Name") or ami.image_name or aws_image_name(ami.name),
                    Description=(source.get("Description") or ami.description or "")[:255],
                    ClientToken=op.params["client_token"], CopyImageTags=True,
                    TagSpecifications=[{"ResourceType": "image", "Tags": tag_list(tags)}])
    image_id = resp["ImageId"]
    # NOTE: CreateTags as well: moto ignores CopyImage's tag options, and the RegistryId tag is
    # what lets a crashed-and-redelivered copy find its image instead of copying again.
    aws.call(op.region, "ec2", "create_tags", role=role, Resources=[image_id], Tags=tag_list(tags))
    return image_id


def _copy_failed(op: Operation, row: AMIRegion, error: str) -> None:
    with transaction.atomic():
        AMIRegion.objects.filter(pk=row.pk).update(state=AMIRegion.State.FAILED, error=error[:4000],
                                                   updated_at=timezone.now())
        operation_fail(op, error=error)
    return None
