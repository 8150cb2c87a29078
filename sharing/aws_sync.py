"""The AWS side of sharing: launch permissions (and snapshot volume permissions) in every region
where the entry has an available copy, made to match the ``Share`` rows.

Called by the sharing tasks (a grant added or withdrawn) and by the catalogue's signals: a new
copy became available (``amis.signals.ami_copy_available`` → every AWS grant is applied there
too) and the revoke worker withdrew every permission (``ami_launch_permissions_withdrawn``).
Idempotent: current permissions are read before anything is changed. No AWS call is made inside
a database transaction.
"""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from amis.models import AMI
from amis.ownership import ami_in_own_account, ami_role
from amis.selectors import ami_available_copies, ami_live_copies
from registry import aws
from registry.audit import audit_record
from registry.aws_images import snapshot_ids
from sharing.models import Share

# Grantee type → the key of AWS's LaunchPermission entry.
PERMISSION_KEY = {Share.GranteeType.ACCOUNT: "UserId", Share.GranteeType.ORGANIZATION: "OrganizationArn",
                  Share.GranteeType.ORGANIZATIONAL_UNIT: "OrganizationalUnitArn"}


def _snapshot_permission(region: str, image_id: str, account: str, *, add: bool,
                         role: aws.AccountRole | None) -> None:
    image = aws.describe_image(region, image_id, role=role) or {}
    for snap in snapshot_ids(image):
        current = aws.call(region, "ec2", "describe_snapshot_attribute", role=role, SnapshotId=snap,
                           Attribute="createVolumePermission").get("CreateVolumePermissions", [])
        present = any(p.get("UserId") == account for p in current)
        if present != add:
            aws.call(region, "ec2", "modify_snapshot_attribute", role=role, SnapshotId=snap, Attribute="createVolumePermission",
                     OperationType="add" if add else "remove", UserIds=[account])


def share_apply(*, share_id: int) -> Share | None:
    """Make AWS match one grant: launch permission in every region with an available copy.

    Idempotent (current permissions are read first). Account grants with ``launch_and_copy`` also
    get ``createVolumePermission`` on the snapshots (AWS offers that to accounts only). Registry-side
    grants (user, community) need no AWS change. Ends ``synced`` with ``synced_regions``, or
    ``failed`` with the per-region errors; throttling propagates for the task to retry.
    Audited ``share.sync_synced`` / ``share.sync_failed``.
    """
    share = Share.objects.select_related("ami", "created_by").filter(pk=share_id).first()
    if share is None or share.sync_state == Share.SyncState.REMOVING:
        return share
    if share.grantee_type not in PERMISSION_KEY:
        Share.objects.filter(pk=share.pk).update(sync_state=Share.SyncState.SYNCED, sync_error="",
                                                 synced_at=timezone.now())
        return share
    if share.ami.status == AMI.Status.REVOKED:
        Share.objects.filter(pk=share.pk).update(sync_state=Share.SyncState.FAILED, sync_error="the AMI is revoked")
        return share
    key = PERMISSION_KEY[share.grantee_type]
    synced, errors = [], []
    # Applied only while whoever asked still has the image's account verified: the grant acts
    # through their role, in their account.
    if not ami_in_own_account(user=share.created_by, ami=share.ami):
        errors.append(f"not applied: {share.ami.ami_id} is not in a verified AWS account of "
                      f"{share.created_by.get_username() if share.created_by else 'whoever asked'}")
        copies = []
    else:
        copies = ami_available_copies(ami_id=share.ami_id)
    try:
        role = ami_role(share.ami) if copies else None
    except aws.AwsPermanentError as exc:
        errors.append(exc.message)
        copies = []
    for region, image_id in copies:
        try:
            current = aws.launch_permission_accounts(region, image_id, role=role)
            if share.grantee not in current.get(key, set()):
                aws.call(region, "ec2", "modify_image_attribute", role=role, ImageId=image_id,
                         LaunchPermission={"Add": [{key: share.grantee}]})
            if share.grantee_type == Share.GranteeType.ACCOUNT and share.permission == Share.Permission.LAUNCH_AND_COPY:
                _snapshot_permission(region, image_id, share.grantee, add=True, role=role)
            synced.append(region)
        except aws.AwsTransientError:
            raise
        except aws.AwsError as exc:
            errors.append(f"{region}: {exc.message}")
    with transaction.atomic():
        state = "failed" if errors else "synced"  # a plain str: it also names the audit action
        Share.objects.filter(pk=share.pk).exclude(sync_state=Share.SyncState.REMOVING).update(
            sync_state=state, sync_error="; ".join(errors)[:4000], synced_regions=synced,
            synced_at=timezone.now() if not errors else share.synced_at, updated_at=timezone.now())
        audit_record(actor=None, action=f"share.sync_{state}", target=share,
                     after={"synced_regions": synced, "errors": errors, "grantee": share.grantee,
                            "asked_by": share.created_by.get_username() if share.created_by else "",
                            "owner_account_id": share.ami.owner_account_id})
    return share


def share_unapply(*, ami_pk, grantee_type: str, grantee: str) -> list[str]:
    """Remove a deleted grant's launch permission from every regional copy (idempotent).

    Skipped when an identical grant exists again (re-granted meanwhile). Returns the regions
    where a permission was actually removed.
    """
    if grantee_type not in PERMISSION_KEY:
        return []
    if Share.objects.filter(ami_id=ami_pk, grantee_type=grantee_type, grantee=grantee).exclude(
            sync_state=Share.SyncState.REMOVING).exists():
        return []
    key = PERMISSION_KEY[grantee_type]
    removed = []
    copies = ami_live_copies(ami_id=ami_pk)
    ami = AMI.objects.filter(pk=ami_pk).first() if copies else None
    role = ami_role(ami) if ami is not None else None  # withdrawing acts in the entry's account too
    for region, image_id in copies.items():
        try:
            current = aws.launch_permission_accounts(region, image_id, role=role)
        except aws.AwsNotFound:
            continue
        if grantee in current.get(key, set()):
            aws.call(region, "ec2", "modify_image_attribute", role=role, ImageId=image_id,
                     LaunchPermission={"Remove": [{key: grantee}]})
            removed.append(region)
        if grantee_type == Share.GranteeType.ACCOUNT:
            _snapshot_permission(region, image_id, grantee, add=False, role=role)
    return removed


def shares_apply_for_ami(*, ami_id) -> None:
    """Apply every AWS grant of an entry to all its available copies (a copy just became available).
    Nothing for a revoked entry: its permissions were withdrawn on purpose."""
    if AMI.objects.filter(pk=ami_id, status=AMI.Status.REVOKED).exists():
        return
    for share_id in Share.objects.filter(ami_id=ami_id, grantee_type__in=list(PERMISSION_KEY)).exclude(
            sync_state=Share.SyncState.REMOVING).values_list("pk", flat=True):
        share_apply(share_id=share_id)


def shares_mark_withdrawn(*, ami_id) -> int:
    """The revoke worker removed every launch permission: the AWS grants are in effect nowhere."""
    return Share.objects.filter(ami_id=ami_id, grantee_type__in=list(PERMISSION_KEY)).update(
        synced_regions=[], sync_error="launch permission withdrawn: the AMI is revoked", updated_at=timezone.now())


# --- receivers of the catalogue's signals (connected in sharing.apps) ---------------------------------

def on_copy_available(sender, ami_id, region, **kwargs) -> None:
    shares_apply_for_ami(ami_id=ami_id)


def on_launch_permissions_withdrawn(sender, ami_id, **kwargs) -> None:
    shares_mark_withdrawn(ami_id=ami_id)
