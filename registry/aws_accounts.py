"""Whose AWS account is it: the links between users and the AWS accounts they publish from.

A user links an account by naming an IAM role in it that trusts the registry, with a per-link
external id; the link is *verified* when STS AssumeRole (with that external id) and
GetCallerIdentity with the temporary credentials prove the role acts in the account. From then on:

* images and instances owned by the account count as the user's (``amis.ownership``);
* every AWS action on the user's images runs in that account through the role
  (``account_role_for`` gives the gateway its ``registry.aws.AccountRole``);
* an account is verified by one publisher at most: another user's link to it is refused (403).

The claim tag (``claim_for``) is the other proof of control: an image or instance carrying
``cws-registry-claim=<the user's token>`` is the user's, whoever's account it is in (unless
another publisher verified that account).

Kernel module: the gateway, amis (ownership, lifecycle) and sharing (grants) all read it, and it
imports no app. The REST interface is ``registry.aws_accounts_api``.
"""
from __future__ import annotations

import re
import secrets

from django.core.signing import salted_hmac
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry import aws
from registry.audit import audit_record
from registry.errors import ApplicationError, Forbidden, InvalidInput, NotFound
from registry.models import AwsAccountLink

CLAIM_TAG_KEY = "cws-registry-claim"
# What AWS accepts as an ExternalId (2–1224 characters of this set).
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


# --- the claim tag ---------------------------------------------------------------------------------

def claim_for(*, user) -> dict:
    """The user's claim tag: ``{"key": "cws-registry-claim", "value": <token>}``.

    The value is an HMAC of the user's id under the site's secret key: stable per user (the CLI
    and the user's own tooling tag with it), unguessable by anyone else, and nothing is stored.
    """
    value = salted_hmac("registry.aws_accounts.claim", str(user.pk), algorithm="sha256").hexdigest()[:40]
    return {"key": CLAIM_TAG_KEY, "value": f"cwsc-{value}"}


def claim_matches(*, user, tags: dict) -> bool:
    """Whether AWS's tags of an image/instance (``{key: value}``) carry ``user``'s claim tag."""
    return bool(user is not None and getattr(user, "is_authenticated", False)
                and secrets.compare_digest(str(tags.get(CLAIM_TAG_KEY, "")), claim_for(user=user)["value"]))


# --- reads -------------------------------------------------------------------------------------------

def aws_accounts_of(*, user):
    """The user's links (verified or not), oldest account id first."""
    return AwsAccountLink.objects.filter(user=user).order_by("account_id")


def aws_accounts_verified(*, user) -> list[str]:
    """The account ids ``user`` has verified."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return list(AwsAccountLink.objects.filter(user=user, verified_at__isnull=False)
                .values_list("account_id", flat=True))


def aws_account_verifier(*, account_id: str):
    """The verified link of ``account_id`` (whoever made it), or None."""
    return AwsAccountLink.objects.select_related("user").filter(account_id=account_id,
                                                                verified_at__isnull=False).first()


def role_of(link: AwsAccountLink) -> aws.AccountRole:
    return aws.AccountRole(account_id=link.account_id, role_arn=link.role_arn, external_id=link.external_id)


def account_role_for(account_id: str) -> aws.AccountRole | None:
    """Which credentials act on an image owned by ``account_id``.

    The verified link's role when someone verified the account; None (the registry's own
    credentials) for the registry's own account and for entries that name no account (made
    before accounts were linked). Any other account: ``AwsPermanentError`` (code
    ``AccountNotLinked``) — the registry has no business acting there.
    """
    if not account_id:
        return None
    link = aws_account_verifier(account_id=account_id)
    if link is not None:
        return role_of(link)
    if account_id in aws.registry_account_ids():
        return None
    raise aws.AwsPermanentError(f"AWS account {account_id} is not linked to the registry: its owner must link "
                                f"it (POST /api/v1/me/aws-accounts) before the registry can act on its images",
                                code="AccountNotLinked")


def roles_of(*, user) -> list[aws.AccountRole]:
    """Roles of every account ``user`` verified (where their instances and images are looked up)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return [role_of(link) for link in AwsAccountLink.objects.filter(user=user, verified_at__isnull=False)
            .order_by("account_id")]


# --- writes ------------------------------------------------------------------------------------------

def _verify(link: AwsAccountLink) -> tuple[bool, str]:
    """AssumeRole + GetCallerIdentity (no database transaction is open here)."""
    try:
        acting_in = aws.role_identity(role_of(link))
    except aws.AwsTransientError as exc:
        raise ApplicationError(f"AWS did not answer, try again: {exc.message}", code="aws_unavailable",
                               status_code=503) from exc
    except aws.AwsError as exc:
        return False, f"cannot assume {link.role_arn} with this link's external id: {exc.message}"
    if acting_in != link.account_id:
        return False, f"the role acts in account {acting_in or '?'}, not {link.account_id}"
    return True, ""


def _refuse_verified_elsewhere(*, user, account_id: str) -> None:
    other = aws_account_verifier(account_id=account_id)
    if other is not None and other.user_id != user.pk:
        raise Forbidden(f"AWS account {account_id} is already verified by another publisher",
                        code="account_verified_by_another_publisher", extra={"account_id": account_id})


def aws_account_link(*, user, role_arn: str, external_id: str = "") -> tuple[AwsAccountLink, bool]:
    """Link (or re-link) the AWS account of ``role_arn`` to ``user`` and try to verify it.

    Called by ``POST /api/v1/me/aws-accounts`` and the demo seeder. ``external_id`` is generated
    when not given (the user then puts it into the role's trust policy and verifies again).
    Verification (AssumeRole with the external id, then GetCallerIdentity) runs outside any
    transaction; the link is saved verified or not (``last_error`` says why). Refused with 403 when
    another publisher verified the account, 400 for a malformed ARN or external id, 503 when STS
    does not answer. Audited ``aws_account.link`` and ``aws_account.verify``. Returns
    ``(link, created)``.
    """
    match = aws.ROLE_ARN_RE.match(role_arn or "")
    if not match:
        raise InvalidInput("role_arn must be an IAM role ARN such as arn:aws:iam::123456789012:role/cws-registry",
                           errors={"role_arn": ["Must look like arn:aws:iam::123456789012:role/NAME."]})
    external_id = (external_id or "").strip() or secrets.token_urlsafe(24)
    if not EXTERNAL_ID_RE.match(external_id):
        raise InvalidInput("external_id must be 2–1224 letters, digits or +=,.@:/-_",
                           errors={"external_id": ["2–1224 characters: letters, digits and +=,.@:/-_ only."]})
    account_id = match.group(1)
    _refuse_verified_elsewhere(user=user, account_id=account_id)
    with transaction.atomic():
        link, created = AwsAccountLink.objects.select_for_update().get_or_create(
            user=user, account_id=account_id, defaults={"role_arn": role_arn, "external_id": external_id})
        if not created and (link.role_arn, link.external_id) != (role_arn, external_id):
            link.role_arn, link.external_id, link.verified_at = role_arn, external_id, None
            link.save(update_fields=["role_arn", "external_id", "verified_at", "updated_at"])
        audit_record(actor=user, action="aws_account.link", target=link,
                     after={"account_id": account_id, "role_arn": role_arn, "created": created})
    return aws_account_verify(user=user, account_id=account_id), created


def aws_account_verify(*, user, account_id: str) -> AwsAccountLink:
    """(Re-)verify one of ``user``'s links: AssumeRole with its external id + GetCallerIdentity.

    404 for an account the user has not linked; 403 when another publisher verified it meanwhile
    (the partial unique constraint decides a race). The outcome is saved (``verified_at`` or
    ``last_error``) and audited ``aws_account.verify``. Idempotent.
    """
    link = AwsAccountLink.objects.filter(user=user, account_id=account_id).first()
    if link is None:
        raise NotFound(f"AWS account {account_id} is not linked to you")
    _refuse_verified_elsewhere(user=user, account_id=account_id)
    ok, error = _verify(link)
    try:
        with transaction.atomic():
            fresh = AwsAccountLink.objects.select_for_update().filter(pk=link.pk).first()
            if fresh is None or (fresh.role_arn, fresh.external_id) != (link.role_arn, link.external_id):
                raise ApplicationError("the link changed while it was verified: try again", code="conflict",
                                       status_code=409)
            fresh.verified_at = (fresh.verified_at or timezone.now()) if ok else None
            fresh.last_error = error[:4000]
            fresh.save(update_fields=["verified_at", "last_error", "updated_at"])
            audit_record(actor=user, action="aws_account.verify", target=fresh,
                         after={"account_id": account_id, "verified": ok, "error": error})
    except IntegrityError as exc:
        raise Forbidden(f"AWS account {account_id} is already verified by another publisher",
                        code="account_verified_by_another_publisher", extra={"account_id": account_id}) from exc
    return fresh


@transaction.atomic
def aws_account_unlink(*, user, account_id: str) -> None:
    """Forget one of ``user``'s links (404 when there is none). Entries owned by the account stay
    listed, but the registry can no longer act on them in AWS until the account is linked again.
    Audited ``aws_account.unlink``."""
    link = AwsAccountLink.objects.select_for_update().filter(user=user, account_id=account_id).first()
    if link is None:
        raise NotFound(f"AWS account {account_id} is not linked to you")
    audit_record(actor=user, action="aws_account.unlink", target=link,
                 before={"account_id": account_id, "role_arn": link.role_arn, "verified": link.verified})
    link.delete()
