"""Use-cases that change the catalogue. One function per use-case; API, admin, tasks, pages,
composers and commands all call these. Each owns its transaction and writes its audit event.

Here: registering an existing image, the lifecycle (submit, approve, reject, deprecate, revoke),
editing, deleting, and what erasing an owner does to an entry. Elsewhere: downloads
(``amis.downloads``), the wizard (``amis.wizard_services``), the AWS work (create, copy,
deprecate/revoke/deregister in AWS, validate: ``amis.aws_*``), trust (``amis.signatures``,
``amis.scanner``) and institution policies (``amis.policy``).
"""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from amis.aws_public import ami_public_sync_enqueue
from amis.aws_retire import ami_aws_deprecate_enqueue, ami_aws_revoke_enqueue, ami_deregister_enqueue
from amis.lineages import (LineageRequest, lineage_attach_locked, lineage_next_version, lineage_request_clean,
                           lineage_version_published, lineage_version_retired, version_update_check)
from amis.metadata import CATEGORY_MAX, DESCRIPTION_MAX, NAME_MAX, VERSION_MAX, tags_clean, text_clean
from amis.models import AMI, AMIRegion, ChannelMove
from amis.ownership import image_locate, image_require_owner
from amis.research import CLEANERS as RESEARCH_CLEANERS
from amis.research import RESEARCH_FIELDS
from amis.scanner import ami_scan_gate, ami_scan_request
from amis.selectors import ami_is_registered, ami_require_manage, ami_require_owner, ami_requires_moderation
from amis.signals import ami_changed_notify
from amis.signatures import ami_signature_require_valid
from registry import aws
from registry.audit import audit_record
from registry.aws_images import image_facts
from registry.errors import ApplicationError, Conflict, Forbidden, InvalidInput
from registry.permissions import moderator_required
from templates.selectors import template_get

S = AMI.Status

# What ``ami_update`` may change: descriptive and research metadata, never the facts AWS reports.
EDITABLE_FIELDS = ("name", "description", "tags", "category", "version", *RESEARCH_FIELDS)
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
    """Re-read the row under a lock so concurrent transitions serialise.

    NOTE: ``FOR NO KEY UPDATE``: it serialises with every other lock of the row but lets foreign
    key checks (``FOR KEY SHARE``) through. A revocation holds this lock while it waits for the
    lineage's lock; a channel move holding the lineage lock writes rows that reference this AMI,
    and with a plain ``FOR UPDATE`` those two would deadlock.
    """
    return AMI.objects.select_for_update(no_key=True).get(pk=ami.pk)


def _transition(ami: AMI, *, to: str, actor, action: str, reason: str = "", extra_after: dict | None = None) -> str:
    if to not in TRANSITIONS.get(ami.status, set()):
        raise Conflict(f"cannot {action.split('.')[-1]} an AMI whose status is '{ami.status}'",
                       code="invalid_transition", extra={"current_status": ami.status})
    before = ami.status
    ami.status = to
    ami.status_reason = reason or ""
    return before


@transaction.atomic
def ami_submit(*, ami: AMI, user, description: str | None = None, public: bool | None = None,
               signature: str | None = None) -> AMI:
    """Owner submits a draft (or a rejected entry, after edits).

    ``description`` replaces the description when given; ``public`` sets the requested
    visibility (True → public, False → private; None keeps it). The sharing rule
    (``amis.selectors.ami_requires_moderation``): a public or community entry goes to the
    moderators (``pending_review``, scanned for them when public); a private one is ready at
    once (``approved`` with no moderator) and its grantees see it immediately. 403 for anyone
    but the owner, 409 (naming the current status) from any status but draft/rejected.
    Audited (``ami.submit``, with ``moderation``: required / not_required), ami_changed sent.
    """
    ami = _lock(ami)
    ami_require_owner(user=user, ami=ami, message="only the owner may submit this AMI")
    before = _transition(ami, to=S.PENDING_REVIEW, actor=user, action="ami.submit")
    if description is not None:
        ami.description = description
    if public is not None:
        ami.visibility = AMI.Visibility.PUBLIC if public else AMI.Visibility.PRIVATE
    ami.submitted_at = timezone.now()
    moderated = ami_requires_moderation(ami=ami)
    fields = ["status", "status_reason", "description", "visibility", "submitted_at", "updated_at"]
    if not moderated:
        # NOTE: no moderator is involved, so none is recorded (approved_by stays empty): the
        # entry is listed for its owner and grantees only, which is the owner's decision.
        ami.status = S.APPROVED
        ami.approved_at = ami.submitted_at
        ami.approved_by = None
        fields += ["approved_at", "approved_by"]
    ami.save(update_fields=fields)
    audit_record(actor=user, action="ami.submit", target=ami, before={"status": before},
                 after={"status": ami.status, "visibility": ami.visibility,
                        "moderation": "required" if moderated else "not_required"})
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
    moderator_required(moderator)
    ami = _lock(ami)
    before = _transition(ami, to=S.APPROVED, actor=moderator, action="ami.approve")
    ami_scan_gate(ami=ami)  # 409 scan_failed unless a moderator's scan exception is active
    ami.approved_at = timezone.now()
    ami.approved_by = moderator
    ami.save(update_fields=["status", "status_reason", "approved_at", "approved_by", "updated_at"])
    audit_record(actor=moderator, action="ami.approve", target=ami, before={"status": before},
                 after={"status": ami.status})
    lineage_version_published(ami=ami, actor=moderator)  # version.publish; `latest` moves to it if newest
    ami_changed_notify(ami_id=ami.pk)
    if ami.public_requested:  # the owner asked for a public image at create time: AWS after commit
        ami_public_sync_enqueue(ami=ami)
    return ami


@transaction.atomic
def ami_reject(*, ami: AMI, moderator, reason: str) -> AMI:
    """Moderator rejects a pending entry; the reason is required and shown to the owner."""
    moderator_required(moderator)
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
    """Owner or moderator marks an approved entry deprecated, optionally naming its replacement.

    A version of a lineage named without a replacement is superseded by the next approved version
    (``amis.lineages.lineage_next_version``); every channel pointing at it moves away
    (``lineage_version_retired``), and the audit event lists the moves.
    """
    ami = _lock(ami)
    ami_require_manage(user=user, ami=ami)
    if replacement is None:
        replacement = lineage_next_version(ami=ami)
    if replacement is not None and replacement.pk == ami.pk:
        raise InvalidInput("an AMI cannot replace itself", errors={"replacement": ["Must be another AMI."]})
    if replacement is not None and replacement.status not in (S.APPROVED, S.DRAFT, S.PENDING_REVIEW):
        raise InvalidInput(f"the replacement's status is '{replacement.status}'",
                           errors={"replacement": ["The replacement must not be rejected, deprecated or revoked."]})
    before = _transition(ami, to=S.DEPRECATED, actor=user, action="ami.deprecate", reason=reason)
    ami.replacement = replacement
    ami.deprecated_at = timezone.now()
    ami.save(update_fields=["status", "status_reason", "replacement", "deprecated_at", "updated_at"])
    moves = lineage_version_retired(ami=ami, actor=user, cause=ChannelMove.Cause.DEPRECATED, reason=reason)
    audit_record(actor=user, action="ami.deprecate", target=ami, before={"status": before},
                 after={"status": ami.status, "replacement": str(replacement.pk) if replacement else None,
                        **({"channels_moved": moves} if moves else {})},
                 reason=reason)
    ami_changed_notify(ami_id=ami.pk)
    ami_aws_deprecate_enqueue(ami=ami, actor=user)  # EnableImageDeprecation, after commit
    return ami


@transaction.atomic
def ami_revoke(*, ami: AMI, moderator, reason: str) -> AMI:
    """Moderator revokes an approved or deprecated entry: never resolved again, grants withdrawn.

    Every channel of its lineage that pointed at it moves back (see ``_revoked``).
    """
    moderator_required(moderator)
    if not (reason or "").strip():
        raise InvalidInput("a reason is required to revoke", errors={"reason": ["This field is required."]})
    ami = _lock(ami)
    before = _transition(ami, to=S.REVOKED, actor=moderator, action="ami.revoke", reason=reason.strip())
    return _revoked(ami, actor=moderator, before=before, reason=reason.strip())


def _revoked(ami: AMI, *, actor, before: str, reason: str) -> AMI:
    """The effects of a revocation, whoever decided it (``ami.status`` is already ``revoked``).

    A channel never points at a revoked version: each that did moves to the version's approved
    replacement, else the previous approved version, else is emptied; the moves are listed in the
    ``ami.revoke`` event (``channels_moved``) and kept as the channels' history.
    """
    ami.status_reason = reason
    ami.revoked_at = timezone.now()
    ami.save(update_fields=["status", "status_reason", "revoked_at", "updated_at"])
    moves = lineage_version_retired(ami=ami, actor=actor, cause=ChannelMove.Cause.REVOKED, reason=reason)
    audit_record(actor=actor, action="ami.revoke", target=ami, before={"status": before},
                 after={"status": ami.status, **({"channels_moved": moves} if moves else {})}, reason=reason)
    ami_changed_notify(ami_id=ami.pk)
    ami_aws_revoke_enqueue(ami=ami, actor=actor)  # withdraw permissions, after commit
    return ami


# --- Registration of an existing image ------------------------------------------------------------

def _aws_unavailable(exc: aws.AwsError) -> ApplicationError:
    if isinstance(exc, aws.AwsTransientError):
        return ApplicationError(f"AWS did not answer ({exc.code or 'error'}): try again later",
                                code="aws_unavailable", status_code=503)
    return ApplicationError(f"AWS refused the request ({exc.code or 'error'}): {exc.message}",
                            code="aws_error", status_code=502)


def ami_ids_check(*, ami_id, region) -> None:
    errors: dict[str, list[str]] = {}
    if not aws.is_ami_id(ami_id):
        errors["ami_id"] = ["Not a valid AMI id (ami- followed by 8 or 17 hex digits)."]
    if not aws.is_known_region(region):
        errors["region"] = [f"Unknown AWS region '{region}'." if isinstance(region, str) else "Must be a string."]
    if errors:
        raise InvalidInput("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors=errors)


def _not_yet_registered(ami_id: str) -> None:
    if ami_is_registered(image_id=ami_id):
        raise Conflict(f"{ami_id} is already registered", code="already_registered",
                       errors={"ami_id": [f"{ami_id} is already in the registry."]})


def ami_image_for_registration(*, user, region: str, ami_id: str) -> dict:
    """DescribeImages' answer for an image ``user`` may register, or the reason they may not.

    400 for a malformed id or unknown region, 409 when the image is already in the catalogue
    (canonically or as a regional copy), 400 when AWS does not know it, 403 (with the reason)
    when it is not the caller's (``amis.ownership``: not in one of their verified accounts and
    without their claim tag, Amazon's, or in another publisher's account), 400 when it is not
    ``available`` or its architecture is not one the catalogue lists; 503/502 when AWS fails.
    Every error names the ``ami_id`` field. AWS calls are made outside any transaction.
    """
    ami_ids_check(ami_id=ami_id, region=region)
    _not_yet_registered(ami_id)
    try:
        image, _role = image_locate(user=user, region=region, ami_id=ami_id)
    except aws.AwsError as exc:
        raise _aws_unavailable(exc) from exc
    if image is not None:
        image_require_owner(user=user, image=image)
    if image is None:
        raise InvalidInput(f"AMI {ami_id} does not exist in {region} (or is not visible to the registry's account)",
                           code="ami_not_found", errors={"ami_id": [
                               f"No such image in {region} (or the registry's AWS account cannot see it): "
                               f"check the id and the region."]})
    state = image.get("State") or "unknown"
    if state != "available":
        raise InvalidInput(f"AMI {ami_id} is not available in {region} (state: {state})", code="ami_not_available",
                           errors={"ami_id": [f"Image state is '{state}', must be 'available'."]},
                           extra={"state": state})
    architecture = image.get("Architecture") or ""
    if architecture not in AMI.Architecture.values:
        raise InvalidInput(f"AMI {ami_id} has unsupported architecture '{architecture}'",
                           errors={"ami_id": [f"Architecture must be one of {', '.join(AMI.Architecture.values)}."]})
    return image


def metadata_clean(*, name, description, version, category, tags, visibility, template) -> dict:
    values = {
        "name": text_clean("name", name, max_length=NAME_MAX, required=True),
        "description": text_clean("description", description, max_length=DESCRIPTION_MAX),
        "version": text_clean("version", version, max_length=VERSION_MAX),
        "category": text_clean("category", category, max_length=CATEGORY_MAX),
        "tags": tags_clean(tags),
    }
    if visibility not in AMI.Visibility.values:
        raise InvalidInput(f"visibility: must be one of {', '.join(AMI.Visibility.values)}",
                           errors={"visibility": [f"Must be one of {', '.join(AMI.Visibility.values)}."]})
    if template is not None and not hasattr(template, "pk"):
        ref = template
        template = template_get(ref) if isinstance(ref, str) else None
        if template is None:
            raise InvalidInput(f"template: unknown template '{ref}'", errors={"template": [f"Unknown template '{ref}'."]})
    if not values["category"] and template is not None:
        values["category"] = (template.category or "")[:CATEGORY_MAX]
    return {**values, "visibility": visibility, "template": template}


def ami_register_locked(*, user, image: dict, region: str, values: dict, signature: str | None,
                        lineage: LineageRequest | None = None) -> AMI:
    """The entry and its source-region row, audited, inside the caller's transaction (``ami_register``,
    the wizard). ``image`` is ``ami_image_for_registration``'s answer, ``values`` ``metadata_clean``'s,
    ``lineage`` ``amis.lineages.lineage_request_clean``'s (the entry becomes that version)."""
    facts = image_facts(image)
    ami = AMI.objects.create(ami_id=image["ImageId"], source_region=region, creator=user, status=AMI.Status.DRAFT,
                             **values, **facts)
    AMIRegion.objects.create(ami=ami, region=region, image_id=ami.ami_id, state=AMIRegion.State.AVAILABLE,
                             is_source=True)
    audit_record(actor=user, action="ami.register", target=ami,
                 after={"status": ami.status, "ami_id": ami.ami_id, "region": region,
                        "visibility": ami.visibility, "architecture": facts["architecture"],
                        "owner_account_id": facts["owner_account_id"]})
    if lineage is not None:
        lineage_attach_locked(ami=ami, request=lineage, user=user)
    if signature:
        # The manifest is rebuilt from the answer just fetched: no second AWS call in the transaction.
        ami_signature_require_valid(ami=ami, signature=signature, user=user, image=image)
    ami_changed_notify(ami_id=ami.pk)
    return ami


def ami_register(*, user, ami_id: str, region: str, name: str, description: str = "", template=None,
                 version: str = "", category: str = "", tags: dict | list | None = None,
                 visibility: str = AMI.Visibility.PRIVATE, signature: str | None = None,
                 lineage: str | None = None) -> AMI:
    """Register an existing AWS image as a ``draft`` catalogue entry owned by ``user``.

    Called by ``POST /api/v1/amis/`` and the demo seeder (the wizard goes through
    ``amis.wizard_services.ami_submit_from_wizard``).

    - ``ami_id`` and ``region`` are validated before any AWS call (400 naming the field), then the
      metadata (``amis.metadata``), then the image (``ami_image_for_registration``).
    - Architecture, platform, owner account, creation date, root snapshots + root volume size,
      name, ENA, boot mode and IMDS support are recorded from AWS's answer, never from the caller.
    - 409 when the image is already registered (checked before and, against races, by the unique
      constraints at insert).
    - ``template``: a ``templates.Template`` or its slug/name (400 when unknown). ``category``
      defaults to the template's category.
    - ``signature``: a publisher signature, verified in the same transaction (422 with the precise
      failure code refuses the registration; nothing is stored).
    - ``lineage``: the name of one of the caller's lineages (created on first use) this image is
      version ``version`` of; the version must then be SemVer (400 naming ``lineage``/``version``,
      409 ``version_exists``; ``amis.lineages``).
    Creates the entry plus its source ``AMIRegion`` (``is_source``, ``available``), writes one
    ``ami.register`` audit event, sends ``ami_changed``. AWS errors: 503 (transient) / 502.
    """
    if not (user is not None and user.is_authenticated):
        raise Forbidden("sign in to register an AMI")
    ami_ids_check(ami_id=ami_id, region=region)
    values = metadata_clean(name=name, description=description, version=version, category=category, tags=tags,
                             visibility=visibility, template=template)
    line = lineage_request_clean(user=user, lineage=lineage, version=values["version"], template=values["template"])
    # AWS first, outside any transaction: no row lock is held across network I/O.
    image = ami_image_for_registration(user=user, region=region, ami_id=ami_id)
    try:
        with transaction.atomic():
            return ami_register_locked(user=user, image=image, region=region, values=values, signature=signature,
                                       lineage=line)
    except IntegrityError as exc:
        # Lost a race with a concurrent registration (of the same image, or of the same version of
        # the lineage): the constraints decide, and the check says which one was lost.
        if line is not None:
            lineage_request_clean(user=user, lineage=line.name, version=line.version, template=values["template"])
        raise Conflict(f"{ami_id} is already registered", code="already_registered") from exc


# --- Editing, deletion -----------------------------------------------------------------------------

@transaction.atomic
def ami_update(*, ami: AMI, user, **changes) -> AMI:
    """Edit an entry's descriptive metadata: ``name``, ``description``, ``tags``, ``category``, ``version``,
    and its research metadata (``doi``, ``authors``, ``papers``, ``datasets``, ``notebooks``,
    ``license``, ``funding``; rules in ``amis.research``, errors naming the field).

    Owner or moderator. Allowed while ``draft``, ``rejected`` (to fix and resubmit), ``approved``
    and ``deprecated``; 409 while ``pending_review`` (the moderator reviews a fixed text) and once
    ``revoked``. AWS-derived facts are not editable. Unknown keys → 400. One ``ami.update`` audit
    event with the changed fields before/after (nothing written when nothing changed).
    """
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
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
        **RESEARCH_CLEANERS,
    }
    before, after = {}, {}
    for field, value in changes.items():
        value = cleaners[field](value)
        if field == "version":
            value = version_update_check(ami=ami, version=value)
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
