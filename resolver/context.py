"""What one resolution works with: the tier names and outcomes, the request context and the values
the tiers hand back. No I/O: the tiers (``resolver.tiers``) read AWS and the database, this module
only describes a request and reads the template's ``ami_config``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from resolver import costs
from templates.models import Template
from templates.validation import ARCHITECTURES, CHANNEL_NAME_RE, DEFAULT_STRATEGY, STRATEGIES

# The tiers (API.md, ``resolution_method``); ``failed`` is the method of an answer no tier gave.
DIRECT, REGISTRY, DYNAMIC, MARKETPLACE, CROSS, SCRIPT = (
    "direct_mapping", "registry", "dynamic_search", "marketplace", "cross_region", "fallback_script")
FAILED = "failed"
TIER_NAMES = (DIRECT, REGISTRY, DYNAMIC, MARKETPLACE, CROSS, SCRIPT)

# What a tier says about itself in ``tried``. A dry run (the preview) never calls AWS, so where a
# tier would need AWS to know, it says MAY_ANSWER instead.
FOUND, NOT_FOUND, SKIPPED, REFUSED, UNAVAILABLE, ERROR = (
    "found", "not_found", "skipped", "refused", "unavailable", "error")
OUTCOMES = (FOUND, NOT_FOUND, SKIPPED, REFUSED, UNAVAILABLE, ERROR)
MAY_ANSWER = "may_answer"

DEFAULT_PREFERRED_ARCHITECTURE = "arm64"


@dataclass
class Candidate:
    """An image that can answer a resolution (found by one tier in one region)."""

    image_id: str
    region: str
    tier: str
    name: str = ""
    architecture: str = ""
    description: str = ""
    creation_date: str = ""
    owner_id: str = ""
    public: bool = False
    size_gb: float | None = None
    registry_id: str | None = None
    marketplace_cost: float = 0.0
    version: str = ""                 # a registry answer's version in its lineage ("" outside one)
    # What the cws client prints under "AMI Details" (AWS's own defaults when DescribeImages was not asked).
    platform: str = "linux"
    virtualization: str = "hvm"
    root_device: str = "ebs"

    @classmethod
    def from_summary(cls, image_id: str, region: str, tier: str, summary: dict) -> Candidate:
        """From ``resolver.selectors.image_summary`` (the cached DescribeImages facts)."""
        return cls(image_id=image_id, region=region, tier=tier, name=summary.get("name", ""),
                   architecture=summary.get("architecture", ""), description=summary.get("description", ""),
                   creation_date=summary.get("creation_date", ""), owner_id=summary.get("owner_id", ""),
                   public=bool(summary.get("public")), size_gb=summary.get("size_gb"),
                   platform=summary.get("platform") or "linux",
                   virtualization=summary.get("virtualization") or "hvm",
                   root_device=summary.get("root_device") or "ebs")


@dataclass
class TierResult:
    """The uniform outcome of one tier: ``outcome`` and ``reason`` go to ``tried``; ``candidates``
    are the images it offers, best first. The script tier also names the SSM parameter of the
    base image and, when that image is unknown, the problem (it still answers)."""

    outcome: str
    reason: str
    candidates: list[Candidate] = field(default_factory=list)
    base_image_parameter: str = ""
    problem: str = ""

    @property
    def answers(self) -> bool:
        return self.outcome == FOUND


@dataclass
class ResolutionContext:
    """One request, and what the walk through the tiers learns on the way."""

    template: Template
    region: str
    architectures: list[str]          # to accept, preferred first
    requested_architecture: str | None
    strategy: str
    fallback_strategy: str | None
    user: object
    refresh: bool = False             # bypass the availability cache (moderators' cold runs)
    dry_run: bool = False             # the preview: every tier stops where it would call AWS
    tried: list[dict] = field(default_factory=list)
    registry_rows: dict = field(default_factory=dict)     # {region: [AMIRegion]}
    revoked_config_ids: set = field(default_factory=set)
    region_checks: list[dict] = field(default_factory=list)
    degraded: bool = False            # an AWS error shaped the answer: do not cache it
    # Institution policy: "enforce" skips forbidden registry AMIs, "report" only lists what would
    # be skipped (``policy_report`` in the answer). None (the preview) applies no policy.
    policy: object = None
    policy_mode: str = "enforce"
    policy_blocked: list = field(default_factory=list)
    # Versions: a channel of the template's lineages (``?channel=``, ``template@channel``,
    # ``ami_config.channel``) and/or a version constraint (``?version=~> 1.4``). Either narrows the
    # registry tier to the versions they name and leaves the tiers that know no versions out.
    channel: str | None = None
    version_constraint: object = None

    @property
    def selects_version(self) -> bool:
        return bool(self.channel) or self.version_constraint is not None

    @property
    def version_selector(self) -> str:
        """How the request names versions, for ``tried`` ("channel 'stable', version ~> 1.4")."""
        parts = ([f"channel '{self.channel}'"] if self.channel else []) + (
            [f"version {self.version_constraint}"] if self.version_constraint is not None else [])
        return ", ".join(parts)

    @property
    def document(self) -> dict:
        return self.template.document or {}

    @property
    def config(self) -> dict:
        return self.template.ami_config

    @property
    def configured(self) -> bool:
        """Whether the template says anything about AMIs (else the script answer says so)."""
        return any(self.config.get(key) for key in ("ami_mappings", "amis", "ami_search", "marketplace_search"))

    @property
    def has_script(self) -> bool:
        return costs.has_script_provisioning(self.document)

    @property
    def script_first(self) -> bool:
        """``ami_fallback`` provisions by script before any AMI tier when the template can."""
        return self.strategy == "ami_fallback" and self.has_script

    def record(self, tier: str, result: TierResult, region: str | None = None) -> None:
        entry = {"tier": tier, "outcome": result.outcome, "reason": result.reason}
        if region and region != self.region:
            entry["region"] = region
        self.tried.append(entry)


def preferred_architecture(config: dict) -> str:
    preferred = config.get("preferred_architecture")
    return preferred if preferred in ARCHITECTURES else DEFAULT_PREFERRED_ARCHITECTURE


def config_image_ids(config: dict) -> set[str]:
    """Every image id the template names (``ami_mappings`` and legacy ``amis``), all regions."""
    ids = {v for v in (config.get("ami_mappings") or {}).values() if isinstance(v, str)}
    for per_arch in (config.get("amis") or {}).values():
        if isinstance(per_arch, dict):
            ids.update(v for v in per_arch.values() if isinstance(v, str))
    return ids


def context_build(*, template: Template, region: str, architecture: str | None, strategy: str | None, user,
                  refresh: bool = False, dry_run: bool = False, channel: str | None = None,
                  version_constraint=None) -> ResolutionContext:
    """The context of one (validated) request: the strategy (the argument, else the template's,
    else the default), the architectures to accept, preferred first, and the channel (the
    argument, else the template's ``ami_config.channel``) and version constraint."""
    config = template.ami_config
    if channel is None and isinstance(config.get("channel"), str) and CHANNEL_NAME_RE.match(config["channel"]):
        channel = config["channel"]
    template_strategy = config.get("strategy") if config.get("strategy") in STRATEGIES else DEFAULT_STRATEGY
    if architecture:
        archs = [architecture]
    else:
        preferred = preferred_architecture(config)
        archs = [preferred] + [a for a in ARCHITECTURES if a != preferred]
    return ResolutionContext(template=template, region=region, architectures=archs,
                             requested_architecture=architecture, strategy=strategy or template_strategy,
                             fallback_strategy=config.get("fallback_strategy") or None, user=user,
                             refresh=refresh, dry_run=dry_run, channel=channel or None,
                             version_constraint=version_constraint)
