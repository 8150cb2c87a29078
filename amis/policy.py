"""Institution policies: which community AMIs an institution's members may get.

A ``Community`` of kind ``institution`` carries a ``policy`` (JSON). Every rule is optional; an
absent rule (or an empty list) restricts nothing:

=============================  ===================================================================
``require_verified_signature``  bool — only AMIs with a valid publisher signature (``verified``)
``require_passed_scan``         bool — only AMIs whose security scan passed
``min_rating``                  number 0–5 — ``rating_avg`` at least this
``allowed_owner_accounts``      [12-digit AWS account ids] — image owner must be one of them
``allowed_regions``             [region names] — the region asked for (resolve) / a copy (browse)
``allowed_architectures``       ["x86_64", "arm64"]
``blocked_amis``                [AMI ids or registry uuids] — never, whatever else holds
=============================  ===================================================================

A user in several institutions gets the strictest combination (``policy_for_user``). The policy
lives with the catalogue because every rule is about an AMI; the communities that carry it are
the kernel's (``registry.models.Community``). It is applied two ways: ``policy_q`` is the filter
browse applies in SQL (``amis.selectors.ami_list_allowed``), ``policy_check`` names the reasons
one AMI is refused (the resolver reports them; ``?policy=report`` on resolve reports what would be
blocked without enforcing, like AWS's audit mode for Allowed AMIs). A change is announced with
``amis.signals.policy_changed`` after commit (the resolver drops cached answers).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from amis.signals import policy_changed
from registry import aws
from registry.audit import audit_record
from registry.errors import Forbidden, InvalidInput
from registry.models import Community, CommunityMembership
from registry.permissions import is_moderator
from templates.validation import ARCHITECTURES

RULES = ("require_verified_signature", "require_passed_scan", "min_rating", "allowed_owner_accounts",
         "allowed_regions", "allowed_architectures", "blocked_amis")
ROLE_ARN_RE = re.compile(r"^arn:aws:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
MAX_LIST = 500


@dataclass
class Policy:
    """The effective policy of one caller (possibly combined from several institutions)."""

    require_verified_signature: bool = False
    require_passed_scan: bool = False
    min_rating: float | None = None
    allowed_owner_accounts: frozenset[str] | None = None
    allowed_regions: frozenset[str] | None = None
    allowed_architectures: frozenset[str] | None = None
    blocked_amis: frozenset[str] = frozenset()
    sources: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.require_verified_signature or self.require_passed_scan or self.min_rating
                    or self.allowed_owner_accounts is not None or self.allowed_regions is not None
                    or self.allowed_architectures is not None or self.blocked_amis)

    def as_dict(self) -> dict:
        return {"sources": self.sources, **{k: (sorted(v) if isinstance(v, frozenset) else v)
                                             for k, v in self.__dict__.items() if k != "sources"}}


# --- validation ------------------------------------------------------------------------------

def policy_validate(raw) -> dict:
    """Validate a policy document; return its normalised form. Raises InvalidInput with
    ``errors={"policy.<rule>": [...]}`` naming every problem."""
    if not isinstance(raw, dict):
        raise InvalidInput("the policy must be a JSON object", errors={"policy": ["Must be an object."]})
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    for key in raw:
        if key not in RULES:
            errors[f"policy.{key}"] = [f"Unknown rule. Known rules: {', '.join(RULES)}."]
    for key in ("require_verified_signature", "require_passed_scan"):
        if key in raw:
            if isinstance(raw[key], bool):
                clean[key] = raw[key]
            else:
                errors[f"policy.{key}"] = ["Must be true or false."]
    if "min_rating" in raw and raw["min_rating"] is not None:
        value = raw["min_rating"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 5:
            errors["policy.min_rating"] = ["Must be a number from 0 to 5."]
        else:
            clean["min_rating"] = float(value)
    checks = {
        "allowed_owner_accounts": (aws.is_account_id, "12-digit AWS account ids"),
        "allowed_regions": (aws.is_known_region, "AWS region names such as us-east-1"),
        "allowed_architectures": (lambda v: v in ARCHITECTURES, " or ".join(ARCHITECTURES)),
        "blocked_amis": (_is_ami_ref, "AMI ids (ami-...) or registry uuids"),
    }
    for key, (ok, what) in checks.items():
        if key not in raw:
            continue
        values = raw[key]
        if not isinstance(values, list) or len(values) > MAX_LIST:
            errors[f"policy.{key}"] = [f"Must be a list (at most {MAX_LIST}) of {what}."]
            continue
        bad = [v for v in values if not isinstance(v, str) or not ok(v)]
        if bad:
            errors[f"policy.{key}"] = [f"Not {what}: {', '.join(map(str, bad[:5]))}."]
        else:
            clean[key] = sorted(set(values))
    if errors:
        raise InvalidInput("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), errors=errors)
    return clean


def _is_ami_ref(value: str) -> bool:
    if aws.is_ami_id(value):
        return True
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


# --- who gets which policy -------------------------------------------------------------------

def policy_from_document(doc: dict, source: str = "") -> Policy:
    def opt(key):
        values = doc.get(key)
        return frozenset(values) if values else None

    return Policy(require_verified_signature=bool(doc.get("require_verified_signature")),
                  require_passed_scan=bool(doc.get("require_passed_scan")),
                  min_rating=doc.get("min_rating") or None,
                  allowed_owner_accounts=opt("allowed_owner_accounts"), allowed_regions=opt("allowed_regions"),
                  allowed_architectures=opt("allowed_architectures"),
                  blocked_amis=frozenset(doc.get("blocked_amis") or ()), sources=[source] if source else [])


def policy_combine(policies: list[Policy]) -> Policy:
    """The strictest combination: every requirement of every policy holds."""
    result = Policy()
    for p in policies:
        result.require_verified_signature |= p.require_verified_signature
        result.require_passed_scan |= p.require_passed_scan
        if p.min_rating:
            result.min_rating = max(result.min_rating or 0, p.min_rating)
        for key in ("allowed_owner_accounts", "allowed_regions", "allowed_architectures"):
            mine, theirs = getattr(result, key), getattr(p, key)
            if theirs is not None:
                setattr(result, key, theirs if mine is None else mine & theirs)
        result.blocked_amis = result.blocked_amis | p.blocked_amis
        result.sources += p.sources
    return result


def policy_for_user(user) -> Policy:
    """The effective policy of ``user``: the strictest combination of the policies of every
    institution they are a member (or admin) of. Anonymous users and non-members: no policy."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Policy()
    # One query; callers (browse, resolve) ask once per request, so nothing is cached on the user.
    institutions = Community.objects.filter(kind=Community.Kind.INSTITUTION, memberships__user=user).order_by("slug")
    return policy_combine([policy_from_document(c.policy or {}, c.slug) for c in institutions])


# --- applying a policy -----------------------------------------------------------------------------

def policy_check(ami, policy: Policy, region: str | None = None) -> list[str]:
    """Why ``policy`` forbids ``ami`` (in ``region`` when given): a list of human-readable reasons,
    empty when allowed. No queries beyond the AMI's prefetched ``regions`` (browse case)."""
    if policy.is_empty:
        return []
    reasons = []
    src = f" (policy of {', '.join(policy.sources)})" if policy.sources else ""
    refs = {ami.ami_id, str(ami.pk)}
    if policy.blocked_amis:
        refs |= {r.image_id for r in ami.regions.all() if r.image_id}
        if refs & policy.blocked_amis:
            reasons.append(f"blocked by the institution{src}")
    if policy.require_verified_signature and not ami.verified:
        reasons.append(f"no verified publisher signature{src}")
    if policy.require_passed_scan and ami.scan_status != "passed":
        reasons.append(f"security scan not passed (scan_status {ami.scan_status}){src}")
    if policy.min_rating and float(ami.rating_avg or 0) < policy.min_rating:
        reasons.append(f"rating {float(ami.rating_avg or 0):.2f} below the minimum {policy.min_rating:g}{src}")
    if policy.allowed_owner_accounts is not None and ami.owner_account_id not in policy.allowed_owner_accounts:
        reasons.append(f"owner account {ami.owner_account_id or '?'} not allowed{src}")
    if policy.allowed_architectures is not None and ami.architecture not in policy.allowed_architectures:
        reasons.append(f"architecture {ami.architecture} not allowed{src}")
    if policy.allowed_regions is not None:
        if region is not None:
            if region not in policy.allowed_regions:
                reasons.append(f"region {region} not allowed{src}")
        elif not any(r.region in policy.allowed_regions and r.state == "available" for r in ami.regions.all()):
            reasons.append(f"no copy in an allowed region{src}")
    return reasons


def policy_q(policy: Policy, region: str | None = None) -> Q | None:
    """The same rules as ``policy_check`` as a queryset condition on ``amis.AMI`` (None: no filter)."""
    if policy.is_empty:
        return None
    q = Q()
    if policy.blocked_amis:
        uuids = [b for b in policy.blocked_amis if not b.startswith("ami-")]
        ids = [b for b in policy.blocked_amis if b.startswith("ami-")]
        q &= ~Q(ami_id__in=ids) & ~Q(pk__in=uuids) & ~Q(regions__image_id__in=ids) if ids or uuids else Q()
    if policy.require_verified_signature:
        q &= Q(verified=True)
    if policy.require_passed_scan:
        q &= Q(scan_status="passed")
    if policy.min_rating:
        q &= Q(rating_avg__gte=policy.min_rating)
    if policy.allowed_owner_accounts is not None:
        q &= Q(owner_account_id__in=policy.allowed_owner_accounts)
    if policy.allowed_architectures is not None:
        q &= Q(architecture__in=policy.allowed_architectures)
    if policy.allowed_regions is not None:
        if region is not None and region not in policy.allowed_regions:
            return Q(pk__in=[])
        q &= Q(regions__region__in=policy.allowed_regions, regions__state="available")
    return q


# --- changing a policy ----------------------------------------------------------------------------

def community_policy_editable_by(community: Community, user) -> bool:
    if is_moderator(user):
        return True
    return bool(getattr(user, "is_authenticated", False)) and CommunityMembership.objects.filter(
        community=community, user=user, role=CommunityMembership.Role.ADMIN).exists()


@transaction.atomic
def community_policy_update(*, community: Community, user, policy: dict,
                            aws_role_arn: str | None = None) -> Community:
    """Replace an institution's policy (and optionally its cross-account role ARN).

    Allowed for moderators and the institution's admins. Raises Forbidden, InvalidInput (not an
    institution, invalid rules — every problem named). Audited ``policy.update`` with before/after.
    """
    community = Community.objects.select_for_update().get(pk=community.pk)
    if not community_policy_editable_by(community, user):
        raise Forbidden("only moderators and the institution's admins may change its policy")
    if community.kind != Community.Kind.INSTITUTION:
        raise InvalidInput("only institutions have policies", code="not_an_institution")
    clean = policy_validate(policy)
    before = {"policy": community.policy, "aws_role_arn": community.aws_role_arn}
    fields = ["policy", "updated_at"]
    community.policy = clean
    if aws_role_arn is not None:
        aws_role_arn = aws_role_arn.strip()
        if aws_role_arn and not ROLE_ARN_RE.match(aws_role_arn):
            raise InvalidInput("not an IAM role ARN", errors={"aws_role_arn": [
                "Must look like arn:aws:iam::123456789012:role/name."]})
        community.aws_role_arn = aws_role_arn
        fields.append("aws_role_arn")
    community.save(update_fields=fields)
    audit_record(actor=user, action="policy.update", target=community, before=before,
                 after={"policy": clean, "aws_role_arn": community.aws_role_arn})
    community_id = community.pk
    transaction.on_commit(lambda: policy_changed.send(sender=Community, community_id=community_id))
    return community
