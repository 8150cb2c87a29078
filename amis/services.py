"""Use-cases that change the catalogue. One function per use-case; API, admin, tasks, pages and
commands all call these. Each owns its transaction and writes its audit event."""
from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from amis import aws_lifecycle
from amis.models import AMI, AMIRegion, Download
from amis.signals import ami_changed_notify, ami_registered
from registry import aws
from registry.audit import audit_record
from registry.errors import ApplicationError, Conflict, Forbidden, InvalidInput
from registry.permissions import is_moderator

S = AMI.Status

# Limits of the free-text metadata (the model's column sizes, plus sane caps for text/JSON).
NAME_MAX = 200
DESCRIPTION_MAX = 10_000
VERSION_MAX = 50
CATEGORY_MAX = 100
TAGS_MAX = 50
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
CLIENT_MAX = 100
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


def _require_owner_or_moderator(ami: AMI, user) -> None:
    if not (is_moderator(user) or (user.is_authenticated and ami.creator_id == user.pk)):
        raise Forbidden("only the owner or a moderator may do this")


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
    # Trust & compliance: a signature given now is verified (422 with the precise reason refuses
    # the submission); a submission for public listing is scanned (task after commit) so the
    # moderator sees findings before deciding.
    if signature:
        from amis.signatures import ami_signature_verify, signature_failure

        row = ami_signature_verify(ami=ami, signature=signature, user=user)
        if not row.valid:
            raise signature_failure(row)
    if ami.visibility == AMI.Visibility.PUBLIC:
        from amis.scanner import ami_scan_request

        ami_scan_request(ami=ami)
    ami_changed_notify(ami_id=ami.pk)
    return ami


@transaction.atomic
def ami_approve(*, ami: AMI, moderator) -> AMI:
    """Moderator approves a pending entry (409 from any other status)."""
    _require_moderator(moderator)
    ami = _lock(ami)
    before = _transition(ami, to=S.APPROVED, actor=moderator, action="ami.approve")
    from amis.scanner import ami_scan_gate

    ami_scan_gate(ami=ami)  # 409 scan_failed unless a moderator's scan exception is active
    ami.approved_at = timezone.now()
    ami.approved_by = moderator
    ami.save(update_fields=["status", "status_reason", "approved_at", "approved_by", "updated_at"])
    audit_record(actor=moderator, action="ami.approve", target=ami, before={"status": before},
                 after={"status": ami.status})
    ami_changed_notify(ami_id=ami.pk)
    if ami.public_requested:  # the owner asked for a public image at create time: AWS after commit
        aws_lifecycle.ami_public_sync_enqueue(ami=ami)
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
    _require_owner_or_moderator(ami, user)
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
    aws_lifecycle.ami_aws_deprecate_enqueue(ami=ami, actor=user)  # EnableImageDeprecation, after commit
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
    ami_changed_notify(ami_id=ami.pk)
    aws_lifecycle.ami_aws_revoke_enqueue(ami=ami, actor=moderator)  # withdraw permissions, after commit
    return ami


# --- Registration, editing, deletion -------------------------------------------------------------

def _clean_text(field: str, value: Any, *, max_length: int, required: bool = False) -> str:
    """A stripped string no longer than ``max_length``; InvalidInput naming ``field`` otherwise."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be a string", errors={field: ["Must be a string."]})
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field}: this field may not be blank", errors={field: ["This field may not be blank."]})
    if len(value) > max_length:
        raise InvalidInput(f"{field}: at most {max_length} characters",
                           errors={field: [f"Ensure this field has no more than {max_length} characters."]})
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
        raise InvalidInput(f"{field}: contains a NUL character", errors={field: ["Null characters are not allowed."]})
    return value


def _clean_tags(tags: Any) -> dict[str, str]:
    """Tags as ``{key: value}`` (AWS style). A list of strings is accepted as keys with empty values."""
    if tags is None:
        return {}
    if isinstance(tags, (list, tuple)):
        if not all(isinstance(t, str) for t in tags):
            raise InvalidInput("tags: a list of tags must contain strings", errors={"tags": ["Must be strings."]})
        tags = {t: "" for t in tags}
    if not isinstance(tags, dict):
        raise InvalidInput("tags: must be an object of key → value", errors={"tags": ["Must be an object."]})
    if len(tags) > TAGS_MAX:
        raise InvalidInput(f"tags: at most {TAGS_MAX} tags", errors={"tags": [f"At most {TAGS_MAX} tags."]})
    clean: dict[str, str] = {}
    for key, value in tags.items():
        if value is None:
            value = ""
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool)):
            raise InvalidInput("tags: keys and values must be strings", errors={"tags": ["Keys and values must be strings."]})
        key, value = key.strip(), str(value).strip()
        if not key or len(key) > TAG_KEY_MAX or len(value) > TAG_VALUE_MAX or "\x00" in key + value:
            raise InvalidInput(
                f"tags: keys must be 1–{TAG_KEY_MAX} characters and values at most {TAG_VALUE_MAX}",
                errors={"tags": [f"Keys must be 1–{TAG_KEY_MAX} characters, values at most {TAG_VALUE_MAX}."]})
        clean[key] = value
    return clean


def _platform_of(image: dict) -> str:
    """Our short platform name from DescribeImages' ``Platform``/``PlatformDetails``."""
    details = (image.get("PlatformDetails") or "").lower()
    if (image.get("Platform") or "").lower() == "windows" or "windows" in details:
        return "windows"
    for needle, name in (("red hat", "rhel"), ("suse", "suse"), ("ubuntu pro", "ubuntu_pro")):
        if needle in details:
            return name
    return "linux"


def _image_facts(image: dict) -> dict[str, Any]:
    """The facts we record about an image, all taken from AWS's answer (never from the client)."""
    root_device = image.get("RootDeviceName") or ""
    snapshot_ids: list[str] = []
    size_gb = None
    for mapping in image.get("BlockDeviceMappings") or []:
        ebs = mapping.get("Ebs") or {}
        if mapping.get("DeviceName") == root_device and ebs:
            if ebs.get("SnapshotId"):
                snapshot_ids.append(ebs["SnapshotId"])
            size_gb = ebs.get("VolumeSize")
    return {
        "architecture": image.get("Architecture") or "",
        "platform": _platform_of(image),
        "owner_account_id": (image.get("OwnerId") or "")[:12],
        "image_name": (image.get("Name") or "")[:255],
        "image_creation_date": (image.get("CreationDate") or "")[:40],
        "root_snapshot_ids": snapshot_ids,
        "size_gb": size_gb,
        "ena_support": image.get("EnaSupport"),
        "boot_mode": (image.get("BootMode") or "")[:20],
        "imds_support": (image.get("ImdsSupport") or "")[:20],
    }


def _aws_unavailable(exc: aws.AwsError) -> ApplicationError:
    if isinstance(exc, aws.AwsTransientError):
        return ApplicationError(f"AWS did not answer ({exc.code or 'error'}): try again later",
                                code="aws_unavailable", status_code=503)
    return ApplicationError(f"AWS refused the request ({exc.code or 'error'}): {exc.message}",
                            code="aws_error", status_code=502)


def ami_is_registered(*, image_id: str) -> bool:
    """Whether ``image_id`` is already in the catalogue, as a canonical id or as a regional copy."""
    return (AMI.objects.filter(ami_id=image_id).exists()
            or AMIRegion.objects.filter(image_id=image_id).exists())


def ami_register(*, user, ami_id: str, region: str, name: str, description: str = "", template=None,
                 version: str = "", category: str = "", tags: dict | list | None = None,
                 visibility: str = AMI.Visibility.PRIVATE, signature: str | None = None) -> AMI:
    """Register an existing AWS image as a ``draft`` catalogue entry owned by ``user``.

    Called by ``POST /api/v1/amis/``, the web submit wizard and the demo seeder.

    - ``ami_id`` and ``region`` are validated before any AWS call (400 naming the field).
    - The image is looked up with DescribeImages in ``region``; it must exist and be
      ``available`` (400 naming its state otherwise). Architecture, platform, owner account,
      creation date, root snapshot + size, name, ENA, boot mode and IMDS support are recorded
      from AWS's answer, never from the caller.
    - 409 when the image is already registered, canonically or as another entry's regional copy
      (checked before and, against races, by the unique constraints at insert).
    - ``template``: a ``templates.Template`` or its slug/name (400 when unknown). ``category``
      defaults to the template's category.
    - ``signature``: passed unchanged to ``amis.signals.ami_registered`` receivers (the trust app
      verifies it there, inside this transaction).
    Creates the entry plus its source ``AMIRegion`` (``is_source``, ``available``), writes one
    ``ami.register`` audit event, sends ``ami_changed``. AWS errors: 503 (transient) / 502.
    """
    if not (user is not None and user.is_authenticated):
        raise Forbidden("sign in to register an AMI")
    errors: dict[str, list[str]] = {}
    if not aws.is_ami_id(ami_id):
        errors["ami_id"] = ["Not a valid AMI id (ami- followed by 8 or 17 hex digits)."]
    if not aws.is_known_region(region):
        errors["region"] = [f"Unknown AWS region '{region}'." if isinstance(region, str) else "Must be a string."]
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors=errors)
    name = _clean_text("name", name, max_length=NAME_MAX, required=True)
    description = _clean_text("description", description, max_length=DESCRIPTION_MAX)
    version = _clean_text("version", version, max_length=VERSION_MAX)
    category = _clean_text("category", category, max_length=CATEGORY_MAX)
    tags = _clean_tags(tags)
    if visibility not in AMI.Visibility.values:
        raise InvalidInput(f"visibility: must be one of {', '.join(AMI.Visibility.values)}",
                           errors={"visibility": [f"Must be one of {', '.join(AMI.Visibility.values)}."]})
    if template is not None and not hasattr(template, "pk"):
        from templates.selectors import template_get

        ref = template
        template = template_get(ref) if isinstance(ref, str) else None
        if template is None:
            raise InvalidInput(f"template: unknown template '{ref}'", errors={"template": [f"Unknown template '{ref}'."]})
    if not category and template is not None:
        category = (template.category or "")[:CATEGORY_MAX]

    if ami_is_registered(image_id=ami_id):
        raise Conflict(f"{ami_id} is already registered", code="already_registered")

    # AWS first, outside any transaction: no row lock is held across network I/O.
    try:
        image = aws.describe_image(region, ami_id)
    except aws.AwsError as exc:
        raise _aws_unavailable(exc) from exc
    if image is None:
        raise InvalidInput(f"AMI {ami_id} does not exist in {region} (or is not visible to the registry's account)",
                           code="ami_not_found", errors={"ami_id": [f"No such image in {region}."]})
    state = image.get("State") or "unknown"
    if state != "available":
        raise InvalidInput(f"AMI {ami_id} is not available in {region} (state: {state})", code="ami_not_available",
                           errors={"ami_id": [f"Image state is '{state}', must be 'available'."]},
                           extra={"state": state})
    facts = _image_facts(image)
    if facts["architecture"] not in AMI.Architecture.values:
        raise InvalidInput(f"AMI {ami_id} has unsupported architecture '{facts['architecture']}'",
                           errors={"ami_id": [f"Architecture must be one of {', '.join(AMI.Architecture.values)}."]})

    try:
        with transaction.atomic():
            ami = AMI.objects.create(
                ami_id=ami_id, source_region=region, name=name, description=description, template=template,
                version=version, category=category, tags=tags, creator=user, visibility=visibility,
                status=S.DRAFT, **facts)
            AMIRegion.objects.create(ami=ami, region=region, image_id=ami_id, state=AMIRegion.State.AVAILABLE,
                                     is_source=True)
            audit_record(actor=user, action="ami.register", target=ami,
                         after={"status": ami.status, "ami_id": ami_id, "region": region,
                                "visibility": visibility, "architecture": facts["architecture"],
                                "owner_account_id": facts["owner_account_id"]})
            # The trust app verifies the publisher signature here (may raise to refuse).
            ami_registered.send(sender=AMI, ami=ami, user=user, signature=signature)
            ami_changed_notify(ami_id=ami.pk)
    except IntegrityError as exc:
        # Lost a race with a concurrent registration of the same image: the constraints decide.
        raise Conflict(f"{ami_id} is already registered", code="already_registered") from exc
    return ami


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
    _require_owner_or_moderator(ami, user)
    if ami.status not in EDITABLE_STATUSES:
        raise Conflict(f"cannot edit an AMI whose status is '{ami.status}'", code="invalid_transition",
                       extra={"current_status": ami.status})
    cleaners = {
        "name": lambda v: _clean_text("name", v, max_length=NAME_MAX, required=True),
        "description": lambda v: _clean_text("description", v, max_length=DESCRIPTION_MAX),
        "category": lambda v: _clean_text("category", v, max_length=CATEGORY_MAX),
        "version": lambda v: _clean_text("version", v, max_length=VERSION_MAX),
        "tags": _clean_tags,
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
    if not (user is not None and user.is_authenticated and ami.creator_id == user.pk):
        raise Forbidden("only the owner may delete this AMI")
    if ami.status not in DELETABLE_STATUSES:
        raise Conflict(f"cannot delete an AMI whose status is '{ami.status}' (only draft or rejected entries)",
                       code="invalid_transition", extra={"current_status": ami.status})
    pk = ami.pk
    if deregister:  # before delete(): the operation keeps the regional image ids
        aws_lifecycle.ami_deregister_enqueue(ami=ami, actor=user)
    audit_record(actor=user, action="ami.delete", target=ami,
                 before={"status": ami.status, "ami_id": ami.ami_id, "name": ami.name},
                 after={"deregister": bool(deregister)})
    ami.delete()
    ami_changed_notify(ami_id=pk)


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
    client = _clean_text("client", client, max_length=CLIENT_MAX)
    if ami.status == S.REVOKED:
        raise Conflict("this AMI has been revoked", code="invalid_transition", extra={"current_status": ami.status})
    who = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        download = Download.objects.create(ami=ami, region=region, user=who, client=client)
        AMI.objects.filter(pk=ami.pk).update(download_count=F("download_count") + 1)
    return download

