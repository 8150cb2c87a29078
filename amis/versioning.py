"""Semantic versions of a lineage, version constraints and the names of lineages and channels.

No I/O: the one home of the rules that the lineage services (``amis.lineages``), the API input
checks and the resolver (``?version=~> 1.4``) share.

* A version is strict SemVer 2.0: ``MAJOR.MINOR.PATCH``, an optional ``-prerelease`` and an
  optional ``+build`` (ignored for ordering, as SemVer says).
* A constraint is one or more comma-separated clauses, all of which must hold:
  ``= 1.2.3``, ``!= 1.2.3``, ``> 1.2``, ``>= 1.2``, ``< 2``, ``<= 2.1``, and the pessimistic
  ``~> 1.4`` (Vagrant, HCP Packer and RubyGems style: ``>= 1.4, < 2``; ``~> 1.4.2`` is
  ``>= 1.4.2, < 1.5``). Missing minor/patch parts count as 0. Pre-releases match only a clause
  that names a pre-release of the same ``MAJOR.MINOR.PATCH`` (npm's rule: ``>= 1.0`` must not pick
  ``2.0.0-rc.1``).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from templates.validation import CHANNEL_NAME_MESSAGE, CHANNEL_NAME_RE

# The managed channel: always the newest approved version. Never moved by hand.
LATEST = "latest"
CHANNEL_NAME_MAX = 40   # the pattern, CHANNEL_NAME_RE, is the template format's (ami_config.channel)
LINEAGE_NAME_MAX = 100
LINEAGE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
CONSTRAINT_MAX = 100

_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
# In a constraint: 1, 1.4 or 1.4.2, with an optional pre-release.
_PARTIAL_RE = re.compile(r"^(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?(?:-([0-9A-Za-z.-]+))?$")
_CLAUSE_RE = re.compile(r"^\s*(~>|>=|<=|!=|=|>|<)?\s*(\S+)\s*$")


@functools.total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple = ()

    @property
    def core(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def _key(self):
        # SemVer §11: a pre-release sorts before its release; numeric identifiers numerically and
        # before alphanumeric ones; a longer set of identifiers wins when the shorter is a prefix.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.core, 1 if not self.prerelease else 0, pre)

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __str__(self) -> str:
        return ".".join(map(str, self.core)) + (f"-{'.'.join(self.prerelease)}" if self.prerelease else "")


def version_parse(text: str) -> Version | None:
    """The version ``text`` names, or None when it is not strict SemVer."""
    match = _SEMVER_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    major, minor, patch, pre, _build = match.groups()
    return Version(int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else ())


def version_is_valid(text: str) -> bool:
    return version_parse(text) is not None


def version_sort_key(text: str):
    """Sort key for stored version strings (an unparsable one sorts first)."""
    parsed = version_parse(text)
    return (1, parsed._key()) if parsed else (0, ())


@dataclass(frozen=True)
class Constraint:
    """A parsed version constraint; ``matches(version)`` and ``str()`` (normalised)."""

    clauses: tuple  # ((operator, Version, parts given), ...)
    text: str

    def matches(self, version: Version | str) -> bool:
        if isinstance(version, str):
            version = version_parse(version)
            if version is None:
                return False
        if version.prerelease and not any(v.prerelease and v.core == version.core for _op, v, _n in self.clauses):
            return False
        return all(_clause_holds(op, bound, parts, version) for op, bound, parts in self.clauses)

    def __str__(self) -> str:
        return self.text


def _upper_of_pessimistic(bound: Version, parts: int) -> Version:
    # ~> 1.4 → < 2.0.0; ~> 1.4.2 → < 1.5.0; ~> 1 → < 2.0.0 (one part: the major may not change).
    if parts >= 3:
        return Version(bound.major, bound.minor + 1, 0)
    return Version(bound.major + 1, 0, 0)


def _clause_holds(op: str, bound: Version, parts: int, version: Version) -> bool:
    if op == "~>":
        return bound <= version < _upper_of_pessimistic(bound, parts)
    return {"=": version == bound, "!=": version != bound, ">": version > bound, ">=": version >= bound,
            "<": version < bound, "<=": version <= bound}[op]


def constraint_parse(text: str) -> Constraint | None:
    """The constraint ``text`` names (``~> 1.4``, ``>= 1.2, < 2``, ``1.4.2``), or None when malformed."""
    if not isinstance(text, str) or not text.strip() or len(text) > CONSTRAINT_MAX:
        return None
    clauses = []
    for raw in text.split(","):
        match = _CLAUSE_RE.match(raw)
        if not match:
            return None
        op, value = match.group(1) or "=", match.group(2)
        partial = _PARTIAL_RE.match(value)
        if not partial:
            return None
        major, minor, patch, pre = partial.groups()
        parts = 1 + (minor is not None) + (patch is not None)
        if op == "=" and parts < 3:
            # "= 1.4" (or a bare "1.4") means any 1.4.x and "1" any 1.x, as a partial version in npm.
            op, parts = "~>", parts + 1
        bound = Version(int(major), int(minor or 0), int(patch or 0), tuple(pre.split(".")) if pre else ())
        clauses.append((op, bound, parts))
    return Constraint(tuple(clauses), ", ".join(f"{op} {b}" for op, b, _n in clauses))


def channel_name_problem(name) -> str:
    """Why ``name`` cannot name a channel ("" when it can)."""
    if not isinstance(name, str) or not CHANNEL_NAME_RE.match(name):
        return CHANNEL_NAME_MESSAGE[0].upper() + CHANNEL_NAME_MESSAGE[1:] + "."
    return ""


def lineage_name_problem(name) -> str:
    """Why ``name`` cannot name a lineage ("" when it can)."""
    if not isinstance(name, str) or not LINEAGE_NAME_RE.match(name):
        return ("A lineage name is 1–100 characters: lower-case letters, digits, '.', '_' or '-', starting "
                "with a letter or digit.")
    return ""
