"""Whose image is it: the one rule deciding whether a caller may register an image or image an
instance, and which credentials act on an entry in AWS afterwards.

An image (an instance) is the caller's when AWS says it is owned by one of the caller's verified
accounts (``registry.aws_accounts``), or when it carries the caller's claim tag
(``cws-registry-claim=<token>``, ``GET /api/v1/me/claim``). Refused with 403 and the reason:

* images owned by Amazon or the Marketplace (``ImageOwnerAlias`` amazon / aws-marketplace);
* anything in an account another publisher verified (their tag-writing colleagues included: the
  registry would act there with that publisher's role);
* anything else without the claim tag (code ``claim_required``, which ``cws ami register``
  answers by offering to tag the image).

An image already in the catalogue is a 409 for everyone (``ami_register``'s check, made first).

Every path that registers or images calls this module: ``ami_register`` and the wizard (through
``ami_image_for_registration``), ``ami_create_request`` (``POST /ami/create``, create-multi, the
wizard). The lifecycle (``amis.aws_*``, ``sharing.aws_sync``) asks ``ami_role`` for the
credentials of the entry's owning account.
"""
from __future__ import annotations

from amis.models import AMI
from registry import aws
from registry.aws_accounts import (CLAIM_TAG_KEY, account_role_for, aws_account_verifier, aws_accounts_verified,
                                   claim_matches, roles_of)
from registry.aws_images import tags_of
from registry.errors import ApplicationError, Forbidden

# ``ImageOwnerAlias`` values of images nobody in the registry can own.
VENDOR_ALIASES = frozenset({"amazon", "aws-marketplace"})


def ami_role(ami: AMI) -> aws.AccountRole | None:
    """The credentials that act on ``ami`` in AWS: its owning account's linked role, or the
    registry's own for images the registry owns (raises ``AwsPermanentError`` otherwise)."""
    return account_role_for(ami.owner_account_id or "")


def candidate_roles(user) -> list[aws.AccountRole | None]:
    # The caller's own accounts first (an image or instance there is visible through its role),
    # then the registry's own view (its images, and images shared with or public to it).
    return [*roles_of(user=user), None]


def _unavailable(exc: aws.AwsError) -> ApplicationError:
    return ApplicationError(f"AWS did not answer, try again: {exc.message}", code="aws_unavailable", status_code=503)


def image_locate(*, user, region: str, ami_id: str) -> tuple[dict | None, aws.AccountRole | None]:
    """DescribeImages' answer for ``ami_id`` as the first of the caller's accounts (then the
    registry) sees it, with the credentials that saw it; ``(None, None)`` when none does."""
    for role in candidate_roles(user):
        try:
            image = aws.describe_image(region, ami_id, role=role)
        except aws.AwsTransientError as exc:
            raise _unavailable(exc) from exc
        except aws.AwsPermanentError:
            continue  # e.g. a linked role that can no longer be assumed: look elsewhere
        if image is not None:
            return image, role
    return None, None


def _require_owner(*, user, owner: str, tags: dict, what: str, alias: str = "") -> str:
    if alias in VENDOR_ALIASES:
        raise Forbidden(f"{what} is owned by {alias} ({owner}): only images from your own AWS accounts can "
                        f"be registered", code="vendor_image", extra={"owner_account_id": owner})
    if owner and owner in aws_accounts_verified(user=user):
        return owner
    verifier = aws_account_verifier(account_id=owner) if owner else None
    if verifier is not None and verifier.user_id != getattr(user, "pk", None):
        raise Forbidden(f"{what} is in AWS account {owner}, which another publisher has verified",
                        code="account_of_another_publisher", extra={"owner_account_id": owner})
    if claim_matches(user=user, tags=tags):
        return owner
    raise Forbidden(f"{what} is in AWS account {owner or '?'}, which you have not linked: link the account "
                    f"(POST /api/v1/me/aws-accounts) or tag it with your claim tag {CLAIM_TAG_KEY}=<value of "
                    f"GET /api/v1/me/claim>", code="claim_required", extra={"owner_account_id": owner})


def image_require_owner(*, user, image: dict) -> str:
    """403 with the reason unless ``image`` (DescribeImages' answer) is the caller's; returns the
    owning account id."""
    return _require_owner(user=user, owner=image.get("OwnerId") or "", tags=tags_of(image),
                          what=f"image {image.get('ImageId', '')}", alias=image.get("ImageOwnerAlias") or "")


def instance_require_owner(*, user, instance: dict) -> str:
    """403 with the reason unless ``instance`` (DescribeInstances' entry with its reservation's
    ``OwnerId``, ``amis.aws_create.instance_locate_owned``) is the caller's;
    returns the owning account id."""
    return _require_owner(user=user, owner=instance.get("OwnerId") or "", tags=tags_of(instance),
                          what=f"instance {instance.get('InstanceId', '')}")


def ami_in_own_account(*, user, ami: AMI) -> bool:
    """Whether ``ami`` lives in one of ``user``'s verified accounts (not merely claimed by tag)."""
    return bool(ami.owner_account_id) and ami.owner_account_id in aws_accounts_verified(user=user)


def ami_require_own_account(*, user, ami: AMI) -> None:
    """Launch permissions to outside accounts, organizations and OUs are granted only for images
    in the caller's own verified accounts (403 otherwise): the registry acts there through the
    caller's own role, never through its own credentials or another publisher's."""
    account_require_own(user=user, account_id=ami.owner_account_id or "", what=ami.ami_id)


def account_require_own(*, user, account_id: str, what: str) -> None:
    """``ami_require_own_account``'s rule for an image not made yet (grants asked for at create)."""
    if not (account_id and account_id in aws_accounts_verified(user=user)):
        raise Forbidden(f"AWS launch permissions can be granted only for images in your own verified AWS "
                        f"accounts; {what} is in account {account_id or '?'}",
                        code="not_in_your_account", extra={"owner_account_id": account_id})


def ami_owner_account_verified_by(ami: AMI) -> str | None:
    """Who verified the entry's owning account (a username), or None: claimed by tag only, the
    registry's own, or nobody's any more. Shown to moderators on the submission."""
    link = aws_account_verifier(account_id=ami.owner_account_id) if ami.owner_account_id else None
    return link.user.get_username() if link is not None else None
