"""Text hygiene for user-supplied strings: invisible and direction-changing characters, NULs.

Bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C) reorder what a reader
sees ("Trojan Source"); zero-width characters (U+200B–U+200D, U+2060, U+FEFF, U+180E) make two
different strings look the same. Free text — descriptions, reviews, tags, names shown to others —
is cleaned with ``text_strip_invisible`` (the characters are dropped, nothing else changes); identifiers such as
usernames refuse them instead (``text_has_invisible``). PostgreSQL cannot store a NUL in text at all:
``text_has_nul`` lets interfaces refuse it with a 400 before any query.
"""
from __future__ import annotations

import re

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
ZERO_WIDTH = "\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
INVISIBLE = BIDI_CONTROLS + ZERO_WIDTH
_INVISIBLE_RE = re.compile(f"[{INVISIBLE}]")


def text_strip_invisible(value):
    """``value`` without bidi controls and zero-width characters (non-strings pass through)."""
    if not isinstance(value, str):
        return value
    return _INVISIBLE_RE.sub("", value)


def text_strip_invisible_list(values):
    """``text_strip_invisible`` over a list of strings (e.g. tags), dropping entries left empty."""
    if not isinstance(values, (list, tuple)):
        return values
    cleaned = [text_strip_invisible(v) for v in values]
    return [v for v in cleaned if not isinstance(v, str) or v.strip()]


def text_has_invisible(value: str) -> bool:
    return bool(_INVISIBLE_RE.search(value or ""))


def text_has_nul(value: str) -> bool:
    return "\x00" in (value or "")
