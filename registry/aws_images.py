"""What an image *is*, read from DescribeImages' answer — the one reading of it, beside the gateway.

Every way an image enters the catalogue (``ami_register`` for an existing image, the create
worker for an image made from an instance) records the same facts through ``image_facts``, and
every other reader (signature manifests, scans, validation, deregistration) uses the helpers here,
so "which volume is the root" or "which platform is this" is decided in one place.
"""
from __future__ import annotations

import re

from registry import aws

# DescribeImages states an image can never leave for ``available``.
IMAGE_DEAD_STATES = frozenset({"failed", "error", "invalid", "deregistered", "disabled"})


def root_mapping(image: dict) -> dict | None:
    """The block-device mapping of the root volume: the one named by ``RootDeviceName``.

    Falls back to the first mapping when no device matches the name (images registered without a
    ``RootDeviceName``); None when the image has no mappings at all.
    """
    mappings = image.get("BlockDeviceMappings") or []
    root = image.get("RootDeviceName")
    return next((m for m in mappings if m.get("DeviceName") == root), mappings[0] if mappings else None)


def root_volume_gb(image: dict) -> int | None:
    """Size of the root EBS volume in GiB (None when the root is not EBS or AWS does not say).

    The root only: data volumes are not what a launch needs to know about, and summing every
    mapping over-reports images that carry scratch disks.
    """
    return ((root_mapping(image) or {}).get("Ebs") or {}).get("VolumeSize")


def snapshot_ids(image: dict) -> list[str]:
    """Every EBS snapshot behind the image (all volumes), in mapping order."""
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings") or []
            if (m.get("Ebs") or {}).get("SnapshotId")]


def root_snapshot_ids(image: dict) -> list[str]:
    """The root volume's snapshot(s), sorted; every snapshot when no mapping is named as the root.

    This is the ``root_snapshot_ids`` of the signed manifest (docs/trust-and-compliance.md), so it
    must not change: publishers have signed manifests built with exactly this rule.
    """
    root = image.get("RootDeviceName")
    pairs = [(m.get("DeviceName"), (m.get("Ebs") or {}).get("SnapshotId"))
             for m in image.get("BlockDeviceMappings") or []]
    return sorted([s for dev, s in pairs if s and dev == root] or [s for _, s in pairs if s])


def platform_of(image: dict) -> str:
    """Our short platform name from DescribeImages' ``Platform`` / ``PlatformDetails``."""
    details = (image.get("PlatformDetails") or "").lower()
    if (image.get("Platform") or "").lower() == "windows" or "windows" in details:
        return "windows"
    for needle, name in (("red hat", "rhel"), ("suse", "suse"), ("ubuntu pro", "ubuntu_pro")):
        if needle in details:
            return name
    return "linux"


def image_facts(image: dict) -> dict:
    """The facts the catalogue records about an image — all from AWS's answer, never the client's.

    Keys are ``amis.AMI`` field names (architecture, platform, owner account, name, creation date,
    root snapshots, root volume size, ENA, boot mode, IMDS support), cut to the column sizes.
    """
    return {
        "architecture": image.get("Architecture") or "",
        "platform": platform_of(image),
        "owner_account_id": (image.get("OwnerId") or "")[:12],
        "image_name": (image.get("Name") or "")[:255],
        "image_creation_date": (image.get("CreationDate") or "")[:40],
        "root_snapshot_ids": root_snapshot_ids(image),
        "size_gb": root_volume_gb(image),
        "ena_support": image.get("EnaSupport"),
        "boot_mode": (image.get("BootMode") or "")[:20],
        "imds_support": (image.get("ImdsSupport") or "")[:20],
    }


# Characters AWS allows in an image name (CreateImage/CopyImage ``Name``).
AWS_NAME_RE = re.compile(r"[^a-zA-Z0-9()\[\] ./\-'@_]")


def aws_image_name(name: str) -> str:
    """``name`` made acceptable as an AWS image name: 3–128 characters from a restricted set."""
    cleaned = AWS_NAME_RE.sub("-", name).strip()[:128]
    return cleaned if len(cleaned) >= 3 else f"cws-{cleaned or 'image'}"


def image_state_error(image: dict, region: str) -> str:
    """Why an image is unusable, in AWS's words."""
    reason = (image.get("StateReason") or {}).get("Message") or "no reason given by AWS"
    return f"image {image['ImageId']} in {region} is '{image.get('State')}': {reason}"


def tag_list(tags: dict) -> list[dict]:
    """``{key: value}`` → AWS's ``[{"Key": …, "Value": …}]``."""
    return [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]


def tags_of(image: dict) -> dict:
    """AWS's tag list of an image → ``{key: value}``."""
    return {t["Key"]: t["Value"] for t in image.get("Tags") or []}


def image_find_by_tag(region: str, key: str, value: str, *, role: aws.AccountRole | None = None) -> dict | None:
    """The live image tagged ``key=value`` in ``region``, owned by the account the credentials act
    in (``role``; the registry's own when None) — what a crashed and redelivered create or copy
    looks for before calling AWS again — or None."""
    images = aws.call(region, "ec2", "describe_images", role=role, Owners=["self"],
                      Filters=[{"Name": f"tag:{key}", "Values": [value]}]).get("Images", [])
    live = [i for i in images if i.get("State") not in IMAGE_DEAD_STATES]
    return live[0] if live else None
