"""registry.aws_images: the one reading of DescribeImages' answer (pure functions, no AWS)."""
from registry.aws_images import aws_image_name, image_facts, platform_of, root_mapping, root_snapshot_ids


def _image(**extra):
    image = {
        "ImageId": "ami-0123456789abcdef0", "Architecture": "arm64", "OwnerId": "123456789012", "Name": "ml",
        "CreationDate": "2026-01-02T03:04:05.000Z", "RootDeviceName": "/dev/xvda", "EnaSupport": True,
        "BootMode": "uefi", "ImdsSupport": "v2.0",
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": "snap-data", "VolumeSize": 500}},
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-root", "VolumeSize": 30}},
            {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"},
        ],
    }
    image.update(extra)
    return image


def test_facts_take_the_root_volume_not_the_sum_of_all_volumes():
    facts = image_facts(_image())
    assert facts["size_gb"] == 30                      # not 530: data volumes are not the image's size
    assert facts["root_snapshot_ids"] == ["snap-root"]
    assert facts == {"architecture": "arm64", "platform": "linux", "owner_account_id": "123456789012",
                     "image_name": "ml", "image_creation_date": "2026-01-02T03:04:05.000Z",
                     "root_snapshot_ids": ["snap-root"], "size_gb": 30, "ena_support": True,
                     "boot_mode": "uefi", "imds_support": "v2.0"}


def test_platform_from_platform_or_platform_details():
    assert platform_of({"Platform": "windows"}) == "windows"
    assert platform_of({"PlatformDetails": "Windows with SQL Server Standard"}) == "windows"
    assert platform_of({"PlatformDetails": "Red Hat Enterprise Linux"}) == "rhel"
    assert platform_of({"PlatformDetails": "SUSE Linux"}) == "suse"
    assert platform_of({"PlatformDetails": "Ubuntu Pro"}) == "ubuntu_pro"
    assert platform_of({"PlatformDetails": "Linux/UNIX"}) == platform_of({}) == "linux"


def test_without_a_named_root_the_first_mapping_is_the_root_and_every_snapshot_is_signed():
    image = _image(RootDeviceName="/dev/nope")
    assert root_mapping(image)["DeviceName"] == "/dev/xvdb"
    # The signed manifest's rule (docs/trust-and-compliance.md): all snapshots, sorted.
    assert root_snapshot_ids(image) == ["snap-data", "snap-root"]
    assert root_mapping({}) is None and image_facts({})["size_gb"] is None


def test_aws_image_name():
    assert aws_image_name("PyTorch 2.4 <GPU> ✓") == "PyTorch 2.4 -GPU- -"
    assert aws_image_name("x") == "cws-x" and len(aws_image_name("a" * 300)) == 128
