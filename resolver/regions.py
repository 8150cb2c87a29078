"""The region fallback map: where to look, in order, when a region has no AMI of its own.

Data only. Each commercial region (``registry.aws.COMMERCIAL_REGIONS``) maps to nearby regions,
closest first (network distance and data-residency neighbourhood: EU falls back to EU before
crossing the Atlantic, APAC to APAC). The resolver's ``cross_region`` tier checks these regions
concurrently and prefers the first in this order that has an image. ``tests/resolver`` validates
the map: every region has an entry, entries name known regions only and never the region itself.
"""
from __future__ import annotations

REGION_FALLBACKS: dict[str, tuple[str, ...]] = {
    # North America
    "us-east-1": ("us-east-2", "us-west-2", "us-west-1"),
    "us-east-2": ("us-east-1", "us-west-2", "ca-central-1"),
    "us-west-1": ("us-west-2", "us-east-2", "us-east-1"),
    "us-west-2": ("us-west-1", "us-east-2", "us-east-1"),
    "ca-central-1": ("us-east-1", "us-east-2", "ca-west-1"),
    "ca-west-1": ("ca-central-1", "us-west-2", "us-west-1"),
    "mx-central-1": ("us-east-2", "us-west-1", "us-east-1"),
    # South America
    "sa-east-1": ("us-east-1", "us-east-2", "mx-central-1"),
    # Europe (EU neighbours first: data residency usually matters more than a few ms)
    "eu-west-1": ("eu-west-2", "eu-central-1", "us-east-1"),
    "eu-west-2": ("eu-west-1", "eu-west-3", "eu-central-1"),
    "eu-west-3": ("eu-west-2", "eu-central-1", "eu-west-1"),
    "eu-central-1": ("eu-central-2", "eu-west-3", "eu-west-1"),
    "eu-central-2": ("eu-central-1", "eu-south-1", "eu-west-3"),
    "eu-north-1": ("eu-central-1", "eu-west-1", "eu-west-2"),
    "eu-south-1": ("eu-central-2", "eu-central-1", "eu-south-2"),
    "eu-south-2": ("eu-west-3", "eu-south-1", "eu-west-1"),
    # Middle East and Africa
    "il-central-1": ("eu-south-1", "me-central-1", "eu-central-1"),
    "me-south-1": ("me-central-1", "ap-south-1", "eu-central-1"),
    "me-central-1": ("me-south-1", "ap-south-1", "eu-central-1"),
    "af-south-1": ("eu-west-1", "eu-south-1", "me-central-1"),
    # Asia Pacific
    "ap-south-1": ("ap-southeast-1", "ap-northeast-1", "us-east-1"),
    "ap-south-2": ("ap-south-1", "ap-southeast-1", "me-central-1"),
    "ap-east-1": ("ap-southeast-1", "ap-northeast-1", "ap-northeast-2"),
    "ap-east-2": ("ap-east-1", "ap-northeast-1", "ap-southeast-1"),
    "ap-southeast-1": ("ap-southeast-5", "ap-southeast-3", "ap-south-1"),
    "ap-southeast-2": ("ap-southeast-4", "ap-southeast-1", "ap-northeast-1"),
    "ap-southeast-3": ("ap-southeast-1", "ap-southeast-5", "ap-southeast-2"),
    "ap-southeast-4": ("ap-southeast-2", "ap-southeast-1", "ap-southeast-3"),
    "ap-southeast-5": ("ap-southeast-1", "ap-southeast-3", "ap-southeast-7"),
    "ap-southeast-7": ("ap-southeast-1", "ap-southeast-5", "ap-east-1"),
    "ap-northeast-1": ("ap-northeast-3", "ap-northeast-2", "ap-east-1"),
    "ap-northeast-2": ("ap-northeast-1", "ap-northeast-3", "ap-east-1"),
    "ap-northeast-3": ("ap-northeast-1", "ap-northeast-2", "ap-east-1"),
}


def fallback_regions(region: str) -> tuple[str, ...]:
    """The regions to try, closest first, when ``region`` has no AMI (empty for unknown regions)."""
    return REGION_FALLBACKS.get(region, ())
