"""Sharing use-cases: grants of an AMI to AWS accounts, organizations, OUs, users, communities.

The database is the source of truth for *who may see* an entry in the registry
(``amis.selectors.ami_visibility_q`` joins on ``Share.user`` / ``Share.community``). AWS launch
permissions for the AWS grantee types are made to match by a worker (``sharing.aws_sync``, queued
through ``sharing.sync``), after commit — never inside the request.
"""
from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from amis.models import AMI
from amis.ownership import ami_require_own_account
from amis.selectors import MODERATED_VISIBILITIES, ami_require_manage
from registry import aws
from registry.audit import audit_record
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.models import Community
from sharing import sync
from sharing.models import Share

GT = Share.GranteeType

# Text checks per AWS grantee type (regexes are the one definition in registry/aws.py).
_AWS_FORMATS = {
    GT.ACCOUNT: (aws.ACCOUNT_ID_RE, "a 12-digit AWS account id"),
    GT.ORGANIZATION: (aws.ORGANIZATION_ARN_RE, "an AWS organization ARN "
                                               "(arn:aws:organizations::123456789012:organization/o-…)"),
    GT.ORGANIZATIONAL_UNIT: (aws.OU_ARN_RE, "an AWS organizational unit ARN "
                                           "(arn:aws:organizations::123456789012:ou/o-…/ou-…)"),
}


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", errors={field: [message]})


def _lock(ami: AMI) -> AMI:
    # Serialises grant changes with each other and with lifecycle transitions (ami_revoke locks
    # the same row), so a grant can never be added to an entry that is being revoked.
    locked = AMI.objects.select_for_update().filter(pk=ami.pk).first()
    if locked is None:
        raise NotFound("AMI not found.")
    return locked


def _resolve_grantee(*, ami: AMI, grantee_type: str, grantee: str) -> tuple[str, dict]:
    """Validate ``grantee`` for its type → (canonical grantee text, resolved FK fields)."""
    if grantee_type in _AWS_FORMATS:
        regex, what = _AWS_FORMATS[grantee_type]
        if not regex.match(grantee):
            raise _invalid("grantee", f"Must be {what}.")
        return grantee, {}
    if grantee_type == GT.USER:
        target = get_user_model().objects.filter(username=grantee, is_active=True).first()
        if target is None:
            raise _invalid("grantee", f"No user named '{grantee}'.")
        if ami.creator_id == target.pk:
            raise _invalid("grantee", "The owner already has access to their own AMI.")
        return target.get_username(), {"user": target}
    if grantee_type == GT.COMMUNITY:
        community = Community.objects.filter(slug__iexact=grantee).first()
        if community is None:
            raise _invalid("grantee", f"No community with slug '{grantee}'.")
        if community.is_default and ami.visibility not in MODERATED_VISIBILITIES:
            # Every user belongs to a default community: a grant to it is a listing for all, which
            # only a moderator may allow (the sharing rule, amis.selectors.ami_requires_moderation).
            raise _invalid("grantee", f"'{community.slug}' includes every user: submit the AMI with "
                                      "community or public visibility for a moderator's review instead.")
        return community.slug, {"community": community}
    raise _invalid("grantee_type", f"Must be one of: {', '.join(GT.values)}.")


@transaction.atomic
def share_create(*, ami: AMI, user, grantee_type: str, grantee: str,
                 permission: str = Share.Permission.LAUNCH) -> Share:
    """Grant ``ami`` to an AWS account / organization / OU, a registry user or a community.

    Caller: the owner or a moderator (else ``Forbidden``); grants to AWS accounts, organizations
    and OUs only for images in the caller's own verified accounts (``Forbidden``,
    ``amis.ownership.ami_require_own_account``). Raises ``InvalidInput`` naming the field
    (unknown type or permission, malformed id/ARN, unknown user or community), ``Conflict`` for a
    duplicate grant or a revoked AMI. User and community grants take effect at once
    (``sync_state=synced``: the registry itself enforces them). AWS grants start ``pending`` and
    the launch-permission sync is queued after commit. Audited as ``share.create``.
    """
    ami_require_manage(user=user, ami=ami, message="only the owner or a moderator may share this AMI")
    if grantee_type not in GT.values:
        raise _invalid("grantee_type", f"Must be one of: {', '.join(GT.values)}.")
    if not isinstance(grantee, str) or not grantee.strip():
        raise _invalid("grantee", "This field is required.")
    grantee = grantee.strip()
    if permission not in Share.Permission.values:
        raise _invalid("permission", f"Must be one of: {', '.join(Share.Permission.values)}.")
    ami = _lock(ami)
    if ami.status == AMI.Status.REVOKED:
        raise Conflict("a revoked AMI cannot be shared", code="ami_revoked", extra={"current_status": ami.status})
    if grantee_type in Share.AWS_GRANTEE_TYPES:
        ami_require_own_account(user=user, ami=ami)
    grantee, targets = _resolve_grantee(ami=ami, grantee_type=grantee_type, grantee=grantee)
    if Share.objects.filter(ami=ami, grantee_type=grantee_type, grantee=grantee).exists():
        raise Conflict(f"this AMI is already shared with {grantee_type} '{grantee}'", code="duplicate_share")

    registry_side = grantee_type not in Share.AWS_GRANTEE_TYPES
    now = timezone.now()
    try:
        with transaction.atomic():  # savepoint: keep the outer transaction usable on a race
            share = Share.objects.create(
                ami=ami, grantee_type=grantee_type, grantee=grantee, permission=permission, created_by=user,
                sync_state=Share.SyncState.SYNCED if registry_side else Share.SyncState.PENDING,
                synced_at=now if registry_side else None, **targets)
    except IntegrityError:
        # Only reachable if a writer skipped the AMI lock; the unique constraint is the truth.
        raise Conflict(f"this AMI is already shared with {grantee_type} '{grantee}'", code="duplicate_share")
    audit_record(actor=user, action="share.create", target=share,
                 after={"grantee_type": grantee_type, "grantee": grantee, "permission": permission,
                        "sync_state": share.sync_state, "asked_by": user.get_username(),
                        "owner_account_id": ami.owner_account_id})
    if not registry_side:
        sync.share_sync_enqueue(share_id=share.pk)  # defers to on_commit
    return share


@transaction.atomic
def share_delete(*, share: Share, user) -> None:
    """Withdraw a grant; access through it ends at commit.

    Caller: the owner or a moderator (else ``Forbidden``); ``NotFound`` when the grant is already
    gone. The row is deleted in every case; for AWS grantee types the launch-permission removal
    is queued after commit and works from (ami, grantee_type, grantee), not from the row.
    Audited as ``share.delete``.
    """
    ami = _lock(share.ami)
    ami_require_manage(user=user, ami=ami, message="only the owner or a moderator may change the grants of this AMI")
    share = Share.objects.select_for_update().filter(pk=share.pk, ami=ami).first()
    if share is None:
        raise NotFound("grant not found")
    # Audit before delete(): Django clears the pk of a deleted instance.
    audit_record(actor=user, action="share.delete", target=share,
                 before={"grantee_type": share.grantee_type, "grantee": share.grantee,
                         "permission": share.permission, "sync_state": share.sync_state})
    grantee_type, grantee = share.grantee_type, share.grantee
    share.delete()
    if grantee_type in Share.AWS_GRANTEE_TYPES:
        sync.share_removal_enqueue(ami_id=ami.pk, grantee_type=grantee_type, grantee=grantee)


def shares_create_requested(*, ami: AMI, user, accounts: list[str], community: str = "") -> list[Share]:
    """The grants a creator asked for when creating an AMI from an instance (``share_with``
    account ids, a community slug), each through ``share_create`` — validated and audited like any
    other grant. A grant that already exists is left as it is (the create job may run twice)."""
    wanted = [(Share.GranteeType.ACCOUNT, account) for account in accounts]
    if community:
        wanted.append((Share.GranteeType.COMMUNITY, community))
    created = []
    for grantee_type, grantee in wanted:
        try:
            created.append(share_create(ami=ami, user=user, grantee_type=grantee_type, grantee=grantee))
        except Conflict as exc:
            if exc.code != "duplicate_share":
                raise
        except Forbidden as exc:
            # The request was checked (``ami_create_request``); the link may have gone since.
            audit_record(actor=user, action="share.refused", target=ami,
                         after={"grantee_type": grantee_type, "grantee": grantee}, reason=exc.message)
    return created


def shares_refresh_stale(*, older_than_seconds: int = 600, limit: int = 100) -> list[int]:
    """Beat job: re-enqueue AWS grants left ``pending`` (a lost message, a dead worker).

    Rows are claimed with ``skip_locked`` so overlapping runs never pick the same grant; the sync
    itself is idempotent, so a grant that was in fact being synced is merely checked again.
    """
    threshold = timezone.now() - timedelta(seconds=older_than_seconds)
    with transaction.atomic():
        ids = list(Share.objects.select_for_update(skip_locked=True)
                   .filter(sync_state=Share.SyncState.PENDING, grantee_type__in=Share.AWS_GRANTEE_TYPES,
                           updated_at__lt=threshold).values_list("pk", flat=True)[:limit])
        Share.objects.filter(pk__in=ids).update(updated_at=timezone.now())
        for share_id in ids:
            sync.share_sync_enqueue(share_id=share_id)
    return ids


def on_grants_requested(sender, ami, user, accounts, community="", **kwargs) -> None:
    """Receiver of ``amis.signals.ami_grants_requested`` (connected in ``sharing.apps``)."""
    shares_create_requested(ami=ami, user=user, accounts=accounts, community=community)
