"""Both ways an image enters the registry record the same facts (``registry.aws_images.image_facts``):
registering an existing image and creating one from an instance. On in-process moto.

moto reports one root mapping for every image it makes; real AWS reports every volume, so the
image here is given a 500 GiB data volume too — the root volume alone is the image's size.
"""
import pytest

from amis import aws_create, services
from amis.models import AMI

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_data_volume(aws, monkeypatch):
    """moto images carry a second (data) EBS volume besides their root, as AWS images may."""
    from moto.ec2.models.amis import Ami

    volume = aws.ec2().create_volume(Size=500, AvailabilityZone="us-east-1a")["VolumeId"]
    data_snapshot = aws.ec2().create_snapshot(VolumeId=volume)["SnapshotId"]
    root_only = Ami.block_device_mappings

    def with_data(self):
        return [*root_only.fget(self), {"DeviceName": "/dev/sdf", "Ebs": {
            "SnapshotId": data_snapshot, "VolumeSize": 500, "DeleteOnTermination": False, "VolumeType": "gp3"}}]

    monkeypatch.setattr(Ami, "block_device_mappings", property(with_data))


def _windows_instance(aws, region="us-east-1"):
    windows = aws.ec2(region).describe_images(Owners=["amazon"], Filters=[
        {"Name": "platform", "Values": ["windows"]}])["Images"][0]["ImageId"]
    return aws.ec2(region).run_instances(ImageId=windows, MinCount=1, MaxCount=1,
                                         InstanceType="t3.micro")["Instances"][0]["InstanceId"]


def _root(aws, image_id, region="us-east-1"):
    image = aws.ec2(region).describe_images(ImageIds=[image_id])["Images"][0]
    assert len(image["BlockDeviceMappings"]) == 2  # the fixture works: root + data volume
    return next(m for m in image["BlockDeviceMappings"] if m["DeviceName"] == image["RootDeviceName"])


def test_registering_records_root_size_and_platform(aws, user, with_data_volume):
    image_id = aws.ec2().create_image(InstanceId=_windows_instance(aws), Name="win-registered")["ImageId"]
    root = _root(aws, image_id)

    ami = services.ami_register(user=user, ami_id=image_id, region="us-east-1", name="Windows", category="Desktop")

    assert ami.platform == "windows"
    assert ami.size_gb == root["Ebs"]["VolumeSize"] == 15   # the root's, not 15 + 500
    assert ami.root_snapshot_ids == [root["Ebs"]["SnapshotId"]]


def test_creating_records_the_same_facts(aws, user, template, with_data_volume):
    op = aws_create.ami_create_request(user=user, instance_id=_windows_instance(aws), template_name="python-ml")
    assert aws_create.create_image_step(operation_id=op.pk) is None
    op.refresh_from_db()
    root = _root(aws, op.image_id)

    ami = AMI.objects.get(pk=op.params["registry_id"])
    assert ami.platform == "windows"                          # created AMIs used to stay "linux"
    assert ami.size_gb == root["Ebs"]["VolumeSize"] == 15     # and summed every volume (515)
    assert ami.root_snapshot_ids == [root["Ebs"]["SnapshotId"]]
    registered_like = {f: getattr(ami, f) for f in ("architecture", "owner_account_id", "image_creation_date",
                                                    "ena_support", "boot_mode", "imds_support")}
    image = aws.ec2().describe_images(ImageIds=[op.image_id])["Images"][0]
    assert registered_like["architecture"] == image["Architecture"]
    assert registered_like["owner_account_id"] == image["OwnerId"]
    assert registered_like["image_creation_date"] == image["CreationDate"]
