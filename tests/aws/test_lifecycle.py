"""Deprecation, revocation and deregistration reach AWS; validation across regions."""
from datetime import datetime, timezone

import pytest
from botocore.stub import Stubber

from amis import aws_retire
from sharing import aws_sync
from amis import aws_validate
from amis import services
from amis.models import AMI, AMIRegion, Operation
from registry import aws as aws_gateway
from sharing.models import Share
from tests.aws.conftest import launch_permissions
from tests.conftest import client_for
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(aws, user, template):
    ami = AMIFactory(ami_id=aws.image("us-east-1"), creator=user, template=template)
    image_id = aws.ec2("eu-west-1").copy_image(SourceImageId=ami.ami_id, SourceRegion="us-east-1",
                                               Name="copy-eu")["ImageId"]
    AMIRegion.objects.create(ami=ami, region="eu-west-1", image_id=image_id, state=AMIRegion.State.AVAILABLE,
                             copied_from="us-east-1")
    return ami


def copies(ami):
    return dict(ami.regions.values_list("region", "image_id"))


def test_deprecate_sends_enable_image_deprecation_for_every_copy(aws, user, entry, monkeypatch):
    """moto lacks EnableImageDeprecation: assert the exact requests with Stubber."""
    when = datetime(2031, 5, 1, 12, 0, tzinfo=timezone.utc)
    clients = {r: aws_gateway.ec2(r) for r in ("us-east-1", "eu-west-1")}
    stubs = {r: Stubber(c) for r, c in clients.items()}
    for region, image_id in copies(entry).items():
        stubs[region].add_response("enable_image_deprecation", {"Return": True},
                                   {"ImageId": image_id, "DeprecateAt": when})
    monkeypatch.setattr(aws_gateway, "client", lambda service, region, role=None: clients[region])
    op = aws_retire.ami_aws_deprecate_enqueue(ami=entry, actor=user, deprecate_at=when)
    for stub in stubs.values():
        stub.activate()
    aws_retire.deprecate_step(operation_id=op.pk)
    for stub in stubs.values():
        stub.assert_no_pending_responses()
    op.refresh_from_db()
    assert op.state == "succeeded"
    assert {r: o["status"] for r, o in op.result["regions"].items()} == {"us-east-1": "deprecated",
                                                                          "eu-west-1": "deprecated"}


def test_deprecate_via_service_on_moto_records_the_gap(aws, user, entry, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.ami_deprecate(ami=entry, user=user, reason="superseded")
    op = Operation.objects.get(ami=entry, kind="deprecate")
    assert op.state == "succeeded" and "not supported by this AWS endpoint" in op.message
    assert {o["status"] for o in op.result["regions"].values()} == {"not_supported_by_endpoint"}


def test_deprecate_aws_error_fails_the_operation(aws, user, entry, monkeypatch):
    client = aws_gateway.ec2("us-east-1")
    stub = Stubber(client)
    stub.add_client_error("enable_image_deprecation", "UnauthorizedOperation", "not allowed")
    stub.add_response("enable_image_deprecation", {"Return": True})
    monkeypatch.setattr(aws_gateway, "client", lambda service, region, role=None: client)
    op = aws_retire.ami_aws_deprecate_enqueue(ami=entry, actor=user)
    with stub:
        aws_retire.deprecate_step(operation_id=op.pk)
    op.refresh_from_db()
    assert op.state == "failed" and "not allowed" in op.error


def test_revoke_withdraws_every_permission_and_deprecates(aws, user, moderator, entry,
                                                          django_capture_on_commit_callbacks):
    org = "arn:aws:organizations::123456789012:organization/o-abcdefghij"
    for grantee_type, grantee in (("account", "111122223333"), ("organization", org)):
        grant = Share.objects.create(ami=entry, grantee_type=grantee_type, grantee=grantee, created_by=user)
        aws_sync.share_apply(share_id=grant.pk)
    for region, image_id in copies(entry).items():
        assert len(launch_permissions(aws, region, image_id)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        services.ami_revoke(ami=entry, moderator=moderator, reason="malware")
    for region, image_id in copies(entry).items():
        assert launch_permissions(aws, region, image_id) == []
    op = Operation.objects.get(ami=entry, kind="revoke")
    assert op.state == "succeeded", op.error
    assert set(op.result["deprecation"]) == {"us-east-1", "eu-west-1"}
    assert all(s.synced_regions == [] for s in Share.objects.filter(ami=entry))
    # A revoked AMI never gets permissions back from a late sync.
    aws_sync.share_apply(share_id=Share.objects.filter(ami=entry).first().pk)
    for region, image_id in copies(entry).items():
        assert launch_permissions(aws, region, image_id) == []


def test_delete_with_deregister_removes_images_and_snapshots(aws, user, entry, django_capture_on_commit_callbacks):
    AMI.objects.filter(pk=entry.pk).update(status=AMI.Status.DRAFT)
    images = copies(entry)
    snaps = {r: aws.ec2(r).describe_images(ImageIds=[i])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
             for r, i in images.items()}
    with django_capture_on_commit_callbacks(execute=True):
        services.ami_delete(ami=entry, user=user, deregister=True)
    assert not AMI.objects.filter(pk=entry.pk).exists()
    op = Operation.objects.get(kind="deregister", params__images__has_key="us-east-1")
    assert op.state == "succeeded" and op.ami is None
    for region, image_id in images.items():
        assert aws.ec2(region).describe_images(ImageIds=[image_id])["Images"] == []
        assert snaps[region] in op.result["regions"][region]["deleted_snapshots"]
        assert not aws.ec2(region).describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snaps[region]]}])[
            "Snapshots"]
    # Idempotent: running the step again changes nothing and does not fail.
    Operation.objects.filter(pk=op.pk).update(state="running")
    aws_retire.deregister_step(operation_id=op.pk)
    op.refresh_from_db()
    assert op.state == "succeeded"


def test_delete_without_deregister_leaves_aws_alone(aws, user, entry, django_capture_on_commit_callbacks):
    AMI.objects.filter(pk=entry.pk).update(status=AMI.Status.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        services.ami_delete(ami=entry, user=user)
    assert aws.ec2().describe_images(ImageIds=[entry.ami_id])["Images"]
    assert not Operation.objects.filter(kind="deregister").exists()


def test_validate_across_regions_stores_findings(aws, user, entry, django_capture_on_commit_callbacks):
    ghost = AMIRegion.objects.create(ami=entry, region="ap-south-1", image_id="ami-0000000000000f00d",
                                     state=AMIRegion.State.AVAILABLE)
    with django_capture_on_commit_callbacks(execute=True):
        op = aws_validate.ami_validate_request(ami=entry, user=user)
    op.refresh_from_db()
    assert op.state == "succeeded" and op.result["passed"] is False
    rows = {r.region: r for r in entry.regions.all()}
    good = rows["us-east-1"].findings
    assert good["exists"] and good["available"] and good["architecture_matches"] and good["ebs_root"]
    assert "imdsv2_required" in good and "ena_support" in good and rows["us-east-1"].last_tested
    ghost.refresh_from_db()
    assert ghost.findings["exists"] is False and ghost.last_tested
    # A second request while one is running returns it (no pile-up).
    Operation.objects.filter(pk=op.pk).update(state="running")
    assert aws_validate.ami_validate_request(ami=entry, user=user).pk == op.pk


def test_image_findings_reads_imds_and_ena():
    image = {"ImageId": "ami-1", "State": "available", "Architecture": "arm64", "RootDeviceType": "ebs",
             "RootDeviceName": "/dev/xvda", "EnaSupport": True, "ImdsSupport": "v2.0",
             "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1"}}]}
    findings = aws_validate.image_findings(image, architecture="x86_64")
    assert findings["imdsv2_required"] and findings["ena_support"] and findings["ebs_root"]
    assert findings["problems"] == ["architecture is not x86_64"] and not findings["passed"]
