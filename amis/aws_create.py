"""Create a community AMI from a running instance: the request (``POST /ami/create``, the wizard)
and the worker's steps (CreateImage, wait for ``available``, record AWS's facts, start the copies).

Runs on the operations engine (``amis.operations``): the request writes an
``Operation(kind=create_image)`` and the task after commit; each step is idempotent (it looks for
an image tagged with the reserved registry id before calling CreateImage again), makes no AWS
call inside a database transaction, and returns a countdown while AWS is still working.
"""
from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from amis.aws_copy import copy_claim
from amis.aws_public import ami_public_sync
from amis.lineages import LineageRequest, lineage_attach_locked, lineage_request_clean
from amis.metadata import (DESCRIPTION_MAX, NAME_MAX, TAGS_MAX, VERSION_MAX, regions_clean, tags_clean,
                           text_clean)
from amis.models import AMI, AMIRegion, Operation
from amis.ownership import account_require_own, candidate_roles, instance_require_owner
from amis.operations import (TERMINAL, OpKind, operation_enqueue_on_commit, operation_fail, operation_mark_running,
                             operation_progress, operation_save, operation_succeed, operation_timed_out,
                             poll_seconds, setting_seconds)
from amis.signals import ami_changed_notify, ami_copy_available, ami_grants_requested
from registry import aws
from registry.audit import audit_record
from registry.aws_accounts import account_role_for
from registry.aws_images import (IMAGE_DEAD_STATES, aws_image_name, image_facts, image_find_by_tag, image_state_error,
                                 snapshot_ids, tag_list)
from registry.errors import ApplicationError, InvalidInput
from registry.models import Community
from templates.selectors import template_get

# Tags the registry puts on every image it creates (besides the owner's): they count towards
# AWS's 50 tags per resource, so the owner may give that many fewer.
REGISTRY_IMAGE_TAGS = ("CloudWorkstation", "Template", "Version", "RegistryId", "Name")


# A cws instance name (the Name tag): printable, no spaces at the ends, at most AWS's 256 tag characters.
INSTANCE_NAME_RE = re.compile(r"^[\w.:/=+@-][\w .:/=+@-]{0,254}[\w.:/=+@-]?$")


def create_timeout_seconds() -> int:
    return setting_seconds("REGISTRY_CREATE_IMAGE_TIMEOUT", 90 * 60)


# --- the instance ------------------------------------------------------------------------------------

def instance_describe(*, region: str, instance_id: str) -> dict:
    """The instance as DescribeInstances reports it.

    Raises InvalidInput naming ``instance_id`` when AWS does not know it (or refuses to say), and
    503 when AWS does not answer. Used by ``ami_create_request`` and the wizard's first step.
    """
    try:
        reservations = aws.call(region, "ec2", "describe_instances", InstanceIds=[instance_id]).get("Reservations", [])
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
                           errors={"instance_id": [f"AWS does not know this id in {region}. "
                                                   f"Check the id and the region."]})
    return instances[0]


def _instances_matching(region: str, ref: str, role: aws.AccountRole | None = None) -> list[dict]:
    """Instances in ``region`` whose id is ``ref`` or whose ``Name`` tag is ``ref`` (not terminated),
    as ``role``'s account sees them, each with its reservation's ``OwnerId``."""
    if aws.is_instance_id(ref):
        try:
            reservations = aws.call(region, "ec2", "describe_instances", role=role,
                                    InstanceIds=[ref]).get("Reservations", [])
        except aws.AwsNotFound:
            return []
    else:
        reservations = aws.call(region, "ec2", "describe_instances", role=role, Filters=[
            {"Name": "tag:Name", "Values": [ref]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}],
        ).get("Reservations", [])
    return [{**i, "OwnerId": r.get("OwnerId", "")} for r in reservations for i in r.get("Instances", [])]


def instance_search_regions(region: str) -> list[str]:
    """Where an instance is looked for: ``region`` first, then ``REGISTRY_INSTANCE_SEARCH_REGIONS``
    (default: every commercial region)."""
    others = list(getattr(settings, "REGISTRY_INSTANCE_SEARCH_REGIONS", None) or aws.COMMERCIAL_REGIONS)
    return list(dict.fromkeys([region, *others]))


def instance_locate(*, ref: str, region: str) -> tuple[str, dict]:
    """The instance named ``ref`` — an EC2 id or a cws instance name (its ``Name`` tag) — as
    ``(region, DescribeInstances entry)``: in ``region`` if it is there, else in the other search
    regions (asked concurrently). Raises InvalidInput naming where it looked, or when a name is
    ambiguous, and 503 when AWS does not answer. Looks with the registry's own credentials."""
    found_region, instance, _role = _instance_locate(ref=ref, region=region, roles=[None])
    return found_region, instance


def instance_locate_owned(*, user, ref: str, region: str) -> tuple[str, dict, aws.AccountRole | None]:
    """``instance_locate`` in the caller's verified accounts first, then the registry's; the
    instance must be the caller's (``amis.ownership``: 403 with the reason otherwise). Returns
    ``(region, instance, role acting in its account)``. The one ownership call of create."""
    found_region, instance, role = _instance_locate(ref=ref, region=region, roles=candidate_roles(user))
    instance_require_owner(user=user, instance=instance)
    return found_region, instance, role


def _instance_locate(*, ref: str, region: str, roles) -> tuple[str, dict, aws.AccountRole | None]:
    ref = (ref or "").strip()
    if not aws.is_instance_id(ref) and not INSTANCE_NAME_RE.match(ref):
        raise InvalidInput(f"invalid instance id or name '{ref}'",
                           errors={"instance_id": ["An EC2 instance id (i-0123456789abcdef0) or the instance's "
                                                   "Name tag."]})
    regions = instance_search_regions(region)

    def lookup(where: str) -> list[tuple[dict, aws.AccountRole | None]] | aws.AwsError:
        # The first credentials that see a match win: one instance is never found twice.
        error = None
        for role in roles:
            try:
                items = _instances_matching(where, ref, role)
            except aws.AwsError as exc:
                error = error or exc
                continue
            if items:
                return [(i, role) for i in items]
        return error if error is not None else []

    found: dict[str, list[dict]] = {}
    first = lookup(region)
    if isinstance(first, list) and first:
        found[region] = first
    else:
        others = regions[1:]
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(others)))) as pool:
            answers = dict(zip(others, pool.map(lookup, others)))
        answers[region] = first
        failed = {r: a for r, a in answers.items() if isinstance(a, aws.AwsError)}
        found = {r: a for r, a in answers.items() if isinstance(a, list) and a}
        if not found and failed:
            transient = [a for a in failed.values() if isinstance(a, aws.AwsTransientError)]
            if transient:
                raise ApplicationError(f"AWS did not answer, try again: {transient[0].message}",
                                       code="aws_unavailable", status_code=503)
            raise InvalidInput(f"cannot read instance {ref}: {next(iter(failed.values())).message}",
                               errors={"instance_id": [str(a.message) for a in failed.values()][:3]})
    if not found:
        kind = "id" if aws.is_instance_id(ref) else "Name tag"
        message = f"instance {ref} not found (by {kind}) in {', '.join(regions)}"
        raise InvalidInput(message, errors={"instance_id": [message]})
    matches = [(r, i, role) for r, items in found.items() for i, role in items]
    if len(matches) > 1:
        where = ", ".join(f"{i['InstanceId']} ({r})" for r, i, _role in matches)
        message = f"several instances are named '{ref}': {where}; give the instance id"
        raise InvalidInput(message, errors={"instance_id": [message]})
    return matches[0]


def instance_require_running(instance: dict) -> None:
    """CreateImage needs a running instance: 400 naming the current state otherwise."""
    state = (instance.get("State") or {}).get("Name", "unknown")
    if state != "running":
        message = f"instance must be running to create AMI, current state: {state}"
        raise InvalidInput(message, errors={"instance_id": [message]})


def _instance_architecture(region: str, instance: dict, role: aws.AccountRole | None = None) -> str:
    """The instance's architecture; from its image when EC2 (or the emulator) leaves it out."""
    if instance.get("Architecture"):
        return instance["Architecture"]
    try:
        image = (aws.describe_image(region, instance.get("ImageId", ""), role=role)
                 if instance.get("ImageId") else None)
    except aws.AwsError:
        image = None
    return (image or {}).get("Architecture") or "x86_64"


def _instance_root_size(region: str, instance: dict, role: aws.AccountRole | None = None) -> int | None:
    """Size of the instance's root volume (for the cost estimate); None when unknown."""
    root = instance.get("RootDeviceName")
    vol_ids = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings") or []
               if m.get("Ebs", {}).get("VolumeId") and (not root or m.get("DeviceName") == root)]
    if not vol_ids:
        return None
    try:
        vols = aws.call(region, "ec2", "describe_volumes", role=role, VolumeIds=vol_ids[:1]).get("Volumes", [])
    except aws.AwsError:
        return None
    return vols[0].get("Size") if vols else None


# --- the request -------------------------------------------------------------------------------------

def ami_create_request(*, user, instance_id: str, template_name: str, name: str = "", description: str = "",
                       version: str = "", tags: dict | None = None, public: bool = False,
                       share_with: list[str] | None = None, community: str = "",
                       multi_region: list[str] | None = None, no_reboot: bool = True,
                       region: str = "", lineage: str = "") -> Operation:
    """Start creating a community AMI from a running instance (``POST /ami/create``, the wizard).

    ``instance_id`` is an EC2 id or the instance's ``Name`` tag, found in ``region`` or else in
    the other regions (``instance_locate``); the image is made in the instance's region. Checks
    the instance (must be ``running``) and the template, then calls CreateImage *now* — AWS
    answers at once with the image id, so the caller gets it in the 202 — and writes, in one
    transaction, the ``Operation(kind=create_image)``, the draft registry entry (its uuid
    ``params.registry_id`` is also the image's ``RegistryId`` tag) and the audit events; the task
    (after commit) only waits for ``available`` and starts the copies. CreateImage is idempotent
    through that tag: a repeated attempt finds the image instead of making a second one. Grants
    asked for (``share_with``, ``community``) are recorded by sharing when the entry is made.
    The instance must be the caller's (in one of their verified accounts, or carrying their claim
    tag: ``amis.ownership``, 403 with the reason otherwise); CreateImage and every later step run
    in the instance's account (``params.account_id``), through its linked role.
    ``lineage`` (with a SemVer ``version``) makes the entry that version of the caller's lineage
    (checked first: 400 naming the field, 409 ``version_exists``).
    Raises InvalidInput (400) for a bad/unknown/not-running instance, unknown template or region,
    a refused CreateImage; 503 (nothing made) when AWS does not answer.
    """
    region = region or settings.AWS_DEFAULT_REGION
    if not aws.is_known_region(region):
        raise InvalidInput(f"unknown AWS region '{region}'", errors={"region": ["Unknown region."]})
    if not isinstance(instance_id, str) or not instance_id.strip():
        raise InvalidInput("instance_id is required", errors={"instance_id": ["This field is required."]})
    template = template_get(template_name or "")
    if template is None:
        raise InvalidInput(f"unknown template '{template_name}'", errors={"template_name": ["Unknown template."]})
    targets = [r for r in regions_clean(multi_region or [], field="multi_region") if r != region]
    tags = tags_clean(tags, max_count=TAGS_MAX - len(REGISTRY_IMAGE_TAGS))
    name = text_clean("name", name, max_length=NAME_MAX)
    description = text_clean("description", description, max_length=DESCRIPTION_MAX)
    version = text_clean("version", version, max_length=VERSION_MAX)
    line = lineage_request_clean(user=user, lineage=lineage or None, version=version, template=template)
    if line is not None:
        version = line.version
    share_with = list(dict.fromkeys(share_with or []))
    bad_accounts = [a for a in share_with if not aws.is_account_id(a)]
    if bad_accounts:
        raise InvalidInput("share_with must list 12-digit AWS account ids",
                           errors={"share_with": [f"Invalid account id '{a}'." for a in bad_accounts]})
    community_obj = Community.objects.filter(slug=community).first() if community else None
    if community and community_obj is None:
        raise InvalidInput(f"unknown community '{community}'", errors={"community": ["Unknown community."]})

    region, instance, role = instance_locate_owned(user=user, ref=instance_id, region=region)
    instance_id = instance["InstanceId"]
    instance_require_running(instance)
    if share_with:
        account_require_own(user=user, account_id=instance.get("OwnerId") or "", what=f"instance {instance_id}")

    image_name = aws_image_name(name or f"cws-{template.slug}-{int(time.time())}")
    params = {
        "registry_id": str(uuid.uuid4()),
        "template": template.slug,
        "template_name": template.name,
        "name": name or image_name,
        "image_name": image_name,
        "description": description or f"CloudWorkstation {template.name} image",
        "version": version,
        "lineage": line.name if line else "",
        "tags": tags,
        "public": bool(public),
        "share_with": share_with,
        "community": community_obj.slug if community_obj else "",
        "multi_region": targets,
        "no_reboot": bool(no_reboot),
        "architecture": _instance_architecture(region, instance, role),
        "root_size_gb": _instance_root_size(region, instance, role),
        # The image is made in the instance's account and every later step acts there.
        "account_id": instance.get("OwnerId") or "",
    }
    try:
        image_id, result = _create_image_call(region=region, instance_id=instance_id, params=params, role=role)
    except aws.AwsTransientError as exc:
        raise ApplicationError(f"AWS did not answer CreateImage, nothing was created; try again: {exc.message}",
                               code="aws_unavailable", status_code=503) from exc
    except aws.AwsError as exc:
        message = f"CreateImage failed in {region}: {exc.message}"
        raise InvalidInput(message, errors={"instance_id": [message]}) from exc
    try:
        with transaction.atomic():
            op = Operation.objects.create(kind=OpKind.CREATE_IMAGE, region=region, instance_id=instance_id,
                                          params=params, result=result, created_by=user,
                                          message="CreateImage accepted: waiting for the image to become available")
            audit_record(actor=user, action="ami.create_requested", target=op,
                         after={"instance_id": instance_id, "region": region, "template": template.slug,
                                "multi_region": targets, "ami_id": image_id, "account_id": params["account_id"]})
            _register_created_image(op, image_id)
            operation_enqueue_on_commit(op)
    except Exception:
        _create_image_undo(region=region, image_id=image_id, role=role)
        raise
    op.refresh_from_db()
    return op


def _create_image_undo(*, region: str, image_id: str, role: aws.AccountRole | None = None) -> None:
    """The rows could not be written: deregister the image just made, so nothing is left half-made."""
    try:
        image = aws.describe_image(region, image_id, role=role)
        aws.call(region, "ec2", "deregister_image", role=role, ImageId=image_id)
        for snapshot_id in snapshot_ids(image or {}):
            aws.call(region, "ec2", "delete_snapshot", role=role, SnapshotId=snapshot_id)
    except aws.AwsError:
        # The RegistryId tag still names it: a later sweep or the owner can find it.
        pass


# --- the worker's steps ------------------------------------------------------------------------------

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
    operation_mark_running(op, progress=max(op.progress, 5))
    try:
        role = _op_role(op)
    except aws.AwsPermanentError as exc:
        return _create_failed(op, exc.message)
    if not op.image_id:
        try:
            image_id = _create_or_find_image(op, role)
        except aws.AwsTransientError:
            raise
        except aws.AwsError as exc:
            operation_fail(op, error=f"CreateImage failed in {op.region}: {exc.message}")
            return None
        _register_created_image(op, image_id)
        op.refresh_from_db()

    image = aws.describe_image(op.region, op.image_id, role=role)
    if image is None:
        return _create_failed(op, f"image {op.image_id} no longer exists in {op.region}")
    state = image.get("State")
    if state in IMAGE_DEAD_STATES:
        return _create_failed(op, image_state_error(image, op.region))
    if state != "available":
        limit = create_timeout_seconds()
        if operation_timed_out(op, limit):
            return _create_failed(op, f"timed out after {limit // 60} minutes waiting for "
                                      f"image {op.image_id} to become available in {op.region} (last state: {state})")
        operation_progress(op, progress=50, message=f"waiting for image {op.image_id} to become available")
        return poll_seconds()

    _create_finish(op, image, role)
    return None


def _op_role(op: Operation) -> aws.AccountRole | None:
    """The credentials of the instance's account (requests made before accounts were linked name
    none: the registry's own, as then)."""
    return account_role_for(op.params.get("account_id") or "")


def _create_or_find_image(op: Operation, role: aws.AccountRole | None) -> str:
    """The step's CreateImage (operations made before the request called it, or whose id was lost)."""
    image_id, result = _create_image_call(region=op.region, instance_id=op.instance_id, params=op.params, role=role)
    if result:
        Operation.objects.filter(pk=op.pk).update(result={**op.result, **result})
        op.refresh_from_db(fields=["result"])
    return image_id


def _create_image_call(*, region: str, instance_id: str, params: dict,
                       role: aws.AccountRole | None = None) -> tuple[str, dict]:
    """CreateImage for ``params`` (idempotent: an image already tagged ``RegistryId=<registry id>``
    is returned instead). Returns ``(image id, result facts)`` — how snapshots get their tags."""
    existing = image_find_by_tag(region, "RegistryId", params["registry_id"], role=role)
    if existing is not None:
        return existing["ImageId"], {}
    tags = {**params.get("tags", {}), "CloudWorkstation": "true", "Template": params["template"],
            "Version": params.get("version") or "", "RegistryId": params["registry_id"],
            "Name": params["image_name"]}
    request = dict(InstanceId=instance_id, Name=params["image_name"],
                   Description=params.get("description", "")[:255], NoReboot=bool(params.get("no_reboot", True)))
    try:
        resp = aws.call(region, "ec2", "create_image", role=role, **request, TagSpecifications=[
            {"ResourceType": "image", "Tags": tag_list(tags)},
            {"ResourceType": "snapshot", "Tags": tag_list(tags)}])
        snapshot_tagging = "create_image"
    except aws.AwsPermanentError as exc:
        if not aws.is_not_implemented(exc):
            raise
        # moto lacks snapshot TagSpecifications on CreateImage: tag the image now and the
        # snapshots with CreateTags once they exist (same tags, one call later).
        resp = aws.call(region, "ec2", "create_image", role=role, **request,
                        TagSpecifications=[{"ResourceType": "image", "Tags": tag_list(tags)}])
        snapshot_tagging = "create_tags"
    return resp["ImageId"], {"snapshot_tagging": snapshot_tagging, "image_tags": tags}


@transaction.atomic
def _register_created_image(op: Operation, image_id: str) -> AMI:
    """Create the draft registry entry and its source-region row (idempotent)."""
    op = Operation.objects.select_for_update().get(pk=op.pk)
    params = op.params
    ami = AMI.objects.filter(pk=params["registry_id"]).first()
    if ami is None:
        template = template_get(params["template"])
        visibility = (AMI.Visibility.PUBLIC if params.get("public")
                      else AMI.Visibility.COMMUNITY if params.get("community") else AMI.Visibility.PRIVATE)
        arch = params.get("architecture") if params.get("architecture") in AMI.Architecture.values else "x86_64"
        ami = AMI.objects.create(
            id=params["registry_id"], ami_id=image_id, source_region=op.region, name=params["name"][:200],
            description=params.get("description", ""), template=template, version=params.get("version", ""),
            category=getattr(template, "category", "") or "", architecture=arch, tags=params.get("tags", {}),
            owner_account_id=(params.get("account_id") or "")[:12],
            creator=op.created_by, status=AMI.Status.DRAFT, visibility=visibility,
            public_requested=bool(params.get("public")), image_name=params["image_name"])
        AMIRegion.objects.create(ami=ami, region=op.region, image_id=image_id, state=AMIRegion.State.PENDING,
                                 is_source=True, operation=op)
        audit_record(actor=op.created_by, action="ami.create", target=ami,
                     after={"ami_id": image_id, "region": op.region, "instance_id": op.instance_id,
                            "operation": str(op.pk)})
        if params.get("lineage"):
            _lineage_attach(ami, op, params)
        if params.get("share_with") or params.get("community"):
            # Sharing records them through its own service (validated, audited), in this transaction.
            ami_grants_requested.send(sender=AMI, ami=ami, user=op.created_by,
                                      accounts=list(params.get("share_with") or []),
                                      community=params.get("community") or "")
    operation_save(op, image_id=image_id, ami=ami, progress=max(op.progress, 20),
                   message=f"CreateImage accepted: {image_id}")
    return ami


def _lineage_attach(ami: AMI, op: Operation, params: dict) -> None:
    """Make the new entry the version of the lineage the request named. Checked at request time;
    should another entry have taken that version since, the entry is kept outside the lineage
    (the image exists in AWS either way) and the operation's result says so."""
    request = LineageRequest(name=params["lineage"], version=params.get("version") or "")
    try:
        with transaction.atomic():
            lineage_attach_locked(ami=ami, request=request, user=op.created_by)
    except IntegrityError:
        ami.lineage = None
        operation_save(op, result={**(op.result or {}), "lineage_error": f"version {request.version} of lineage "
                                                                         f"'{request.name}' was taken meanwhile"})


def _create_failed(op: Operation, error: str) -> None:
    with transaction.atomic():
        operation_fail(op, error=error)
        AMIRegion.objects.filter(ami_id=op.ami_id, region=op.region).exclude(
            state=AMIRegion.State.AVAILABLE).update(state=AMIRegion.State.FAILED, error=error,
                                                    updated_at=timezone.now())
    return None


def _record_image_facts(ami: AMI, image: dict) -> None:
    """The same facts ``ami_register`` records (``registry.aws_images.image_facts``)."""
    facts = image_facts(image)
    if facts["architecture"] not in AMI.Architecture.values:
        facts["architecture"] = ami.architecture  # the emulator may leave it out: keep the instance's
    facts["image_name"] = facts["image_name"] or ami.image_name
    for field, value in facts.items():
        setattr(ami, field, value)
    ami.save(update_fields=[*facts, "updated_at"])


def _create_finish(op: Operation, image: dict, role: aws.AccountRole | None) -> None:
    if (op.result or {}).get("snapshot_tagging") == "create_tags" and snapshot_ids(image):
        aws.call(op.region, "ec2", "create_tags", role=role, Resources=snapshot_ids(image),
                 Tags=tag_list(op.result.get("image_tags") or {}))
    with transaction.atomic():
        ami = AMI.objects.select_for_update().get(pk=op.ami_id)
        _record_image_facts(ami, image)
        AMIRegion.objects.filter(ami=ami, region=op.region).update(state=AMIRegion.State.AVAILABLE, error="",
                                                                   updated_at=timezone.now())
        copies = copy_claim(ami=ami, regions=op.params.get("multi_region") or [], user=op.created_by, parent=op)
        operation_succeed(op, message=f"image {op.image_id} available in {op.region}",
                          result={"size_gb": ami.size_gb, "architecture": ami.architecture,
                                  "snapshot_ids": ami.root_snapshot_ids,
                                  "copies": {c.region: str(c.pk) for c in copies}})
        for copy_op in copies:
            operation_enqueue_on_commit(copy_op)
    ami.refresh_from_db()
    if ami.status != AMI.Status.REVOKED:
        ami_public_sync(ami=ami)
    ami_copy_available.send(sender=AMI, ami_id=ami.pk, region=op.region)
    ami_changed_notify(ami_id=ami.pk)
