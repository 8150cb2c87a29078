"""Publisher signatures: sign the registry's canonical manifest of an image with an Ed25519 key.

The registry rebuilds the manifest from what AWS reports (``GET /amis/{ami}/manifest``) and
verifies the signature against the publisher keys registered with ``/me/keys/``; the client
shows what it signs, so the publisher sees which image (id, snapshots, creation date) they vouch
for."""
from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_ssh_private_key

from cws.errors import LocalError


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LocalError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    try:
        key = (load_ssh_private_key(raw, None) if raw.lstrip().startswith(b"-----BEGIN OPENSSH")
               else load_pem_private_key(raw, None))
    except (ValueError, TypeError) as exc:
        raise LocalError(f"{path} is not an unencrypted PEM or OpenSSH private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LocalError(f"{path} is not an Ed25519 key (the registry verifies Ed25519 signatures only)")
    return key


def sign_canonical(key: Ed25519PrivateKey, canonical: str) -> str:
    """Base64 of the raw 64-byte Ed25519 signature over the canonical manifest's bytes."""
    return base64.b64encode(key.sign(canonical.encode("ascii"))).decode("ascii")
