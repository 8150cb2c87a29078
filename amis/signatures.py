"""Publisher signatures: Ed25519 keys, the canonical AMI manifest, verification.

A publisher registers Ed25519 public keys (PEM or OpenSSH). To vouch for an image they sign the
*canonical manifest* — ``json.dumps(manifest, sort_keys=True, separators=(",", ":"))`` of::

    {ami_id, region, owner_id, architecture, creation_date, root_snapshot_ids, name}

with the values AWS reports (docs/trust-and-compliance.md has a signing script). The server
rebuilds the manifest from DescribeImages — never from the request — and verifies the signature
with ``cryptography``. A failed verification is recorded with a precise code:

=====================  =====================================================================
``malformed_signature``  not base64 or not 64 bytes
``malformed_manifest``   the (optional, diagnostic) manifest supplied is not a JSON object
``no_keys``              the signer has no publisher key
``unknown_key``          no key with the fingerprint given belongs to the signer
``revoked_key``          the signature verifies only with a key the signer revoked
``other_image``          the signature is over another image's manifest
``image_replaced``       the signature is over this AMI id, but creation date / snapshots / owner
                         no longer match AWS (the image was replaced after signing)
``tampered_manifest``    the signed manifest differs from AWS in other fields, or the manifest
                         supplied was altered after it was signed
``wrong_key``            the signature verifies with none of the signer's keys
``image_not_found``      DescribeImages does not know the image any more
=====================  =====================================================================
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import transaction
from django.utils import timezone

from amis.models import AMI, AMISignature
from amis.ownership import ami_role
from registry import aws
from registry.audit import audit_record
from registry.aws_images import root_snapshot_ids
from registry.errors import ApplicationError, Conflict, InvalidInput, NotFound, Unprocessable
from registry.models import PublisherKey

MANIFEST_FIELDS = ("ami_id", "region", "owner_id", "architecture", "creation_date", "root_snapshot_ids", "name")
# Fields that identify *which* image was signed, and fields that change only if the image behind
# the id was replaced (AWS never edits them in place).
IDENTITY_FIELDS = ("ami_id", "region")
CONTENT_FIELDS = ("owner_id", "creation_date", "root_snapshot_ids")
MAX_KEY_TEXT = 10_000
MAX_KEYS_PER_USER = 20

FAILURE_MESSAGES = {
    "malformed_signature": "The signature is not a base64-encoded 64-byte Ed25519 signature.",
    "malformed_manifest": "The manifest supplied is not a JSON object with the manifest fields.",
    "no_keys": "You have no publisher key: add one at /api/v1/me/keys/ first.",
    "unknown_key": "No publisher key with that fingerprint belongs to you.",
    "revoked_key": "The signature was made with a publisher key that has been revoked.",
    "other_image": "The signature is over the manifest of another image, not this one.",
    "image_replaced": "The image was replaced after signing: the signed manifest no longer matches AWS.",
    "tampered_manifest": "The signed manifest does not match what AWS reports for this image.",
    "wrong_key": "The signature does not verify with any of your publisher keys over this image's manifest.",
    "image_not_found": "AWS no longer knows this image in its source region.",
}


# --- keys ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParsedKey:
    key: Ed25519PublicKey
    openssh: str
    fingerprint: str


def public_key_parse(text: str) -> ParsedKey:
    """Parse an Ed25519 public key in PEM (``-----BEGIN PUBLIC KEY-----``) or OpenSSH
    (``ssh-ed25519 AAAA... comment``) form. Raises InvalidInput with the precise reason."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("a public key is required", code="malformed_key", errors={"public_key": ["Required."]})
    text = text.strip()
    if len(text) > MAX_KEY_TEXT:
        raise InvalidInput("the public key is too long", code="malformed_key",
                           errors={"public_key": ["Too long for an Ed25519 key."]})
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        elif text.startswith("ssh-"):
            key = serialization.load_ssh_public_key(text.encode())
        else:
            raise ValueError("neither PEM nor OpenSSH")
    except (ValueError, UnsupportedAlgorithm, TypeError, IndexError) as exc:
        raise InvalidInput("the public key is neither a PEM nor an OpenSSH public key", code="malformed_key",
                           errors={"public_key": [f"Unreadable key ({exc.__class__.__name__})."]}) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("only Ed25519 public keys are accepted", code="unsupported_key_type",
                           errors={"public_key": ["Only Ed25519 keys are accepted."]})
    openssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return ParsedKey(key=key, openssh=openssh, fingerprint=fingerprint_of(openssh))


def fingerprint_of(openssh: str) -> str:
    """``SHA256:<base64 without padding>`` of the key blob — what ``ssh-keygen -lf`` prints."""
    blob = base64.b64decode(openssh.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _load(key: PublisherKey) -> Ed25519PublicKey:
    return serialization.load_ssh_public_key(key.public_key.encode())


@transaction.atomic
def publisher_key_add(*, user, public_key: str, name: str = "") -> PublisherKey:
    """Register an Ed25519 public key for ``user``. Raises InvalidInput (malformed, not Ed25519,
    too many keys) or Conflict (the same key is already active for this user). Audited ``key.add``."""
    parsed = public_key_parse(public_key)
    if PublisherKey.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_KEYS_PER_USER:
        raise InvalidInput(f"at most {MAX_KEYS_PER_USER} active keys per user", code="too_many_keys")
    if PublisherKey.objects.filter(user=user, fingerprint=parsed.fingerprint, revoked_at__isnull=True).exists():
        raise Conflict("this key is already registered", code="key_exists",
                       extra={"fingerprint": parsed.fingerprint})
    key = PublisherKey.objects.create(user=user, name=(name or "").strip()[:100], public_key=parsed.openssh,
                                      fingerprint=parsed.fingerprint)
    audit_record(actor=user, action="key.add", target=key, after={"fingerprint": key.fingerprint, "name": key.name})
    return key


@transaction.atomic
def publisher_key_revoke(*, key: PublisherKey, user, reason: str = "") -> PublisherKey:
    """Revoke a key (the owner's own). Every AMI whose current signature relies on it is re-verified
    in the same transaction and loses ``verified`` (reason ``revoked_key``). Idempotent: revoking a
    revoked key changes nothing and writes no event. Audited ``key.revoke``."""
    key = PublisherKey.objects.select_for_update().get(pk=key.pk)
    if key.user_id != getattr(user, "pk", None):
        raise NotFound("no such key")
    if key.revoked_at is not None:
        return key
    key.revoked_at = timezone.now()
    key.revoked_reason = (reason or "").strip()
    key.save(update_fields=["revoked_at", "revoked_reason"])
    affected = []
    for ami_id in _amis_relying_on(key):
        ami = AMI.objects.select_for_update().get(pk=ami_id)
        latest = ami.signatures.first()
        _record(ami=ami, signer=latest.signer, signature=latest.signature, key=key, manifest=latest.manifest,
                outcome=Outcome(False, "revoked_key", FAILURE_MESSAGES["revoked_key"]))
        affected.append(ami.ami_id)
    audit_record(actor=user, action="key.revoke", target=key, before={"revoked": False},
                 after={"revoked": True, "reverified_amis": affected}, reason=key.revoked_reason)
    return key


def _amis_relying_on(key: PublisherKey) -> list:
    """AMIs whose newest signature is a valid one made with ``key``."""
    ids = []
    for ami_id in AMISignature.objects.filter(key=key, valid=True).values_list("ami_id", flat=True).distinct():
        latest = AMISignature.objects.filter(ami_id=ami_id).order_by("-created_at", "-id").first()
        if latest is not None and latest.key_id == key.pk and latest.valid:
            ids.append(ami_id)
    return ids


# --- manifest ----------------------------------------------------------------------------------

def manifest_from_image(image: dict, region: str) -> dict:
    """The canonical manifest of an image as DescribeImages reports it.

    ``root_snapshot_ids``: the EBS snapshot(s) of the mapping whose device is the image's
    ``RootDeviceName`` (all EBS snapshots of the image if none matches), sorted — the rule of
    ``registry.aws_images.root_snapshot_ids``, which the catalogue records too.
    """
    return {
        "ami_id": image.get("ImageId", ""),
        "region": region,
        "owner_id": image.get("OwnerId", ""),
        "architecture": image.get("Architecture", ""),
        "creation_date": image.get("CreationDate", ""),
        "root_snapshot_ids": root_snapshot_ids(image),
        "name": image.get("Name", ""),
    }


def manifest_canonical_bytes(manifest: dict) -> bytes:
    """The exact bytes that are signed: sorted keys, no whitespace, ASCII (``\\uXXXX`` escapes)."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("ascii")


def ami_manifest_build(*, ami: AMI) -> dict:
    """Rebuild the manifest of ``ami`` (canonical id, source region) from DescribeImages.
    Raises NotFound when AWS does not know the image."""
    try:
        image = aws.describe_image(ami.source_region, ami.ami_id, role=ami_role(ami))
    except aws.AwsError as exc:
        # Throttling/outage or missing permission: say so (503), never a 500.
        raise ApplicationError(f"AWS could not describe {ami.ami_id}: {exc.message}", code="aws_unavailable",
                               status_code=503) from exc
    if image is None:
        raise NotFound(FAILURE_MESSAGES["image_not_found"], code="image_not_found")
    return manifest_from_image(image, ami.source_region)


# --- verification ----------------------------------------------------------------------------

@dataclass
class Outcome:
    valid: bool
    code: str = ""
    reason: str = ""
    key: PublisherKey | None = None
    details: dict = field(default_factory=dict)


def signature_decode(signature: str) -> bytes | None:
    """Base64 (standard or URL-safe, padding optional) → 64 raw bytes, or None when malformed."""
    if not isinstance(signature, str):
        return None
    text = "".join(signature.split())
    if not text or len(text) > 200:
        return None
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 else None


def _verifies(key: PublisherKey, raw: bytes, manifest: dict) -> bool:
    try:
        _load(key).verify(raw, manifest_canonical_bytes(manifest))
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _diff(a: dict, b: dict) -> list[str]:
    return [f for f in MANIFEST_FIELDS if a.get(f) != b.get(f)]


def signature_evaluate(*, ami: AMI, raw: bytes | None, keys: list[PublisherKey], server_manifest: dict,
                       claimed_manifest: dict | None = None, previous_manifests: list[dict] = (),
                       other_manifests: list[dict] = ()) -> Outcome:
    """Pure decision (no I/O): which outcome does this signature have? See the module docstring."""
    if raw is None:
        return Outcome(False, "malformed_signature", FAILURE_MESSAGES["malformed_signature"])
    if not keys:
        return Outcome(False, "no_keys", FAILURE_MESSAGES["no_keys"])
    active = [k for k in keys if k.revoked_at is None]
    revoked = [k for k in keys if k.revoked_at is not None]
    for key in active:
        if _verifies(key, raw, server_manifest):
            return Outcome(True, key=key)
    for key in revoked:
        if _verifies(key, raw, server_manifest):
            return Outcome(False, "revoked_key", FAILURE_MESSAGES["revoked_key"], key=key,
                           details={"fingerprint": key.fingerprint})

    def classify(signed: dict, key: PublisherKey) -> Outcome:
        fields = _diff(signed, server_manifest)
        details = {"fields": fields, "fingerprint": key.fingerprint}
        if key.revoked_at is not None:
            return Outcome(False, "revoked_key", FAILURE_MESSAGES["revoked_key"], key=key, details=details)
        if any(f in fields for f in IDENTITY_FIELDS):
            details["signed_ami_id"] = signed.get("ami_id")
            return Outcome(False, "other_image", FAILURE_MESSAGES["other_image"], key=key, details=details)
        if any(f in fields for f in CONTENT_FIELDS):
            return Outcome(False, "image_replaced", FAILURE_MESSAGES["image_replaced"], key=key, details=details)
        return Outcome(False, "tampered_manifest", FAILURE_MESSAGES["tampered_manifest"], key=key, details=details)

    # Which manifest *was* signed? Earlier manifests of this AMI (replaced image), the caller's
    # claimed manifest (diagnostic only: never trusted), then the signer's other images.
    for candidates in (previous_manifests, [claimed_manifest] if claimed_manifest else [], other_manifests):
        for signed in candidates:
            for key in keys:
                if _verifies(key, raw, signed):
                    return classify(signed, key)
    if claimed_manifest:
        # The manifest supplied does not carry this signature: it was edited after signing.
        return Outcome(False, "tampered_manifest",
                       "The manifest supplied was altered after it was signed (or signed with another key).",
                       details={"fields": _diff(claimed_manifest, server_manifest)})
    return Outcome(False, "wrong_key", FAILURE_MESSAGES["wrong_key"])


def _record(*, ami: AMI, signer, signature: str, key: PublisherKey | None, manifest: dict,
            outcome: Outcome) -> AMISignature:
    """Store one verification result and mirror it on the AMI row (caller holds the row lock)."""
    row = AMISignature.objects.create(
        ami=ami, key=key, key_fingerprint=key.fingerprint if key else "", signer=signer,
        signer_username=signer.get_username() if signer else "", signature=(signature or "")[:400],
        manifest=manifest, valid=outcome.valid, failure_code=outcome.code, failure_reason=outcome.reason,
        verified_at=timezone.now())
    AMI.objects.filter(pk=ami.pk).update(verified=outcome.valid, signature_valid=outcome.valid,
                                         updated_at=timezone.now())
    ami.verified = ami.signature_valid = outcome.valid
    return row


def _claimed(manifest) -> dict | None:
    if manifest is None or manifest == "":
        return None
    if isinstance(manifest, str):
        try:
            manifest = json.loads(manifest)
        except ValueError:
            raise InvalidInput(FAILURE_MESSAGES["malformed_manifest"], code="malformed_manifest",
                               errors={"manifest": ["Not JSON."]}) from None
    if not isinstance(manifest, dict) or not set(MANIFEST_FIELDS) <= set(manifest):
        raise InvalidInput(FAILURE_MESSAGES["malformed_manifest"], code="malformed_manifest",
                           errors={"manifest": [f"Needs exactly the fields {', '.join(MANIFEST_FIELDS)}."]})
    return {f: manifest[f] for f in MANIFEST_FIELDS}


def ami_signature_verify(*, ami: AMI, signature: str, user, key_fingerprint: str = "",
                         manifest: dict | str | None = None, image: dict | None = None) -> AMISignature:
    """Verify ``signature`` (by ``user``, normally the AMI's creator) over the AMI's manifest rebuilt
    from DescribeImages, record the outcome and set ``verified``/``signature_valid``.

    Called by ``ami_signature_require_valid`` (registration and submission with a signature) and
    by ``POST /amis/{ami}/signature``. ``image``: DescribeImages' answer when the caller has just
    fetched it (registration), else it is fetched here, before the transaction (no row lock held
    across network I/O). Never raises for a *bad signature*: the returned row says why
    (``failure_code``); raises NotFound only when AWS no longer knows the image and InvalidInput
    for a malformed diagnostic ``manifest``. Audited ``ami.signature_verify``.
    """
    claimed = _claimed(manifest)
    raw = signature_decode(signature)
    if raw is None:
        server_manifest = {}
    elif image is not None:
        server_manifest = manifest_from_image(image, ami.source_region)
    else:
        server_manifest = ami_manifest_build(ami=ami)
    keys = list(PublisherKey.objects.filter(user=user)) if getattr(user, "is_authenticated", False) else []
    if key_fingerprint:
        keys = [k for k in keys if k.fingerprint == key_fingerprint.strip()]
    previous = [m for m in AMISignature.objects.filter(ami=ami, valid=True).values_list("manifest", flat=True)
                if m and m != server_manifest]
    others = [_row_manifest(a) for a in AMI.objects.filter(creator=user).exclude(pk=ami.pk)[:200]] \
        if keys and raw is not None else []
    if raw is not None and key_fingerprint and not keys:
        outcome = Outcome(False, "unknown_key", FAILURE_MESSAGES["unknown_key"])
    else:
        outcome = signature_evaluate(ami=ami, raw=raw, keys=keys, server_manifest=server_manifest,
                                     claimed_manifest=claimed, previous_manifests=previous, other_manifests=others)
    with transaction.atomic():
        locked = AMI.objects.select_for_update().get(pk=ami.pk)
        signer = user if getattr(user, "is_authenticated", False) else None
        row = _record(ami=locked, signer=signer, signature=signature,
                      key=outcome.key, manifest=server_manifest, outcome=outcome)
        row.details = outcome.details
        audit_record(actor=user, action="ami.signature_verify", target=locked,
                     after={"valid": outcome.valid, "code": outcome.code or "valid",
                            "fingerprint": row.key_fingerprint, **outcome.details})
    ami.verified = ami.signature_valid = outcome.valid
    return row


def ami_signature_require_valid(*, ami: AMI, signature: str, user, image: dict | None = None) -> AMISignature:
    """Verify a signature supplied with a registration or a submission; raise the 422 with the
    precise failure code when it does not verify (the caller's transaction then rolls back, so a
    client never ends up with an entry it believes is signed but is not)."""
    row = ami_signature_verify(ami=ami, signature=signature, user=user, image=image)
    if not row.valid:
        raise signature_failure(row)
    return row


def publisher_keys_erase(*, user) -> int:
    """Delete every publisher key of ``user`` (account erasure). An AMI whose current signature
    relies on one of them stops counting as verified (a ``no_keys`` verification is recorded).
    Call inside the erasure's transaction. Returns the number of keys deleted."""
    outcome = Outcome(False, "no_keys", "The signer's account and keys were erased.")
    keys = list(PublisherKey.objects.filter(user=user))
    for key in keys:
        for ami_id in _amis_relying_on(key):
            ami = AMI.objects.select_for_update().get(pk=ami_id)
            latest = ami.signatures.first()
            _record(ami=ami, signer=None, signature=latest.signature, key=None, manifest=latest.manifest,
                    outcome=outcome)
    return PublisherKey.objects.filter(user=user).delete()[0]


def ami_signature_reverify(*, ami: AMI) -> AMISignature | None:
    """Re-run the newest signature of ``ami`` against AWS as it is now (beat rescans, key revocation).
    Detects replaced images and revoked keys. Returns the new row, or None if never signed."""
    latest = ami.signatures.select_related("signer").first()
    if latest is None:
        return None
    signer = latest.signer
    if signer is None:
        # The signer's account (and keys) were erased: nothing left to verify with.
        with transaction.atomic():
            locked = AMI.objects.select_for_update().get(pk=ami.pk)
            row = _record(ami=locked, signer=None, signature=latest.signature, key=None, manifest=latest.manifest,
                          outcome=Outcome(False, "no_keys", "The signer's account and keys were deleted."))
        return row
    return ami_signature_verify(ami=ami, signature=latest.signature, user=signer,
                                key_fingerprint=latest.key_fingerprint)


def _row_manifest(ami: AMI) -> dict:
    """The manifest of another of the signer's AMIs from the facts recorded at registration."""
    return {"ami_id": ami.ami_id, "region": ami.source_region, "owner_id": ami.owner_account_id,
            "architecture": ami.architecture, "creation_date": ami.image_creation_date,
            "root_snapshot_ids": sorted(ami.root_snapshot_ids or []), "name": ami.image_name}


def signature_failure(row: AMISignature) -> Unprocessable:
    """The API error for a failed verification (422, ``code`` = the failure code)."""
    return Unprocessable(row.failure_reason, code=row.failure_code,
                         extra={"signature": {"valid": False, "code": row.failure_code,
                                              "reason": row.failure_reason,
                                              "details": getattr(row, "details", {})}})
