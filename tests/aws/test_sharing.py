"""Launch-permission sync (sharing/tasks.py → amis.aws_sync.share_apply / share_unapply):
every region with a copy, idempotent, org/OU ARNs, snapshot permission only for launch_and_copy,
removal on delete, public only when requested and approved."""
import pytest

from amis import aws_public
from sharing import aws_sync
from amis.models import AMI, AMIRegion
from sharing.models import Share
from tests.aws.conftest import launch_permissions
from tests.conftest import client_for
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db
ORG = "arn:aws:organizations::123456789012:organization/o-abcdefghij"
OU = "arn:aws:organizations::123456789012:ou/o-abcdefghij/ou-ab12-abcdefgh"


@pytest.fixture
def entry(aws, user, template):
    """An entry with real (moto) copies in three regions."""
    ami = AMIFactory(ami_id=aws.image("us-east-1"), creator=user, template=template)
    for region in ("us-west-2", "eu-west-1"):
        image_id = aws.ec2(region).copy_image(SourceImageId=ami.ami_id, SourceRegion="us-east-1",
                                              Name=f"copy-{region}")["ImageId"]
        AMIRegion.objects.create(ami=ami, region=region, image_id=image_id, state=AMIRegion.State.AVAILABLE,
                                 copied_from="us-east-1")
    return ami


def copies(ami):
    return dict(ami.regions.values_list("region", "image_id"))


def share(user, ami, capture, **body):
    with capture(execute=True):
        return client_for(user).post(f"/api/v1/amis/{ami.pk}/shares/", body, format="json")


@pytest.mark.parametrize("grantee_type, grantee, key", [
    ("account", "111122223333", "UserId"), ("organization", ORG, "OrganizationArn"),
    ("organizational_unit", OU, "OrganizationalUnitArn")])
def test_share_add_then_remove_in_every_region(aws, user, entry, django_capture_on_commit_callbacks,
                                               grantee_type, grantee, key):
    resp = share(user, entry, django_capture_on_commit_callbacks, grantee_type=grantee_type, grantee=grantee)
    assert resp.status_code == 201, resp.json()
    grant = Share.objects.get(pk=resp.json()["id"])
    assert grant.sync_state == "synced" and grant.sync_error == ""
    assert sorted(grant.synced_regions) == ["eu-west-1", "us-east-1", "us-west-2"]
    for region, image_id in copies(entry).items():
        assert launch_permissions(aws, region, image_id) == [{key: grantee}]

    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(user).delete(f"/api/v1/amis/{entry.pk}/shares/{grant.pk}").status_code == 204
    for region, image_id in copies(entry).items():
        assert launch_permissions(aws, region, image_id) == []


def test_share_sync_is_idempotent(aws, user, entry):
    grant = Share.objects.create(ami=entry, grantee_type="account", grantee="111122223333", created_by=user)
    for _ in range(3):  # redelivered / duplicated task
        aws_sync.share_apply(share_id=grant.pk)
    for region, image_id in copies(entry).items():
        assert launch_permissions(aws, region, image_id) == [{"UserId": "111122223333"}]
    assert aws_sync.share_unapply(ami_pk=entry.pk, grantee_type="account", grantee="111122223333") == []
    grant.delete()
    assert sorted(aws_sync.share_unapply(ami_pk=entry.pk, grantee_type="account",
                                              grantee="111122223333")) == ["eu-west-1", "us-east-1", "us-west-2"]
    assert aws_sync.share_unapply(ami_pk=entry.pk, grantee_type="account", grantee="111122223333") == []


def test_snapshot_permission_only_for_launch_and_copy(aws, user, entry, django_capture_on_commit_callbacks):
    def volume_perms(region, image_id):
        snap = aws.ec2(region).describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0][
            "Ebs"]["SnapshotId"]
        return aws.ec2(region).describe_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission")[
            "CreateVolumePermissions"]

    share(user, entry, django_capture_on_commit_callbacks, grantee_type="account", grantee="111122223333")
    resp = share(user, entry, django_capture_on_commit_callbacks, grantee_type="account", grantee="999988887777",
                 permission="launch_and_copy")
    assert resp.status_code == 201, resp.json()
    for region, image_id in copies(entry).items():
        assert volume_perms(region, image_id) == [{"UserId": "999988887777"}]
    with django_capture_on_commit_callbacks(execute=True):
        client_for(user).delete(f"/api/v1/amis/{entry.pk}/shares/{resp.json()['id']}")
    for region, image_id in copies(entry).items():
        assert volume_perms(region, image_id) == []


def test_share_failure_is_recorded(aws, user, template):
    ghost = AMIFactory(creator=user, template=template, ami_id="ami-0000000000000beef")  # not in AWS
    grant = Share.objects.create(ami=ghost, grantee_type="account", grantee="111122223333", created_by=user)
    aws_sync.share_apply(share_id=grant.pk)
    grant.refresh_from_db()
    assert grant.sync_state == "failed" and grant.sync_error.startswith("us-east-1: ")
    assert grant.synced_regions == []


def test_public_in_aws_only_when_requested_and_approved(aws, user, moderator, entry,
                                                        django_capture_on_commit_callbacks):
    from amis import services

    def public_everywhere():
        return all({"Group": "all"} in launch_permissions(aws, r, i) for r, i in copies(entry).items())

    aws_public.ami_public_sync(ami=entry)  # approved + public listing, but not requested
    assert not any({"Group": "all"} in launch_permissions(aws, r, i) for r, i in copies(entry).items())

    AMI.objects.filter(pk=entry.pk).update(status=AMI.Status.PENDING_REVIEW, public_requested=True)
    entry.refresh_from_db()
    aws_public.ami_public_sync(ami=entry)
    assert not public_everywhere()  # requested, not approved yet
    with django_capture_on_commit_callbacks(execute=True):
        services.ami_approve(ami=entry, moderator=moderator)
    assert public_everywhere()
