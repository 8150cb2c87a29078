"""The submit wizard's services: check the source (step 1) and submit everything (the last step).

The page is ``registry.composers.wizard``; these are the catalogue's side, on top of the same
checks and services as the API (``ami_image_for_registration``, ``ami_create_request``, the copy
claim, ``ami_submit``), so the wizard can refuse nothing the API accepts and accept nothing it refuses.
"""
from __future__ import annotations

from django.db import IntegrityError, transaction

from amis.aws_copy import ami_copy_locked
from amis.aws_create import ami_create_request, instance_locate_owned, instance_require_running
from amis.metadata import regions_clean
from amis.models import AMI, Operation
from amis.services import ami_ids_check, ami_image_for_registration, ami_register_locked, ami_submit, metadata_clean
from registry.aws_images import root_volume_gb, tags_of
from registry.errors import Conflict, Forbidden

# The wizard's two ways in (its first step's ``mode``).
SOURCE_REGISTER = "register"
SOURCE_CREATE = "create"


def ami_source_check(*, user, mode: str, region: str, ami_id: str = "", instance_id: str = "") -> dict:
    """The wizard's first step: may this image be registered, or this instance imaged?

    Runs the very checks the services run at the end (``ami_image_for_registration``; the
    instance exists, is running and is the caller's) and returns what AWS says, to pre-fill the next step:
    ``{name, description, architecture, size_gb}``. Raises the services' errors, naming
    ``ami_id`` or ``instance_id``. The services check again at the end: AWS may change meanwhile.
    """
    if mode == SOURCE_REGISTER:
        image = ami_image_for_registration(user=user, region=region, ami_id=ami_id)
        return {"name": image.get("Name", ""), "description": image.get("Description", ""),
                "architecture": image.get("Architecture", ""), "size_gb": root_volume_gb(image)}
    _region, instance, _role = instance_locate_owned(user=user, ref=instance_id, region=region)
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
    ami_ids_check(ami_id=ami_id, region=region)
    values = metadata_clean(name=name, description=description, version=version, category=category, tags=tags,
                             visibility=visibility, template=template or None)
    copy_regions = regions_clean(list(copy_regions), field="regions")
    image = ami_image_for_registration(user=user, region=region, ami_id=ami_id)
    try:
        with transaction.atomic():
            ami = ami_register_locked(user=user, image=image, region=region, values=values, signature=None)
            if copy_regions:
                ami_copy_locked(ami=ami, user=user, regions=copy_regions)
            if submit:
                ami = ami_submit(ami=ami, user=user)
    except IntegrityError as exc:
        raise Conflict(f"{ami_id} is already registered", code="already_registered") from exc
    return ami, None
