"""Cached representations of the catalogue's rows: an AMI's API object and its browse card.

A page of results costs its ids query and one cache round trip when every row's representation
is cached; only the rows missing are loaded and represented. A representation is stored under
what makes it current, read from the same ids query:

- ``listing_version``, which the database changes whenever anything a listing shows of the row
  changes (its columns, its copies, its template's and creator's names; amis/migrations/0007)
  and which never takes the same value twice (a sequence: a rolled-back write's number is never
  reused), and
- ``download_count``, the counter every listing shows and the only shown column that moves
  without changing the version (a download is frequent; it must not re-render the row).

So a cached representation is exactly what would be computed now, never stale: there is no TTL
to wait out, the TTL only bounds how long an unused entry stays in the cache. The key also holds
the code's ``representation_revision()``: a deployment that changes how rows are represented
starts from an empty cache.

Only on PostgreSQL (``amis.search_index.is_indexed``): SQLite has no triggers keeping versions.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import django
import rest_framework

from registry.cache import cache_get, cache_get_many, cache_set, cache_set_many

# An unused representation leaves the cache after this; a used one is rewritten only when its row
# changes (the key changes), so this is the only expiry.
REPRESENTATION_TTL = 3600

# What the representations are made from: a change to any of these files is a new revision.
_REPRESENTATION_SOURCES = (
    "amis/serializers.py", "registry/representation.py", "amis/listing_cache.py",
    "registry/templates/amis/_card.html", "registry/templates/amis/_badges.html",
    "registry/templates/amis/_stars.html", "registry/templates/amis/_facets.html",
)

# (pk, listing_version, download_count): a row's identity and what makes its representation current.
RowKey = tuple


@lru_cache(maxsize=1)
def representation_revision() -> str:
    """A digest of the code that represents rows (and of Django's and DRF's versions)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{django.__version__}|{rest_framework.VERSION}".encode())
    for name in _REPRESENTATION_SOURCES:
        digest.update(name.encode())
        path = root / name
        digest.update(path.read_bytes() if path.is_file() else b"(absent)")  # a layout without it still serves
    return digest.hexdigest()[:12]


def _cache_key(kind: str, pk, listing_version: int, download_count: int) -> str:
    return f"amis:repr:{kind}:{representation_revision()}:{pk}:{listing_version}:{download_count}"


def cached_representations(kind: str, rows: Sequence[RowKey], *, load: Callable[[list], list],
                           represent: Callable[[list], list]) -> list:
    """The representations of ``rows`` (in their order), of one ``kind`` ("api", "card", ...).

    ``load(pks)`` returns the AMIs of those primary keys (any order; a row deleted meanwhile is
    simply missing, and left out); ``represent(amis)`` returns their representations in order.
    Representations built here are stored under the loaded rows' own version and counter (they may
    be newer than the ids query's), so that what is stored always matches its key.
    """
    keys = [_cache_key(kind, *row) for row in rows]
    found = cache_get_many(keys)
    missing = [row[0] for row, key in zip(rows, keys) if key not in found]
    built: dict = {}
    if missing:
        amis = load(missing)
        fresh = {}
        for ami, value in zip(amis, represent(amis)):
            built[ami.pk] = value
            fresh[_cache_key(kind, ami.pk, ami.listing_version, ami.download_count)] = value
        cache_set_many(fresh, REPRESENTATION_TTL)
    out = []
    for row, key in zip(rows, keys):
        value = found[key] if key in found else built.get(row[0])
        if value is not None:
            out.append(value)
    return out


def cached_fragment(kind: str, parts, build: Callable[[], object]):
    """``build()``, cached under a digest of ``parts`` — everything the fragment is made from (the
    catalogue generation among them when it reads the database), so the key changes whenever the
    fragment would."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    key = f"amis:fragment:{kind}:{representation_revision()}:{digest}"
    value = cache_get(key)
    if value is None:
        value = build()
        cache_set(key, value, REPRESENTATION_TTL)
    return value
