"""Signed unsubscribe tokens for the links in notification emails (no login needed to use one).

A token names what to switch off: one subscription's email (``sub``), or the emails about one's
own AMIs and reviews (``own``), or revocation notices for launched AMIs (``launched``). Signed
with the site's secret key and a salt of their own; they do not expire (a link in an old email
must still work) and carry the user id, so a token for one user never touches another's data.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.core import signing

SALT = "notifications.unsubscribe"
KINDS = ("sub", "own", "launched")


@dataclass(frozen=True)
class UnsubscribeToken:
    kind: str
    user_id: int
    subscription_id: int | None = None


def unsubscribe_token_make(*, kind: str, user_id: int, subscription_id: int | None = None) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown unsubscribe kind {kind!r}")
    payload = {"k": kind, "u": user_id}
    if subscription_id is not None:
        payload["s"] = subscription_id
    return signing.dumps(payload, salt=SALT, compress=True)


def unsubscribe_token_read(token: str) -> UnsubscribeToken | None:
    """The token's content, or None when it is forged, damaged or malformed."""
    try:
        payload = signing.loads(token, salt=SALT)
        kind, user_id = payload["k"], int(payload["u"])
        subscription_id = int(payload["s"]) if "s" in payload else None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if kind not in KINDS or (kind == "sub") != (subscription_id is not None):
        return None
    return UnsubscribeToken(kind=kind, user_id=user_id, subscription_id=subscription_id)
