"""The resolver's Redis cache (Django's cache): image availability and whole resolutions.

Keys:
- ``resolver:avail:<region>:<image id>`` → a summary of DescribeImages (or ``{"state": "missing"}``),
  TTL ``REGISTRY_AVAILABILITY_CACHE_TTL``;
- ``resolver:res:<hash of the template slug/name>:<region>:<arch>:<strategy>:<versions>:<scope>``
  → ``{generation, answer}``: a finished resolution and the generation it was computed under,
  TTL ``REGISTRY_RESOLUTION_CACHE_TTL``.

Invalidation is a *generation counter*: any change to a template, an AMI's status/visibility or its
regional copies increments ``resolver:gen`` and every answer of an older generation stops being
served (Redis evicts them by TTL). A read fetches the counter and the entry in one round trip
(``MGET``). No key scans, no races between a delete and a concurrent writer: a resolution computed
while an AMI changes carries the generation read *before* it read the database, so it is never
served after the change. The counter is bumped at once and again after
the surrounding transaction commits (see ``amis.signals.ami_changed_notify``), so nothing
re-caches the pre-commit state in between. Serving a cached answer still re-checks the AMI it
names with one primary-key query (``resolver.answers.cached_answer_still_valid``): a revoked AMI is
never served, not even between a revoke and the signal.
"""
from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.db import transaction

from registry import metrics
from registry.cache import cache_add, cache_delete, cache_get, cache_get_many, cache_incr, cache_set
from registry.permissions import is_moderator

logger = logging.getLogger(__name__)

GENERATION_KEY = "resolver:gen"


def _ttl(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def enabled() -> bool:
    return bool(getattr(settings, "REGISTRY_RESOLVER_CACHE_ENABLED", True))


# --- generation ------------------------------------------------------------------------------

def generation() -> int:
    # With Redis down every read is a miss and every write a no-op (registry.cache): resolutions
    # are then computed from PostgreSQL each time, never served stale.
    value = cache_get(GENERATION_KEY)
    if value is None:
        # add() is atomic: two processes racing here agree on one starting value.
        cache_add(GENERATION_KEY, 1, timeout=None)
        value = cache_get(GENERATION_KEY) or 1
    return int(value)


def generation_bump() -> None:
    """Make every cached resolution stale. Cheap (one INCR), idempotent in effect."""
    # A missing key (never set, evicted) starts a new sequence; an outage is logged by registry.cache
    # and must not break a moderation action.
    if cache_incr(GENERATION_KEY) is None:
        cache_add(GENERATION_KEY, 2, timeout=None)


def invalidate_all() -> None:
    """Bump now and after the current transaction commits (a no-op repeat outside one)."""
    generation_bump()
    transaction.on_commit(generation_bump)


# --- availability ------------------------------------------------------------------------------

def _avail_key(region: str, image_id: str) -> str:
    return f"resolver:avail:{region}:{image_id}"


def availability_get(region: str, image_id: str) -> dict | None:
    value = cache_get(_avail_key(region, image_id))
    metrics.CACHE_EVENTS.labels(cache="availability", result="hit" if value is not None else "miss").inc()
    return value


def availability_set(region: str, image_id: str, summary: dict) -> None:
    cache_set(_avail_key(region, image_id), summary, timeout=_ttl("REGISTRY_AVAILABILITY_CACHE_TTL", 300))


# --- resolutions ---------------------------------------------------------------------------------

def visibility_scope(user) -> str:
    """Who a cached answer may be shown to: everyone anonymous shares one entry; a signed-in user's
    answer may include AMIs shared with them only, so it is keyed by user (moderators share one)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "anon"
    if is_moderator(user):
        return "mod"
    return f"user{user.pk}"


def resolution_key(*, template_ref: str, region: str, architecture: str | None, strategy: str | None,
                   user, channel: str | None = None, version: str | None = None) -> str:
    """The cache key of one resolution. Keyed by the template *reference* as the caller gave it (slug
    or name), so a warm answer needs no database query to find the template: every change to a
    template bumps the generation (post_save/post_delete and ``templates.signals.template_changed``)."""
    ref = hashlib.blake2b(template_ref.encode(), digest_size=12).hexdigest()   # names hold spaces etc.
    # Channel and constraint as given ("" / "-": the template's own channel, no constraint).
    versions = hashlib.blake2b(f"{channel or ''}|{version or ''}".encode(), digest_size=6).hexdigest()
    return f"resolver:res:{ref}:{region}:{architecture or '-'}:{strategy or '-'}:{versions}:{visibility_scope(user)}"


def resolution_get(key: str) -> tuple[dict | None, int]:
    """The answer cached under ``key`` if it was computed in the current generation (else None),
    and the current generation — what a fresh answer is stored with. One round trip."""
    values = cache_get_many([GENERATION_KEY, key])
    current = values.get(GENERATION_KEY)
    current = int(current) if current is not None else generation()
    entry = values.get(key)
    value = entry["answer"] if isinstance(entry, dict) and entry.get("generation") == current else None
    metrics.CACHE_EVENTS.labels(cache="resolution", result="hit" if value is not None else "miss").inc()
    return value, current


def resolution_set(key: str, resolution: dict, *, generation_seen: int) -> None:
    """Cache ``resolution`` as computed in ``generation_seen`` (read before the database was)."""
    cache_set(key, {"generation": generation_seen, "answer": resolution},
              timeout=_ttl("REGISTRY_RESOLUTION_CACHE_TTL", 300))


def resolution_delete(key: str) -> None:
    cache_delete(key)


# --- signal receivers (connected in resolver.apps) ---------------------------------------------------

def on_template_changed(sender=None, **kwargs) -> None:
    invalidate_all()


def on_ami_changed(sender=None, **kwargs) -> None:
    invalidate_all()


def on_policy_changed(sender=None, **kwargs) -> None:
    """An institution's policy changed: answers computed under the old one are stale."""
    generation_bump()


def on_model_saved_or_deleted(sender=None, **kwargs) -> None:
    """Belt and braces: any write to a template, an AMI or a regional copy — through a service, the
    admin, a data migration or a test factory — invalidates, even if no domain signal is sent."""
    invalidate_all()
