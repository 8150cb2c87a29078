"""Username look-alikes: mixed-script names and confusables of existing names (Unicode TR39).

Two checks, both run by ``user_register`` before an account is created:

- **mixed script** — the letters of a name come from one script (digits and ``@ . + - _`` belong
  to none), except the combinations UTS #39's "highly restrictive" level allows (Latin with Han
  and the Japanese kana, with Han and Bopomofo, or with Han and Hangul). ``аdmin`` with a Cyrillic
  ``а`` is refused.
- **skeletons** — ``username_skeleton`` follows TR39's *skeleton* algorithm (NFD, map every
  character to its prototype, NFD again), after NFKC (full-width and other compatibility forms)
  and followed by case folding because usernames are unique regardless of case. Two names with
  one skeleton look alike (``paypal`` / ``раураl`` in Cyrillic, ``bob`` / ``b0b``, ``admin`` /
  ``adrnin``); the second is refused.

The prototype table is vendored: a subset of Unicode's ``confusables.txt`` (UTS #39 data, version
15.1.0; its source → target pairs with Latin/ASCII targets, for the Cyrillic and Greek letters and
the ASCII characters that imitate Latin letters). No maintained Python package computes TR39
skeletons; ``confusable-homoglyphs`` answers "is it dangerous", not "what does it look like".
Extend ``PROTOTYPES`` from ``confusables.txt`` when another script's look-alikes matter.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# source character → prototype (confusables.txt, type MA). Case is kept: "I" and "l" look alike,
# "i" and "l" do not.
PROTOTYPES: dict[str, str] = {
    # ASCII and Latin look-alikes of other Latin letters
    "0": "O", "1": "l", "I": "l", "|": "l", "m": "rn", "\u0131": "i", "\u0251": "a", "\u0261": "g",
    "\u01c0": "l", "\u2113": "l",
    # Cyrillic
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y", "\u0445": "x",
    "\u0455": "s", "\u0456": "i", "\u0458": "j", "\u04bb": "h", "\u04cf": "l", "\u0501": "d", "\u051b": "q",
    "\u051d": "w", "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H",
    "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0425": "X", "\u0405": "S", "\u0406": "l",
    "\u0408": "J", "\u04ae": "Y", "\u051a": "Q", "\u051c": "W",
    # Greek
    "\u03b1": "a", "\u03b3": "y", "\u03b9": "i", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p",
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "l", "\u039a": "K",
    "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X",
}

# Script sets UTS #39 "highly restrictive" accepts in one identifier (besides a single script).
_ALLOWED_MIXES = ({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}, {"LATIN", "HAN", "BOPOMOFO"},
                  {"LATIN", "HAN", "HANGUL"})


def _script(char: str) -> str | None:
    """The script of a letter, from its Unicode name (``CYRILLIC SMALL LETTER A`` → CYRILLIC);
    None for digits, punctuation and marks, which belong to every script ("Common")."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    if name.startswith("CJK "):
        return "HAN"
    return name.split(" ", 1)[0] or None


def username_scripts(username: str) -> set[str]:
    return {s for s in (_script(c) for c in unicodedata.normalize("NFKC", username)) if s}


def username_is_mixed_script(username: str) -> bool:
    scripts = username_scripts(username)
    return len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_MIXES)


def username_skeleton(username: str) -> str:
    """TR39 skeleton (see the module docstring), case-folded."""
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", username))
    mapped = "".join(PROTOTYPES.get(c, c) for c in text)
    folded = unicodedata.normalize("NFD", mapped).casefold()
    # Folding can produce characters that have prototypes themselves (e.g. "I" → "i" does not,
    # but a folded Greek capital does): map once more so case never hides a look-alike.
    return "".join(PROTOTYPES.get(c, c) for c in folded)


def username_confusable_with(username: str, existing: Iterable[str]) -> str | None:
    """The first of ``existing`` that looks like ``username`` (same skeleton), or None."""
    skeleton = username_skeleton(username)
    for other in existing:
        if username_skeleton(other) == skeleton:
            return other
    return None
