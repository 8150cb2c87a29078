"""How an image enters the catalogue from the outside: registering an existing AWS image
(``POST /amis/``, the demo seeder) and the submit wizard's steps (check the source, then register
or create, copy and submit in one go).

The checks of an image to register live in one function, ``ami_image_for_registration``, used by
the registration itself and by the wizard's first step, so the wizard never accepts an id the
service would refuse three steps later. The facts recorded come from AWS's answer, through
``registry.aws_images.image_facts`` (the create worker records them the same way).
"""
from __future__ import annotations

from django.db import IntegrityError, transaction

from amis.aws_copy import ami_copy_locked
from amis.aws_create import ami_create_request, instance_describe, instance_require_running
from amis.metadata import CATEGORY_MAX, DESCRIPTION_MAX, NAME_MAX, VERSION_MAX, regions_clean, tags_clean, text_clean
from amis.models import AMI, AMIRegion, Operation
from amis.selectors import ami_is_registered
from amis.services import ami_submit
from amis.signals import ami_changed_notify
from amis.signatures import ami_signature_require_valid
from registry import aws
from registry.audit import audit_record
from registry.aws_images import image_facts, root_volume_gb, tags_of
from registry.errors import ApplicationError, Conflict, Forbidden, InvalidInput
from templates.selectors import template_get

# The wizard's two ways in (its first step's ``mode``).
SOURCE_REGISTER = "register"
SOURCE_CREATE = "create"


def _aws_unavailable(exc: aws.AwsError) -> ApplicationError:
    if isinstance(exc, aws.AwsTransientError):
        return ApplicationError(f"AWS did not answer ({exc.code or 'error'}): try again later",
                                code="aws_unavailable", status_code=503)
    return ApplicationError(f"AWS refused the request ({exc.code or 'error'}): {exc.message}",
                            code="aws_error", status_code=502)


def _ids_check(*, ami_id, region) -> None:
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


def ami_image_for_registration(*, region: str, ami_id: str) -> dict:
    """DescribeImages' answer for an image that may be registered, or the reason it may not.

    400 for a malformed id or unknown region, 409 when the image is already in the catalogue
    (canonically or as a regional copy), 400 when AWS does not know it, it is not ``available``
    or its architecture is not one the catalogue lists; 503/502 when AWS fails. Every error names
    the ``ami_id`` field. Makes the one AWS call outside any transaction.
    """
    _ids_check(ami_id=ami_id, region=region)
    _not_yet_registered(ami_id)
    try:
        image = aws.describe_image(region, ami_id)
    except aws.AwsError as exc:
        raise _aws_unavailable(exc) from exc
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


def _metadata_clean(*, name, description, version, category, tags, visibility, template) -> dict:
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


def _entry_create(*, user, image: dict, region: str, values: dict, signature: str | None) -> AMI:
    """The entry and its source-region row, audited; inside the caller's transaction."""
    facts = image_facts(image)
    ami = AMI.objects.create(ami_id=image["ImageId"], source_region=region, creator=user, status=AMI.Status.DRAFT,
                             **values, **facts)
    AMIRegion.objects.create(ami=ami, region=region, image_id=ami.ami_id, state=AMIRegion.State.AVAILABLE,
                             is_source=True)
    audit_record(actor=user, action="ami.register", target=ami,
                 after={"status": ami.status, "ami_id": ami.ami_id, "region": region,
                        "visibility": ami.visibility, "architecture": facts["architecture"],
                        "owner_account_id": facts["owner_account_id"]})
    if signature:
        # The manifest is rebuilt from the answer just fetched: no second AWS call in the transaction.
        ami_signature_require_valid(ami=ami, signature=signature, user=user, image=image)
    ami_changed_notify(ami_id=ami.pk)
    return ami


def ami_register(*, user, ami_id: str, region: str, name: str, description: str = "", template=None,
                 version: str = "", category: str = "", tags: dict | list | None = None,
                 visibility: str = AMI.Visibility.PRIVATE, signature: str | None = None) -> AMI:
    """Register an existing AWS image as a ``draft`` catalogue entry owned by ``user``.

    Called by ``POST /api/v1/amis/`` and the demo seeder (the wizard goes through
    ``ami_submit_from_wizard``).

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
    Creates the entry plus its source ``AMIRegion`` (``is_source``, ``available``), writes one
    ``ami.register`` audit event, sends ``ami_changed``. AWS errors: 503 (transient) / 502.
    """
    if not (user is not None and user.is_authenticated):
        raise Forbidden("sign in to register an AMI")
    _ids_check(ami_id=ami_id, region=region)
    values = _metadata_clean(name=name, description=description, version=version, category=category, tags=tags,
                             visibility=visibility, template=template)
    # AWS first, outside any transaction: no row lock is held across network I/O.
    image = ami_image_for_registration(region=region, ami_id=ami_id)
    try:
        with transaction.atomic():
            return _entry_create(user=user, image=image, region=region, values=values, signature=signature)
    except IntegrityError as exc:
        # Lost a race with a concurrent registration of the same image: the constraints decide.
        raise Conflict(f"{ami_id} is already registered", code="already_registered") from exc


# --- the submit wizard -----------------------------------------------------------------------------

def ami_source_check(*, mode: str, region: str, ami_id: str = "", instance_id: str = "") -> dict:
    """The wizard's first step: may this image be registered, or this instance imaged?

    Runs the very checks the services run at the end (``ami_image_for_registration``; the
    instance exists and is running) and returns what AWS says, to pre-fill the next step:
    ``{name, description, architecture, size_gb}``. Raises the services' errors, naming
    ``ami_id`` or ``instance_id``. The services check again at the end: AWS may change meanwhile.
    """
    if mode == SOURCE_REGISTER:
        image = ami_image_for_registration(region=region, ami_id=ami_id)
        return {"name": image.get("Name", ""), "description": image.get("Description", ""),
                "architecture": image.get("Architecture", ""), "size_gb": root_volume_gb(image)}
    instance = instance_describe(region=region, instance_id=instance_id)
    instance_require_running(instance)
    return {"name": tags_of(instance).get("Name", ""), "description": "",
            "architecture": instance.get("Architecture", ""), "size_gb": None}


def ami_submit_from_wizard(*, user, mode: str, region: str, ami_id: str = "", instance_id: str = "", name: str,
                           description: str = "", template: str = "", category: str = "", version: str = "",
                           tags: dict | None = None, visibility: str = AMI.Visibility.PRIVATE,
                           copy_regions: list[str] = (), submit: bool = False) -> tuple[AMI | None, Operation | None]:
    """The wizard's last step: register (or start creating) the image, queue the copies to
    ``copy_regions`` and, when ``submit``, send it to the moderators.

    Registering runs as one transaction (one audit trail: ``ami.register``, ``ami.copy_requested``,
    ``ami.submit``): if any part is refused, nothing is written. Creating from an instance makes
    the entry only once AWS has answered CreateImage (possibly later, on a worker); then the
    entry (``ami``) is None and the owner submits it from its page when it is ready. Returns
    ``(ami, create operation or None)``.
    """
    if mode == SOURCE_CREATE:
        op = ami_create_request(user=user, instance_id=instance_id, region=region, template_name=template or "",
                                name=name, description=description, version=version, tags=tags,
                                public=visibility == AMI.Visibility.PUBLIC, multi_region=list(copy_regions))
        op.refresh_from_db()
        ami = op.ami
        if submit and ami is not None:
            ami = ami_submit(ami=ami, user=user)
        return ami, op
    if not (user is not None and user.is_authenticated):
        raise Forbidden("sign in to register an AMI")
    _ids_check(ami_id=ami_id, region=region)
    values = _metadata_clean(name=name, description=description, version=version, category=category, tags=tags,
                             visibility=visibility, template=template or None)
    copy_regions = regions_clean(list(copy_regions), field="regions")
    image = ami_image_for_registration(region=region, ami_id=ami_id)
    try:
        with transaction.atomic():
            ami = _entry_create(user=user, image=image, region=region, values=values, signature=None)
            if copy_regions:
                ami_copy_locked(ami=ami, user=user, regions=copy_regions)
            if submit:
                ami = ami_submit(ami=ami, user=user)
    except IntegrityError as exc:
        raise Conflict(f"{ami_id} is already registered", code="already_registered") from exc
    return ami, None
