"""The stored search index of the catalogue (PostgreSQL): documents, vocabulary, generation.

``amis/migrations/0005`` creates the pieces and the triggers that keep them current; this module
is their Python side:

- ``search_index_rebuild()``: recompute every AMI's search document and region array, and the
  vocabulary, set-based (after a bulk load that bypassed the triggers, e.g. ``seed_scale``);
- ``typo_expansions(terms)``: for each search term that is no prefix of any word in the
  catalogue, the known words that look like it (``pg_trgm`` similarity), so ``pyhton`` also
  searches ``python``;
- ``catalogue_generation()``: a number that changes, in the writing transaction, whenever
  anything facet counts depend on changed — the key of the cached facet counts. The counter is
  a row, so a reader sees the old number with the old rows or the new number with the new rows
  (never the new number before the rows commit, as a sequence would allow).
"""
from __future__ import annotations

import hashlib

from django.db import connection

from registry.cache import cache_get, cache_set

# Trigram similarity a known word needs to stand in for a misspelt term. Transposed letters
# ("pyhton") share few trigrams, hence lower than pg_trgm's default 0.3; the edit-distance cap
# below keeps the looser threshold from matching unrelated words.
TYPO_SIMILARITY = 0.2
TYPO_MIN_LENGTH = 4
TYPO_MAX_WORDS = 3
# Cached expansions are keyed by the generation; the TTL only bounds an unused entry's stay.
TYPO_CACHE_TTL = 3600


def is_indexed() -> bool:
    """Whether the stored index exists (PostgreSQL; SQLite searches on the fly)."""
    return connection.vendor == "postgresql"


# The set-based form of what the triggers do row by row (same SQL functions).
REBUILD = r"""
UPDATE ami_registry a
SET search_document = ami_search_document_of(
        a.name, a.doi, a.tags::text,
        (SELECT t.name FROM workstation_templates t WHERE t.id = a.template_id),
        (SELECT t.slug FROM workstation_templates t WHERE t.id = a.template_id),
        a.description, (SELECT u.username FROM auth_user u WHERE u.id = a.creator_id), a.authors::text, a.license),
    available_regions = ami_available_regions(a.id);
INSERT INTO ami_search_words (word)
SELECT DISTINCT w
FROM ami_registry a
LEFT JOIN workstation_templates t ON t.id = a.template_id
LEFT JOIN auth_user u ON u.id = a.creator_id,
LATERAL regexp_split_to_table(lower(ami_search_text_of(a.name, a.doi, a.tags::text, t.name, t.slug,
                                                       a.description, u.username, a.authors::text, a.license)),
                               '[^[:alnum:]]+') AS w
WHERE length(w) BETWEEN 3 AND 64
ON CONFLICT DO NOTHING;
"""


def search_index_rebuild() -> None:
    """Recompute documents, region arrays and the vocabulary of every AMI (set-based)."""
    if not is_indexed():
        return
    with connection.cursor() as cursor:
        cursor.execute(REBUILD)


def _edit_budget(term: str) -> int:
    return 1 if len(term) < 6 else 2


# ``typo_expansions``' default: read the generation itself.
READ_GENERATION = object()


def typo_expansions(terms: list[str], *, generation=READ_GENERATION) -> dict[str, list[str]]:
    """``{term: [similar known words]}`` for the terms no known word starts with (one query).

    A term some word starts with is left exactly as today (prefix + stemming): typo tolerance
    only ever adds matches for words the catalogue does not contain. ``generation``: the
    catalogue generation when the caller has read it already (``catalogue_generation()``'s answer,
    None included), to spare a query.
    """
    candidates = [t for t in dict.fromkeys(terms) if len(t) >= TYPO_MIN_LENGTH and not t.isdigit()]
    if not candidates or not is_indexed():
        return {}
    # The vocabulary only changes with a search document, which bumps the generation: within one
    # generation the answer for a term is fixed, so it is cached under it (never inside a write).
    if generation is READ_GENERATION:
        generation = catalogue_generation()
    key = f"amis:typos:{generation}:" + hashlib.sha256(" ".join(candidates).encode()).hexdigest()[:32]
    if generation is not None and (cached := cache_get(key)) is not None:
        return cached
    found = _typo_expansions_query(candidates)
    if generation is not None:
        cache_set(key, found, TYPO_CACHE_TTL)
    return found


def _typo_expansions_query(candidates: list[str]) -> dict[str, list[str]]:
    # Per term: skip it if some word has it as a prefix; otherwise the most similar words
    # within the edit budget (levenshtein from pg_trgm's companion is not needed: the length
    # window and the similarity together keep matches close).
    sql = """
        SELECT t.term, s.word
        FROM unnest(%s::text[], %s::int[]) AS t(term, budget)
        CROSS JOIN LATERAL (
            SELECT w.word FROM ami_search_words w
            WHERE NOT EXISTS (SELECT 1 FROM ami_search_words p WHERE p.word LIKE t.term || '%%')
              AND w.word %% t.term
              AND length(w.word) BETWEEN length(t.term) - t.budget AND length(t.term) + t.budget
            ORDER BY similarity(w.word, t.term) DESC, w.word
            LIMIT %s
        ) AS s
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pg_trgm.similarity_threshold', %s, false)", [str(TYPO_SIMILARITY)])
        cursor.execute(sql, [candidates, [_edit_budget(t) for t in candidates], TYPO_MAX_WORDS])
        found: dict[str, list[str]] = {}
        for term, word in cursor.fetchall():
            found.setdefault(term, []).append(word)
    return found


def catalogue_generation() -> str | None:
    """The facet-relevant generation of the catalogue (``<database oid>.<counter>``), or None: no stored index (SQLite), or the
    current transaction itself changed the catalogue and has not committed (its counts must not
    be cached: it may still roll back)."""
    if not is_indexed():
        return None
    with connection.cursor() as cursor:
        # The database's oid makes the number unique to this database: caches keyed by it may be
        # shared (one Redis) by databases whose counters meet — a re-created demo or test
        # database, a restore into a new database — and must never answer for another's rows.
        cursor.execute("SELECT n, COALESCE(txid = txid_current_if_assigned(), false), "
                       "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                       "FROM ami_catalogue_generation WHERE id = 1")
        row = cursor.fetchone()
    return f"{row[2]}.{row[0]}" if row and not row[1] else None


def catalogue_generation_bump() -> None:
    """A new generation by hand: after a bulk load that ran without the triggers."""
    if is_indexed():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE ami_catalogue_generation SET n = n + 1 WHERE id = 1")
