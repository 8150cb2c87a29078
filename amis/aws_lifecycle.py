"""The AWS side of the catalogue: create images, copy them across regions, push launch permissions,
deprecate / revoke / deregister in AWS, validate regional copies — each behind an ``Operation`` row.

Shape of every long-running job (ARCHITECTURE.md, *Asynchronous work*):

* a ``*_request`` service validates input, writes the ``Operation`` (and whatever claim rows it
  needs) inside one transaction, audits, and enqueues the Celery task **after commit**;
* a ``*_step`` service does one round of AWS work for that operation and returns either ``None``
  (finished: the operation is ``succeeded`` or ``failed``) or a countdown in seconds after which
  the task must run again (waiting for ``available``). Tasks re-schedule themselves with that
  countdown — no worker ever sleeps waiting for AWS;
* steps are idempotent: they read AWS state before acting (tags, current launch permissions,
  existing copies), so a redelivered message (``acks_late``) or a duplicated task changes nothing.
  AWS calls are never made inside a database transaction (no row lock held across network I/O).

Only one task chain drives an operation at a time: every enqueue writes a fresh Celery task id to
``Operation.celery_task_id`` and a task whose id is not the current one exits at once
(``operation_is_current``). A redelivered message keeps its id, so it proceeds.

Transient AWS errors (throttling, 5xx) propagate as ``AwsTransientError``: the task retries them
with exponential backoff and jitter. Permanent errors end the operation as ``failed`` with AWS's
message.
"""
from __future__ import annotations

import logging
import os
import re
import time
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from amis.models import AMI, AMIRegion, Operation
from registry import aws
from registry.audit import audit_record
from registry.errors import ApplicationError, Conflict, Forbidden, InvalidInput
from registry.permissions import is_moderator

logger = logging.getLogger(__name__)

OpKind = Operation.Kind
OpState = Operation.State
TERMINAL = (OpState.SUCCEEDED, OpState.FAILED)

# Image states DescribeImages reports that can never become available.
IMAGE_DEAD_STATES = {"failed", "error", "invalid", "deregistered", "disabled"}
AWS_NAME_RE = re.compile(r"[^a-zA-Z0-9()\[\] ./\-'@_]")
MAX_COPY_REGIONS = 20
MAX_TAGS = 40


# ----------------------------------------------------------------------------------------------
# Settings (read on each call so tests can override them)
# ----------------------------------------------------------------------------------------------
def _setting(name: str, default):
    return getattr(settings, name, default)


def _seconds(value) -> int:
    return int(value.total_seconds()) if isinstance(value, timedelta) else int(value)


def poll_seconds() -> int:
    return _seconds(_setting("REGISTRY_POLL_SECONDS", 15))


def create_timeout_seconds() -> int:
    return _seconds(_setting("REGISTRY_CREATE_IMAGE_TIMEOUT", timedelta(minutes=90)))


def copy_timeout_seconds() -> int:
    return _seconds(_setting("REGISTRY_COPY_IMAGE_TIMEOUT", timedelta(minutes=180)))


# ----------------------------------------------------------------------------------------------
# Operation state / progress helpers
# ----------------------------------------------------------------------------------------------
def _op_save(op: Operation, **fields) -> Operation:
    for key, value in fields.items():
        setattr(op, key, value)
    op.save(update_fields=[*fields.keys(), "updated_at"])
    return op


def operation_mark_running(op: Operation, *, progress: int | None = None, message: str | None = None) -> Operation:
    """Record that a step is working on ``op`` (first start time, attempt count, progress)."""
    fields: dict = {"state": OpState.RUNNING, "attempts": op.attempts + 1}
    if op.started_at is None:
        fields["started_at"] = timezone.now()
    if progress is not None:
        fields["progress"] = max(op.progress, min(progress, 99))
    if message is not None:
        fields["message"] = message
    return _op_save(op, **fields)


def operation_progress(op: Operation, *, progress: int, message: str = "") -> Operation:
    """Move progress forward (never backwards, never to 100 before the operation finished)."""
    return _op_save(op, progress=max(op.progress, min(progress, 99)), message=message or op.message)


def operation_succeed(op: Operation, *, message: str = "", result: dict | None = None) -> Operation:
    fields = {"state": OpState.SUCCEEDED, "progress": 100, "finished_at": timezone.now(), "error": ""}
    if message:
        fields["message"] = message
    if result is not None:
        fields["result"] = {**(op.result or {}), **result}
    return _op_save(op, **fields)


def operation_fail(op: Operation, *, error: str, result: dict | None = None) -> Operation:
    """End ``op`` as failed with a human-readable error (AWS's message where there is one)."""
    fields = {"state": OpState.FAILED, "finished_at": timezone.now(), "error": error[:4000], "message": error[:500]}
    if result is not None:
        fields["result"] = {**(op.result or {}), **result}
    logger.warning("operation %s (%s) failed: %s", op.pk, op.kind, error)
    return _op_save(op, **fields)


def operation_is_current(*, operation_id, task_id: str | None, redelivered: bool = False) -> bool:
    """False when another (newer) task chain owns the operation, or when it has finished.

    A redelivered message (its worker died before acknowledging it) always runs: the worker may
    have died after writing the next task id but before sending that task, so the chain would
    otherwise end with it. Steps are idempotent, and the step re-chains under a new id, so at
    most one chain survives.
    """
    op = Operation.objects.filter(pk=operation_id).only("state", "celery_task_id").first()
    if op is None or op.state in TERMINAL:
        return False
    return redelivered or not op.celery_task_id or not task_id or op.celery_task_id == task_id


def _task_for(kind: str):
    from amis import tasks  # local: tasks import this module

    return {
        OpKind.CREATE_IMAGE: tasks.create_image_task,
        OpKind.COPY_IMAGE: tasks.copy_image_task,
        OpKind.VALIDATE: tasks.validate_task,
        OpKind.DEPRECATE: tasks.deprecate_in_aws_task,
        OpKind.REVOKE: tasks.revoke_in_aws_task,
        OpKind.DEREGISTER: tasks.deregister_in_aws_task,
    }[kind]


def _eager() -> bool:
    """True when tasks run in-process (no broker): asked of the Celery app, which is the truth."""
    from registry.celery import app

    return bool(app.conf.task_always_eager)


def operation_enqueue(*, operation_id, kind: str, countdown: int | None = None) -> None:
    """Send the operation's task now (or after ``countdown`` s) under a fresh task id.

    The id is written to the row first, so any older chain for the same operation stops at its
    next run. Without a broker (eager mode) a countdown cannot be honoured without blocking the
    web request: the due time is recorded instead and ``operation_poke`` (called by the status
    endpoints) runs the next step when it is due.
    """
    task_id = str(uuid.uuid4())
    if countdown and _eager():
        due = (timezone.now() + timedelta(seconds=countdown)).isoformat()
        Operation.objects.filter(pk=operation_id).update(celery_task_id=task_id, updated_at=timezone.now(),
                                                         result=_json_set(operation_id, "next_poll_at", due))
        return
    Operation.objects.filter(pk=operation_id).update(celery_task_id=task_id, updated_at=timezone.now())
    _task_for(kind).apply_async(args=[str(operation_id)], task_id=task_id, countdown=countdown or None)


def _json_set(operation_id, key, value) -> dict:
    result = dict(Operation.objects.filter(pk=operation_id).values_list("result", flat=True).first() or {})
    result[key] = value
    return result


def operation_defer_transient(*, operation_id, error: aws.AwsError) -> int:
    """Eager mode: note a throttling/5xx error on the operation; returns the delay before retrying."""
    op = Operation.objects.get(pk=operation_id)
    delay = min(300, 5 * 2 ** min(op.attempts, 6))
    _op_save(op, message=f"AWS asked us to slow down ({error.code or 'transient error'}): retrying in {delay} s")
    return delay


def operation_enqueue_on_commit(op: Operation) -> None:
    transaction.on_commit(lambda: operation_enqueue(operation_id=op.pk, kind=op.kind))


def operation_poke(op: Operation) -> Operation:
    """Eager mode only: run the next step of a waiting operation (and its children) if it is due."""
    if not _eager():
        return op
    op.refresh_from_db()
    family = [op, *Operation.objects.filter(parent=op).exclude(state__in=TERMINAL)]
    for member in family:
        due = (member.result or {}).get("next_poll_at")
        if member.state in TERMINAL or not due:
            continue
        if datetime.fromisoformat(due) <= timezone.now():
            operation_enqueue(operation_id=member.pk, kind=member.kind)
    op.refresh_from_db()
    return op


# ----------------------------------------------------------------------------------------------
# Per-region copy semaphore (Redis)
# ----------------------------------------------------------------------------------------------
# AWS limits concurrent CopyImage operations per destination region. A copy holds a slot from the
# CopyImage call until the copy is available/failed; holders are members of a Redis sorted set
# scored by acquisition time, so a slot leaked by a crash frees itself after the copy timeout.
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
    url = _setting("REDIS_URL", "")
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url)


def _slot_key(region: str) -> str:
    return f"registry:copy-slots:{region}"


def copy_slot_acquire(*, region: str, holder: str) -> bool:
    """Take one of ``REGISTRY_COPY_CONCURRENCY_PER_REGION`` slots for ``region`` (True if held).

    Without Redis (the single-process demo) there is nothing to coordinate and the slot is granted.
    """
    client = _redis()
    if client is None:
        return True
    limit = int(_setting("REGISTRY_COPY_CONCURRENCY_PER_REGION", 20))
    return bool(client.eval(_ACQUIRE_LUA, 1, _slot_key(region), time.time(), copy_timeout_seconds(), limit, holder))


def copy_slot_release(*, region: str, holder: str) -> None:
    client = _redis()
    if client is not None:
        client.zrem(_slot_key(region), holder)


# ----------------------------------------------------------------------------------------------
# Small AWS helpers
# ----------------------------------------------------------------------------------------------
def _not_implemented(exc: aws.AwsError) -> bool:
    """moto (the emulator) answers some operations with NotImplemented; real AWS never does."""
    text = f"{exc.code} {exc.message}".lower()
    if exc.code == "ResponseParserError" and os.environ.get("AWS_ENDPOINT_URL"):
        return True  # moto_server answers an unimplemented action with an HTML 500 page
    return "notimplemented" in text.replace(" ", "") or "not been implemented" in text or "not yet implemented" in text


def _call(region: str, op: str, **kwargs):
    """``aws.call`` for EC2, also translating the emulator's bare NotImplementedError."""
    try:
        return aws.call(region, "ec2", op, **kwargs)
    except NotImplementedError as exc:  # in-process moto raises this instead of answering
        raise aws.AwsPermanentError(str(exc) or f"{op} is not implemented", code="NotImplemented",
                                    operation=op, region=region) from exc


def _tag_list(tags: dict) -> list[dict]:
    return [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]


def _tags_dict(image: dict) -> dict:
    return {t["Key"]: t["Value"] for t in image.get("Tags") or []}


def _snapshot_ids(image: dict) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings") or []
            if m.get("Ebs", {}).get("SnapshotId")]


def _size_gb(image: dict) -> int | None:
    sizes = [m["Ebs"].get("VolumeSize") or 0 for m in image.get("BlockDeviceMappings") or [] if m.get("Ebs")]
    return sum(sizes) or None


def _find_image_by_tag(region: str, key: str, value: str) -> dict | None:
    images = _call(region, "describe_images", Owners=["self"],
                   Filters=[{"Name": f"tag:{key}", "Values": [value]}]).get("Images", [])
    live = [i for i in images if i.get("State") not in IMAGE_DEAD_STATES]
    return live[0] if live else None


def _image_state_error(image: dict, region: str) -> str:
    reason = (image.get("StateReason") or {}).get("Message") or "no reason given by AWS"
    return f"image {image['ImageId']} in {region} is '{image.get('State')}': {reason}"


def _timed_out(op: Operation, limit: int) -> bool:
    start = op.started_at or op.created_at
    return (timezone.now() - start).total_seconds() > limit


def _aws_image_name(name: str) -> str:
    """AWS image names: 3–128 characters from a restricted set."""
    cleaned = AWS_NAME_RE.sub("-", name).strip()[:128]
    return cleaned if len(cleaned) >= 3 else f"cws-{cleaned or 'image'}"


# ----------------------------------------------------------------------------------------------
# Create from instance
# ----------------------------------------------------------------------------------------------
def _validate_regions(regions, *, field: str) -> list[str]:
    if not isinstance(regions, (list, tuple)):
        raise InvalidInput(f"{field} must be a list of region names", errors={field: ["Must be a list."]})
    bad = [r for r in regions if not aws.is_known_region(r)]
    if bad:
        raise InvalidInput(f"unknown AWS region(s): {', '.join(map(str, bad))}",
                           errors={field: [f"Unknown region '{r}'." for r in bad]})
    unique = list(dict.fromkeys(regions))
    if len(unique) > MAX_COPY_REGIONS:
        raise InvalidInput(f"at most {MAX_COPY_REGIONS} regions at once", errors={field: ["Too many regions."]})
    return unique


def _validate_tags(tags) -> dict:
    if tags in (None, ""):
        return {}
    if not isinstance(tags, dict):
        raise InvalidInput("tags must be an object of string keys and values", errors={"tags": ["Must be an object."]})
    errors = []
    if len(tags) > MAX_TAGS:
        errors.append(f"At most {MAX_TAGS} tags.")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            errors.append(f"Invalid tag key '{key}'.")
        if not isinstance(value, (str, int, float, bool)) or len(str(value)) > 256:
            errors.append(f"Invalid value for tag '{key}'.")
    if errors:
        raise InvalidInput("invalid tags", errors={"tags": errors})
    return {k: str(v) for k, v in tags.items()}


def _describe_instance(region: str, instance_id: str) -> dict:
    try:
        reservations = _call(region, "describe_instances", InstanceIds=[instance_id]).get("Reservations", [])
    except aws.AwsNotFound:
        reservations = []
    except aws.AwsTransientError as exc:
        raise ApplicationError(f"AWS did not answer, try again: {exc.message}", code="aws_unavailable",
                               status_code=503) from exc
    except aws.AwsPermanentError as exc:
        raise InvalidInput(f"cannot read instance {instance_id}: {exc.message}",
                           errors={"instance_id": [exc.message]}) from exc
    instances = [i for r in reservations for i in r.get("Instances", [])]
    if not instances:
        raise InvalidInput(f"instance {instance_id} not found in region {region}",
                           errors={"instance_id": [f"Instance not found in {region}."]})
    return instances[0]


def ami_create_request(*, user, instance_id: str, template_name: str, name: str = "", description: str = "",
                       version: str = "", tags: dict | None = None, public: bool = False,
                       share_with: list[str] | None = None, community: str = "",
                       multi_region: list[str] | None = None, no_reboot: bool = True,
                       region: str = "") -> Operation:
    """Start creating a community AMI from a running instance (``POST /ami/create``).

    Checks the instance in EC2 (must exist and be ``running``) and the template, then writes an
    ``Operation(kind=create_image)`` carrying the whole request and enqueues the task after commit.
    The registry entry (``draft``) is created by the task as soon as CreateImage has returned the
    image id — the ``ami_registry`` row needs a real, unique ``ami_id`` — with the uuid reserved
    here (``params.registry_id``), which is also the image's ``RegistryId`` tag.
    Raises InvalidInput (400) for a bad/unknown/not-running instance, unknown template or region.
    """
    from templates.selectors import template_get

    region = region or settings.AWS_DEFAULT_REGION
    if not aws.is_known_region(region):
        raise InvalidInput(f"unknown AWS region '{region}'", errors={"region": ["Unknown region."]})
    if not aws.is_instance_id(instance_id or ""):
        raise InvalidInput(f"invalid instance id '{instance_id}'",
                           errors={"instance_id": ["Must look like i-0123456789abcdef0."]})
    template = template_get(template_name or "")
    if template is None:
        raise InvalidInput(f"unknown template '{template_name}'", errors={"template_name": ["Unknown template."]})
    targets = [r for r in _validate_regions(multi_region or [], field="multi_region") if r != region]
    tags = _validate_tags(tags)
    share_with = list(dict.fromkeys(share_with or []))
    bad_accounts = [a for a in share_with if not aws.is_account_id(a)]
    if bad_accounts:
        raise InvalidInput("share_with must list 12-digit AWS account ids",
                           errors={"share_with": [f"Invalid account id '{a}'." for a in bad_accounts]})
    community_obj = None
    if community:
        community_obj = apps.get_model("registry", "Community").objects.filter(slug=community).first()
        if community_obj is None:
            raise InvalidInput(f"unknown community '{community}'", errors={"community": ["Unknown community."]})
    if len(name or "") > 200:
        raise InvalidInput("name is too long", errors={"name": ["At most 200 characters."]})

    instance = _describe_instance(region, instance_id)
    state = (instance.get("State") or {}).get("Name", "unknown")
    if state != "running":
        raise InvalidInput(f"instance must be running to create AMI, current state: {state}",
                           errors={"instance_id": [f"instance must be running to create AMI, current state: {state}"]})

    unix = int(time.time())
    image_name = _aws_image_name(name or f"cws-{template.slug}-{unix}")
    root_gb = _instance_root_size(region, instance)
    params = {
        "registry_id": str(uuid.uuid4()),
        "template": template.slug,
        "template_name": template.name,
        "name": name or image_name,
        "image_name": image_name,
        "description": description or f"CloudWorkstation {template.name} image",
        "version": version or "",
        "tags": tags,
        "public": bool(public),
        "share_with": share_with,
        "community": community_obj.slug if community_obj else "",
        "multi_region": targets,
        "no_reboot": bool(no_reboot),
        "architecture": _instance_architecture(region, instance),
        "root_size_gb": root_gb,
    }
    with transaction.atomic():
        op = Operation.objects.create(kind=OpKind.CREATE_IMAGE, region=region, instance_id=instance_id,
                                      params=params, created_by=user, message="queued: waiting for a worker")
        audit_record(actor=user, action="ami.create_requested", target=op,
                     after={"instance_id": instance_id, "region": region, "template": template.slug,
                            "multi_region": targets})
        operation_enqueue_on_commit(op)
    return op


def _instance_architecture(region: str, instance: dict) -> str:
    """The instance's architecture; from its image when EC2 (or the emulator) leaves it out."""
    if instance.get("Architecture"):
        return instance["Architecture"]
    try:
        image = aws.describe_image(region, instance.get("ImageId", "")) if instance.get("ImageId") else None
    except aws.AwsError:
        image = None
    return (image or {}).get("Architecture") or "x86_64"


def _instance_root_size(region: str, instance: dict) -> int | None:
    """Size of the instance's root volume (for the cost estimate); None when unknown."""
    root = instance.get("RootDeviceName")
    vol_ids = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings") or []
               if m.get("Ebs", {}).get("VolumeId") and (not root or m.get("DeviceName") == root)]
    if not vol_ids:
        return None
    try:
        vols = _call(region, "describe_volumes", VolumeIds=vol_ids[:1]).get("Volumes", [])
    except aws.AwsError:
        return None
    return vols[0].get("Size") if vols else None


def create_estimates(op: Operation) -> dict:
    """Rough costs and duration for the 202 answer (snapshot storage $0.05/GB-month per region,
    cross-region copy transfer $0.02/GB). Documented in docs/aws-lifecycle.md."""
    params = op.params or {}
    size = params.get("root_size_gb") or 8
    regions = 1 + len(params.get("multi_region") or [])
    return {
        "estimated_completion_minutes": 10 + 15 * (regions - 1),
        "storage_cost": round(size * 0.05 * regions, 2),
        "creation_cost": round(size * 0.02 * (regions - 1), 2),
    }


def create_image_step(*, operation_id) -> int | None:
    """One round of the create job. Returns a countdown to run again, or None when finished.

    1. No image yet: look for one tagged ``RegistryId=<registry id>`` (a previous attempt that
       crashed after CreateImage), else call CreateImage; then create the draft registry entry.
    2. Image pending: wait (countdown) until ``REGISTRY_CREATE_IMAGE_TIMEOUT`` → failed.
    3. Image available: record AWS's facts, apply grants, start the copies to ``multi_region``.
    """
    op = Operation.objects.filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL:
        return None
    params = op.params
    operation_mark_running(op, progress=5)
    if not op.image_id:
        try:
            image_id = _create_or_find_image(op)
        except aws.AwsTransientError:
            raise
        except aws.AwsError as exc:
            operation_fail(op, error=f"CreateImage failed in {op.region}: {exc.message}")
            return None
        _register_created_image(op, image_id)
        op.refresh_from_db()

    image = aws.describe_image(op.region, op.image_id)
    if image is None:
        return _create_failed(op, f"image {op.image_id} no longer exists in {op.region}")
    state = image.get("State")
    if state in IMAGE_DEAD_STATES:
        return _create_failed(op, _image_state_error(image, op.region))
    if state != "available":
        if _timed_out(op, create_timeout_seconds()):
            return _create_failed(op, f"timed out after {create_timeout_seconds() // 60} minutes waiting for "
                                      f"image {op.image_id} to become available in {op.region} (last state: {state})")
        operation_progress(op, progress=50, message=f"waiting for image {op.image_id} to become available")
        return poll_seconds()

    _create_finish(op, image, params)
    return None


def _create_or_find_image(op: Operation) -> str:
    params = op.params
    existing = _find_image_by_tag(op.region, "RegistryId", params["registry_id"])
    if existing is not None:
        return existing["ImageId"]
    tags = {**params.get("tags", {}), "CloudWorkstation": "true", "Template": params["template"],
            "Version": params.get("version") or "", "RegistryId": params["registry_id"],
            "Name": params["image_name"]}
    request = dict(InstanceId=op.instance_id, Name=params["image_name"],
                   Description=params.get("description", "")[:255], NoReboot=bool(params.get("no_reboot", True)))
    try:
        resp = _call(op.region, "create_image", **request, TagSpecifications=[
            {"ResourceType": "image", "Tags": _tag_list(tags)},
            {"ResourceType": "snapshot", "Tags": _tag_list(tags)}])
        snapshot_tagging = "create_image"
    except aws.AwsPermanentError as exc:
        if not _not_implemented(exc):
            raise
        # moto lacks snapshot TagSpecifications on CreateImage: tag the image now and the
        # snapshots with CreateTags once they exist (same tags, one call later).
        resp = _call(op.region, "create_image", **request,
                     TagSpecifications=[{"ResourceType": "image", "Tags": _tag_list(tags)}])
        snapshot_tagging = "create_tags"
    Operation.objects.filter(pk=op.pk).update(result={**op.result, "snapshot_tagging": snapshot_tagging,
                                                      "image_tags": tags})
    op.refresh_from_db(fields=["result"])
    return resp["ImageId"]


@transaction.atomic
def _register_created_image(op: Operation, image_id: str) -> AMI:
    """Create the draft registry entry and its source-region row (idempotent)."""
    op = Operation.objects.select_for_update().get(pk=op.pk)
    params = op.params
    ami = AMI.objects.filter(pk=params["registry_id"]).first()
    if ami is None:
        template = apps.get_model("templates", "Template").objects.filter(slug=params["template"]).first()
        visibility = (AMI.Visibility.PUBLIC if params.get("public")
                      else AMI.Visibility.COMMUNITY if params.get("community") else AMI.Visibility.PRIVATE)
        arch = params.get("architecture") if params.get("architecture") in AMI.Architecture.values else "x86_64"
        ami = AMI.objects.create(
            id=params["registry_id"], ami_id=image_id, source_region=op.region, name=params["name"][:200],
            description=params.get("description", ""), template=template, version=params.get("version", ""),
            category=getattr(template, "category", "") or "", architecture=arch, tags=params.get("tags", {}),
            creator=op.created_by, status=AMI.Status.DRAFT, visibility=visibility,
            public_requested=bool(params.get("public")), image_name=params["image_name"])
        AMIRegion.objects.create(ami=ami, region=op.region, image_id=image_id, state=AMIRegion.State.PENDING,
                                 is_source=True, operation=op)
        _create_grants(ami, params, op.created_by)
        audit_record(actor=op.created_by, action="ami.create", target=ami,
                     after={"ami_id": image_id, "region": op.region, "instance_id": op.instance_id,
                            "operation": str(op.pk)})
    _op_save(op, image_id=image_id, ami=ami, progress=max(op.progress, 20),
             message=f"CreateImage accepted: {image_id}")
    return ami


def _create_grants(ami: AMI, params: dict, user) -> None:
    """Grants asked for at create time: accounts (AWS launch permission) and a community."""
    Share = apps.get_model("sharing", "Share")
    for account in params.get("share_with") or []:
        Share.objects.get_or_create(ami=ami, grantee_type="account", grantee=account,
                                    defaults={"created_by": user})
    if params.get("community"):
        community = apps.get_model("registry", "Community").objects.filter(slug=params["community"]).first()
        if community is not None:
            Share.objects.get_or_create(ami=ami, grantee_type="community", grantee=community.slug,
                                        defaults={"community": community, "created_by": user})


def _create_failed(op: Operation, error: str) -> None:
    with transaction.atomic():
        operation_fail(op, error=error)
        AMIRegion.objects.filter(ami_id=op.ami_id, region=op.region).exclude(
            state=AMIRegion.State.AVAILABLE).update(state=AMIRegion.State.FAILED, error=error,
                                                    updated_at=timezone.now())
    return None


def _record_image_facts(ami: AMI, image: dict) -> None:
    arch = image.get("Architecture")
    ami.size_gb = _size_gb(image)
    if arch in AMI.Architecture.values:
        ami.architecture = arch
    ami.root_snapshot_ids = _snapshot_ids(image)
    ami.owner_account_id = image.get("OwnerId", "") or ""
    ami.image_name = image.get("Name", "") or ami.image_name
    ami.image_creation_date = image.get("CreationDate", "") or ""
    ami.ena_support = image.get("EnaSupport")
    ami.boot_mode = image.get("BootMode", "") or ""
    ami.imds_support = image.get("ImdsSupport", "") or ""
    ami.save(update_fields=["size_gb", "architecture", "root_snapshot_ids", "owner_account_id", "image_name",
                            "image_creation_date", "ena_support", "boot_mode", "imds_support", "updated_at"])


def _create_finish(op: Operation, image: dict, params: dict) -> None:
    if (op.result or {}).get("snapshot_tagging") == "create_tags" and _snapshot_ids(image):
        _call(op.region, "create_tags", Resources=_snapshot_ids(image),
              Tags=_tag_list(op.result.get("image_tags") or {}))
    with transaction.atomic():
        ami = AMI.objects.select_for_update().get(pk=op.ami_id)
        _record_image_facts(ami, image)
        AMIRegion.objects.filter(ami=ami, region=op.region).update(state=AMIRegion.State.AVAILABLE, error="",
                                                                   updated_at=timezone.now())
        copies = _copy_claim(ami=ami, regions=params.get("multi_region") or [], user=op.created_by, parent=op)
        operation_succeed(op, message=f"image {op.image_id} available in {op.region}",
                          result={"size_gb": ami.size_gb, "architecture": ami.architecture,
                                  "snapshot_ids": ami.root_snapshot_ids,
                                  "copies": {c.region: str(c.pk) for c in copies}})
        for copy_op in copies:
            operation_enqueue_on_commit(copy_op)
    grants_apply_all(ami=ami)


# ----------------------------------------------------------------------------------------------
# Copy to regions
# ----------------------------------------------------------------------------------------------
def _copy_claim(*, ami: AMI, regions: list[str], user, parent: Operation | None = None) -> list[Operation]:
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


def ami_copy_request(*, ami: AMI, user, regions: list[str]) -> tuple[list[Operation], list[str]]:
    """Copy an entry's source image to ``regions`` (``POST /amis/{ami}/copy``; owner or moderator).

    Returns (new copy operations, skipped regions). Regions that already have a pending or
    available copy, and the source region, are skipped. 409 when the entry is revoked or its
    source image is not available yet.
    """
    if not (is_moderator(user) or (user.is_authenticated and ami.creator_id == user.pk)):
        raise Forbidden("only the owner or a moderator may copy this AMI")
    regions = _validate_regions(regions, field="regions")
    if not regions:
        raise InvalidInput("regions must name at least one region", errors={"regions": ["This list is empty."]})
    with transaction.atomic():
        ami = AMI.objects.select_for_update().get(pk=ami.pk)
        if ami.status == AMI.Status.REVOKED:
            raise Conflict("a revoked AMI cannot be copied", code="invalid_state")
        source = AMIRegion.objects.filter(ami=ami, region=ami.source_region).first()
        if source is not None and source.state != AMIRegion.State.AVAILABLE:
            raise Conflict(f"the source image is not available yet (state: {source.state})", code="invalid_state")
        ops = _copy_claim(ami=ami, regions=regions, user=user)
        skipped = [r for r in regions if r not in {o.region for o in ops}]
        audit_record(actor=user, action="ami.copy_requested", target=ami,
                     after={"regions": [o.region for o in ops], "skipped": skipped})
        for op in ops:
            operation_enqueue_on_commit(op)
    return ops, skipped


def copy_image_step(*, operation_id) -> int | None:
    """One round of a copy job. Returns a countdown to run again, or None when finished.

    Starts the copy (after taking a per-region slot) unless the region row already names an image
    or an image tagged with this registry id exists in the destination; then waits for
    ``available`` (→ grants applied there) or failure / ``REGISTRY_COPY_IMAGE_TIMEOUT``.
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
    if not row.image_id:
        existing = _find_image_by_tag(op.region, "RegistryId", str(ami.pk))
        if existing is not None:
            image_id = existing["ImageId"]
        else:
            if not copy_slot_acquire(region=op.region, holder=holder):
                operation_progress(op, progress=5, message=f"waiting for a free copy slot in {op.region}")
                return poll_seconds()
            try:
                image_id = _copy_start(op, ami)
            except aws.AwsTransientError:
                raise  # the slot stays held: the retry uses it
            except aws.AwsError as exc:
                copy_slot_release(region=op.region, holder=holder)
                return _copy_failed(op, row, f"CopyImage to {op.region} failed: {exc.message}")
        with transaction.atomic():
            AMIRegion.objects.filter(pk=row.pk).update(image_id=image_id, updated_at=timezone.now())
            _op_save(op, image_id=image_id, progress=max(op.progress, 20), message=f"copying as {image_id}")
        row.image_id = image_id

    image = aws.describe_image(op.region, row.image_id)
    if image is None or image.get("State") in IMAGE_DEAD_STATES:
        copy_slot_release(region=op.region, holder=holder)
        error = (f"copy {row.image_id} no longer exists in {op.region}" if image is None
                 else _image_state_error(image, op.region))
        return _copy_failed(op, row, error)
    if image.get("State") != "available":
        if _timed_out(op, copy_timeout_seconds()):
            copy_slot_release(region=op.region, holder=holder)
            return _copy_failed(op, row, f"timed out after {copy_timeout_seconds() // 60} minutes waiting for "
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
    # Copies made later get the entry's AWS grants (and public/deprecated state) too.
    grants_apply_all(ami=ami)
    if ami.status in (AMI.Status.DEPRECATED, AMI.Status.REVOKED):
        _deprecate_images([(op.region, row.image_id)], when=ami.deprecated_at or timezone.now())
    return None


def _copy_start(op: Operation, ami: AMI) -> str:
    source = aws.describe_image(ami.source_region, ami.ami_id)
    if source is None:
        raise aws.AwsNotFound(f"source image {ami.ami_id} not found in {ami.source_region}",
                              code="InvalidAMIID.NotFound")
    tags = {**_tags_dict(source), "RegistryId": str(ami.pk), "CloudWorkstation": "true",
            "CopiedFrom": f"{ami.source_region}/{ami.ami_id}"}
    tags = {k: v for k, v in tags.items() if not k.lower().startswith("aws:")}
    resp = _call(op.region, "copy_image", SourceImageId=ami.ami_id, SourceRegion=ami.source_region,
                 Name=source.get("Name") or ami.image_name or _aws_image_name(ami.name),
                 Description=(source.get("Description") or ami.description or "")[:255],
                 ClientToken=op.params["client_token"], CopyImageTags=True,
                 TagSpecifications=[{"ResourceType": "image", "Tags": _tag_list(tags)}])
    image_id = resp["ImageId"]
    # NOTE: CreateTags as well: moto ignores CopyImage's tag options, and the RegistryId tag is
    # what lets a crashed-and-redelivered copy find its image instead of copying again.
    _call(op.region, "create_tags", Resources=[image_id], Tags=_tag_list(tags))
    return image_id


def _copy_failed(op: Operation, row: AMIRegion, error: str) -> None:
    with transaction.atomic():
        AMIRegion.objects.filter(pk=row.pk).update(state=AMIRegion.State.FAILED, error=error[:4000],
                                                   updated_at=timezone.now())
        operation_fail(op, error=error)
    return None


# ----------------------------------------------------------------------------------------------
# Launch permissions (sharing grants)
# ----------------------------------------------------------------------------------------------
PERMISSION_KEY = {"account": "UserId", "organization": "OrganizationArn", "organizational_unit": "OrganizationalUnitArn"}


def _available_copies(ami_pk) -> list[tuple[str, str]]:
    return list(AMIRegion.objects.filter(ami_id=ami_pk, state=AMIRegion.State.AVAILABLE)
                .exclude(image_id="").order_by("region").values_list("region", "image_id"))


def _snapshot_permission(region: str, image_id: str, account: str, *, add: bool) -> None:
    image = aws.describe_image(region, image_id) or {}
    for snap in _snapshot_ids(image):
        current = _call(region, "describe_snapshot_attribute", SnapshotId=snap,
                        Attribute="createVolumePermission").get("CreateVolumePermissions", [])
        present = any(p.get("UserId") == account for p in current)
        if present != add:
            _call(region, "modify_snapshot_attribute", SnapshotId=snap, Attribute="createVolumePermission",
                  OperationType="add" if add else "remove", UserIds=[account])


def share_apply(*, share_id: int):
    """Make AWS match one grant: launch permission in every region with an available copy.

    Idempotent (current permissions are read first). Account grants with ``launch_and_copy`` also
    get ``createVolumePermission`` on the snapshots (AWS offers that to accounts only). Registry-side
    grants (user, community) need no AWS change. Ends ``synced`` with ``synced_regions``, or
    ``failed`` with the per-region errors; throttling propagates for the task to retry.
    """
    Share = apps.get_model("sharing", "Share")
    share = Share.objects.select_related("ami").filter(pk=share_id).first()
    if share is None or share.sync_state == "removing":
        return share
    if share.grantee_type not in PERMISSION_KEY:
        Share.objects.filter(pk=share.pk).update(sync_state="synced", sync_error="", synced_at=timezone.now())
        return share
    if share.ami.status == AMI.Status.REVOKED:
        Share.objects.filter(pk=share.pk).update(sync_state="failed", sync_error="the AMI is revoked")
        return share
    key = PERMISSION_KEY[share.grantee_type]
    synced, errors = [], []
    for region, image_id in _available_copies(share.ami_id):
        try:
            current = aws.launch_permission_accounts(region, image_id)
            if share.grantee not in current.get(key, set()):
                _call(region, "modify_image_attribute", ImageId=image_id,
                      LaunchPermission={"Add": [{key: share.grantee}]})
            if share.grantee_type == "account" and share.permission == "launch_and_copy":
                _snapshot_permission(region, image_id, share.grantee, add=True)
            synced.append(region)
        except aws.AwsTransientError:
            raise
        except aws.AwsError as exc:
            errors.append(f"{region}: {exc.message}")
    with transaction.atomic():
        state = "failed" if errors else "synced"
        Share.objects.filter(pk=share.pk).exclude(sync_state="removing").update(
            sync_state=state, sync_error="; ".join(errors)[:4000], synced_regions=synced,
            synced_at=timezone.now() if not errors else share.synced_at, updated_at=timezone.now())
        audit_record(actor=None, action=f"share.sync_{state}", target=share,
                     after={"synced_regions": synced, "errors": errors})
    return share


def share_unapply(*, ami_pk, grantee_type: str, grantee: str) -> list[str]:
    """Remove a deleted grant's launch permission from every regional copy (idempotent).

    Skipped when an identical grant exists again (re-granted meanwhile). Returns the regions
    where a permission was actually removed.
    """
    if grantee_type not in PERMISSION_KEY:
        return []
    Share = apps.get_model("sharing", "Share")
    if Share.objects.filter(ami_id=ami_pk, grantee_type=grantee_type, grantee=grantee).exclude(
            sync_state="removing").exists():
        return []
    key = PERMISSION_KEY[grantee_type]
    removed = []
    for region, image_id in AMIRegion.objects.filter(ami_id=ami_pk).exclude(image_id="").exclude(
            state=AMIRegion.State.DEREGISTERED).values_list("region", "image_id"):
        try:
            current = aws.launch_permission_accounts(region, image_id)
        except aws.AwsNotFound:
            continue
        if grantee in current.get(key, set()):
            _call(region, "modify_image_attribute", ImageId=image_id,
                  LaunchPermission={"Remove": [{key: grantee}]})
            removed.append(region)
        if grantee_type == "account":
            _snapshot_permission(region, image_id, grantee, add=False)
    return removed


def ami_public_sync(*, ami: AMI) -> list[str]:
    """Make the image public in AWS (``Group=all``) in every available region — only when the
    owner asked for it at create time (``public_requested``) and a moderator approved the entry;
    otherwise make sure it is not public. Returns the regions changed."""
    want = ami.public_requested and ami.status == AMI.Status.APPROVED
    changed = []
    for region, image_id in _available_copies(ami.pk):
        is_public = "all" in aws.launch_permission_accounts(region, image_id).get("Group", set())
        if is_public != want:
            _call(region, "modify_image_attribute", ImageId=image_id,
                  LaunchPermission={("Add" if want else "Remove"): [{"Group": "all"}]})
            changed.append(region)
    return changed


def grants_apply_all(*, ami: AMI) -> None:
    """Apply every AWS grant of ``ami`` (and its public flag) to all its available copies."""
    ami.refresh_from_db()
    if ami.status == AMI.Status.REVOKED:
        return
    for share_id in ami.shares.filter(grantee_type__in=list(PERMISSION_KEY)).exclude(
            sync_state="removing").values_list("pk", flat=True):
        share_apply(share_id=share_id)
    ami_public_sync(ami=ami)


def ami_public_sync_enqueue(*, ami: AMI) -> None:
    """Hook for ``ami_approve``: push the public flag to AWS after commit."""
    from amis.tasks import public_sync_task

    ami_pk = str(ami.pk)
    transaction.on_commit(lambda: public_sync_task.delay(ami_pk))


# ----------------------------------------------------------------------------------------------
# Deprecate / revoke / deregister in AWS
# ----------------------------------------------------------------------------------------------
def _lifecycle_enqueue(*, ami: AMI, actor, kind: str, params: dict | None = None) -> Operation:
    images = {r: i for r, i in AMIRegion.objects.filter(ami=ami).exclude(image_id="").exclude(
        state=AMIRegion.State.DEREGISTERED).values_list("region", "image_id")}
    op = Operation.objects.create(kind=kind, ami=ami, region=ami.source_region, image_id=ami.ami_id,
                                  created_by=actor if getattr(actor, "is_authenticated", False) else None,
                                  params={"images": images, **(params or {})}, message="queued")
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


def _deprecate_images(images, *, when: datetime) -> dict:
    """EnableImageDeprecation on each (region, image). Returns {region: outcome}."""
    at = _deprecate_at(when)
    outcome = {}
    for region, image_id in images:
        try:
            _call(region, "enable_image_deprecation", ImageId=image_id, DeprecateAt=at)
            outcome[region] = {"ami_id": image_id, "status": "deprecated", "deprecate_at": at.isoformat()}
        except aws.AwsNotFound:
            outcome[region] = {"ami_id": image_id, "status": "not_found"}
        except aws.AwsTransientError:
            raise
        except aws.AwsPermanentError as exc:
            status = "not_supported_by_endpoint" if _not_implemented(exc) else "failed"
            outcome[region] = {"ami_id": image_id, "status": status, "error": exc.message}
    return outcome


def deprecate_step(*, operation_id) -> None:
    """Deprecate every regional copy in AWS. The emulator's NotImplemented is recorded per region
    (``not_supported_by_endpoint``) and does not fail the operation; AWS errors do."""
    op = Operation.objects.filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL:
        return None
    operation_mark_running(op, progress=10)
    outcome = _deprecate_images(sorted(op.params.get("images", {}).items()),
                                when=datetime.fromisoformat(op.params["deprecate_at"]))
    _finish_by_outcome(op, outcome, "deprecation")
    return None


def _finish_by_outcome(op: Operation, outcome: dict, what: str) -> None:
    failed = {r: o for r, o in outcome.items() if o.get("status") == "failed"}
    if failed:
        operation_fail(op, error="; ".join(f"{r}: {o['error']}" for r, o in failed.items()),
                       result={"regions": outcome})
    else:
        unsupported = [r for r, o in outcome.items() if o.get("status") == "not_supported_by_endpoint"]
        note = f" (not supported by this AWS endpoint in: {', '.join(unsupported)})" if unsupported else ""
        operation_succeed(op, message=f"{what} done{note}", result={"regions": outcome})


def revoke_step(*, operation_id) -> None:
    """Withdraw every launch permission (accounts, organizations, OUs, public) and snapshot
    volume permission from every copy, then deprecate every copy. Idempotent."""
    op = Operation.objects.filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL:
        return None
    operation_mark_running(op, progress=10)
    images = sorted(op.params.get("images", {}).items())
    outcome = {}
    for region, image_id in images:
        try:
            perms = _call(region, "describe_image_attribute", ImageId=image_id,
                          Attribute="launchPermission").get("LaunchPermissions", [])
            if perms:
                _call(region, "modify_image_attribute", ImageId=image_id, LaunchPermission={"Remove": perms})
            image = aws.describe_image(region, image_id) or {}
            for snap in _snapshot_ids(image):
                current = _call(region, "describe_snapshot_attribute", SnapshotId=snap,
                                Attribute="createVolumePermission").get("CreateVolumePermissions", [])
                if current:
                    _call(region, "modify_snapshot_attribute", SnapshotId=snap, Attribute="createVolumePermission",
                          CreateVolumePermission={"Remove": current})
            outcome[region] = {"ami_id": image_id, "status": "withdrawn", "removed": perms}
        except aws.AwsNotFound:
            outcome[region] = {"ami_id": image_id, "status": "not_found"}
        except aws.AwsTransientError:
            raise
        except aws.AwsPermanentError as exc:
            outcome[region] = {"ami_id": image_id, "status": "failed", "error": exc.message}
    deprecation = _deprecate_images(images, when=timezone.now())
    if op.ami_id:
        apps.get_model("sharing", "Share").objects.filter(
            ami_id=op.ami_id, grantee_type__in=list(PERMISSION_KEY)).update(
            synced_regions=[], sync_error="launch permission withdrawn: the AMI is revoked", updated_at=timezone.now())
    failed = {r: o for r, o in {**outcome, **deprecation}.items() if o.get("status") == "failed"}
    result = {"regions": outcome, "deprecation": deprecation}
    if failed:
        operation_fail(op, error="; ".join(f"{r}: {o['error']}" for r, o in failed.items()), result=result)
    else:
        operation_succeed(op, message="launch permissions withdrawn and copies deprecated", result=result)
    return None


def deregister_step(*, operation_id) -> None:
    """Deregister every regional copy and delete its snapshots (idempotent: missing ones are skipped)."""
    op = Operation.objects.filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL:
        return None
    operation_mark_running(op, progress=10)
    outcome = {}
    for region, image_id in sorted(op.params.get("images", {}).items()):
        try:
            image = aws.describe_image(region, image_id)
            snaps = _snapshot_ids(image) if image else list((op.result.get("snapshots") or {}).get(region, []))
            if image is not None:
                # Remember the snapshots first: after DeregisterImage they cannot be looked up.
                op.result = {**op.result, "snapshots": {**(op.result.get("snapshots") or {}), region: snaps}}
                _op_save(op, result=op.result)
                _call(region, "deregister_image", ImageId=image_id)
            deleted = []
            for snap in snaps:
                try:
                    _call(region, "delete_snapshot", SnapshotId=snap)
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
    _finish_by_outcome(op, outcome, "deregistration")
    return None


# ----------------------------------------------------------------------------------------------
# Validation across regions
# ----------------------------------------------------------------------------------------------
def ami_validate_request(*, ami: AMI, user, regions: list[str] | None = None) -> Operation:
    """Queue a deep check of every regional copy (``Operation(kind=validate)``).

    Used by the resolver's ``/ami/test`` when asked to check deeply; the caller has checked that
    ``user`` may see ``ami``. A validation already queued or running for the AMI is returned
    instead of queueing another.
    """
    regions = _validate_regions(regions or [], field="regions")
    with transaction.atomic():
        AMI.objects.select_for_update().filter(pk=ami.pk).first()
        running = Operation.objects.filter(ami=ami, kind=OpKind.VALIDATE, state__in=[OpState.QUEUED,
                                                                                      OpState.RUNNING]).first()
        if running is not None:
            return running
        op = Operation.objects.create(kind=OpKind.VALIDATE, ami=ami, region=ami.source_region,
                                      image_id=ami.ami_id, params={"regions": regions},
                                      created_by=user if getattr(user, "is_authenticated", False) else None,
                                      message="queued")
        operation_enqueue_on_commit(op)
    return op


def image_findings(image: dict | None, *, architecture: str) -> dict:
    """What a launch needs from one regional copy, as DescribeImages reports it."""
    if image is None:
        return {"exists": False, "available": False, "passed": False, "problems": ["image not found"]}
    mappings = image.get("BlockDeviceMappings") or []
    root_name = image.get("RootDeviceName")
    root = next((m for m in mappings if m.get("DeviceName") == root_name), mappings[0] if mappings else {})
    findings = {
        "exists": True,
        "state": image.get("State"),
        "available": image.get("State") == "available",
        "architecture": image.get("Architecture"),
        "architecture_matches": image.get("Architecture") == architecture,
        "root_device_type": image.get("RootDeviceType"),
        # moto reports "standard" for EBS-backed images it creates: the root mapping tells.
        "ebs_root": image.get("RootDeviceType") == "ebs" or bool(root.get("Ebs")),
        "ena_support": bool(image.get("EnaSupport")),
        "imds_support": image.get("ImdsSupport") or "",
        "imdsv2_required": image.get("ImdsSupport") == "v2.0",
    }
    problems = [label for key, label in (("available", "not available"),
                                         ("architecture_matches", f"architecture is not {architecture}"),
                                         ("ebs_root", "root device is not EBS"),
                                         ("ena_support", "ENA support is not enabled")) if not findings[key]]
    findings["problems"] = problems
    findings["passed"] = not problems
    return findings


def validate_step(*, operation_id) -> None:
    """Check each regional copy (exists, available, architecture, EBS root, ENA, IMDSv2) and store
    ``last_tested`` + ``findings`` on its region row; the operation's result holds them all."""
    op = Operation.objects.select_related("ami").filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL or op.ami is None:
        return None
    operation_mark_running(op, progress=5)
    rows = AMIRegion.objects.filter(ami=op.ami).exclude(state=AMIRegion.State.DEREGISTERED).exclude(image_id="")
    if op.params.get("regions"):
        rows = rows.filter(region__in=op.params["regions"])
    rows = list(rows.order_by("region"))
    results = {}
    for i, row in enumerate(rows, start=1):
        try:
            image = aws.describe_image(row.region, row.image_id)
        except aws.AwsTransientError:
            raise
        except aws.AwsError as exc:
            image, results[row.region] = None, {"error": exc.message}
        findings = {**image_findings(image, architecture=op.ami.architecture), **results.get(row.region, {}),
                    "ami_id": row.image_id}
        AMIRegion.objects.filter(pk=row.pk).update(findings=findings, last_tested=timezone.now(),
                                                   updated_at=timezone.now())
        results[row.region] = findings
        operation_progress(op, progress=int(100 * i / max(len(rows), 1)), message=f"checked {row.region}")
    passed = all(f["passed"] for f in results.values())
    operation_succeed(op, message="all regional copies passed" if passed else "some regional copies have problems",
                      result={"regions": results, "passed": passed})
    return None


# ----------------------------------------------------------------------------------------------
# Beat: stale operations
# ----------------------------------------------------------------------------------------------
def operations_refresh_stale(*, older_than_seconds: int | None = None, limit: int = 100) -> list[str]:
    """Re-enqueue operations stuck in queued/running (a lost message, a dead worker).

    Rows are claimed with ``select_for_update(skip_locked=True)`` so overlapping beat runs never
    pick the same row; ``updated_at`` is touched under the claim. Live chains update their row at
    every poll, far more often than the threshold, so only stuck ones are picked; re-enqueueing
    gives the row a new task id, which stops any old chain (``operation_is_current``).
    """
    threshold = timezone.now() - timedelta(seconds=older_than_seconds or int(
        _setting("REGISTRY_OPERATION_STALE_SECONDS", 600)))
    kinds = [OpKind.CREATE_IMAGE, OpKind.COPY_IMAGE, OpKind.VALIDATE, OpKind.DEPRECATE, OpKind.REVOKE,
             OpKind.DEREGISTER]
    with transaction.atomic():
        stale = list(Operation.objects.select_for_update(skip_locked=True)
                     .filter(state__in=[OpState.QUEUED, OpState.RUNNING], updated_at__lt=threshold, kind__in=kinds)
                     .order_by("updated_at")[:limit])
        for op in stale:
            transaction.on_commit(lambda op=op: operation_enqueue(operation_id=op.pk, kind=op.kind))
        Operation.objects.filter(pk__in=[o.pk for o in stale]).update(updated_at=timezone.now())
    return [str(o.pk) for o in stale]


# ----------------------------------------------------------------------------------------------
# Reads for the operations API
# ----------------------------------------------------------------------------------------------
def operation_list_for(*, user, ami: AMI | None = None):
    """The caller's operations (moderators: everyone's), newest first, optionally for one AMI."""
    qs = Operation.objects.select_related("ami").order_by("-created_at")
    if not is_moderator(user):
        qs = qs.filter(created_by=user)
    if ami is not None:
        qs = qs.filter(ami=ami)
    return qs


def operation_get_for(*, user, operation_id: str) -> Operation | None:
    """One operation if the caller started it (or is a moderator); None otherwise (→ 404)."""
    try:
        pk = uuid.UUID(str(operation_id))
    except ValueError:
        return None
    return operation_list_for(user=user).filter(pk=pk).first()


_CWS_STATUS = {OpState.QUEUED: "pending", OpState.RUNNING: "in_progress",
               OpState.SUCCEEDED: "completed", OpState.FAILED: "failed"}


def creation_status(op: Operation) -> dict:
    """The cws-shaped ``/ami/status`` answer for a create operation (or any operation).

    Progress is the mean over the create step and one copy per target region (a copy not yet
    started counts 0). Status: failed if any part failed, completed when all succeeded,
    pending while nothing has started, else in_progress.
    """
    children = {c.region: c for c in Operation.objects.filter(parent=op, kind=OpKind.COPY_IMAGE)}
    targets = list(dict.fromkeys([*(op.params.get("multi_region") or []), *children]))
    parts = [op, *[children.get(r) for r in targets]]
    progress = round(sum(p.progress if p else 0 for p in parts) / len(parts))
    states = [p.state if p else OpState.QUEUED for p in parts]
    if OpState.FAILED in states:
        status = "failed"
    elif all(s == OpState.SUCCEEDED for s in states):
        status = "completed"
    elif all(s == OpState.QUEUED for s in states):
        status = "pending"
    else:
        status = "in_progress"
    region_results = {op.region: {"region": op.region, "ami_id": op.image_id, "status": _CWS_STATUS[op.state],
                                  "error": op.error}}
    for region in targets:
        child = children.get(region)
        region_results[region] = {"region": region, "ami_id": child.image_id if child else "",
                                  "status": _CWS_STATUS[child.state] if child else "pending",
                                  "error": child.error if child else ""}
    errors = [f"{r}: {v['error']}" for r, v in region_results.items() if v["error"]]
    end = max([p.finished_at for p in parts if p and p.finished_at], default=None) if status in (
        "completed", "failed") else None
    elapsed = ((end or timezone.now()) - op.created_at).total_seconds() / 60
    message = ("; ".join(errors) if errors else
               "image available in every region" if status == "completed" else op.message or "in progress")
    return {"creation_id": str(op.pk), "ami_id": op.image_id, "registry_id": str(op.ami_id or "") or
            (op.params or {}).get("registry_id", ""), "status": status, "progress": progress, "message": message,
            "elapsed_time_minutes": round(elapsed, 2), "region_results": region_results}
