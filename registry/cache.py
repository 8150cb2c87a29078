"""Cache access that survives a Redis outage.

The cache (Redis in every real deployment) only ever holds *derived* state: throttle and lockout
counters, resolver answers, availability summaries, the catalogue's facet counts, search pages
and row representations. PostgreSQL stays the truth, so when Redis is
unreachable a read path must carry on without the cache instead of answering 500:

- ``cache_get`` returns the default (a miss), ``cache_set``/``cache_delete`` do nothing;
- ``cache_incr_window`` — the one counter primitive for throttles and lockout — returns ``None``
  ("unknown"), and the callers fail *open* (the request is served, the attempt is not counted).

Writes that need Redis as the Celery *broker* are a different matter: see ``registry.broker``.
Each outage is logged once per process and per minute (not per request) and counted in
``registry_cache_errors_total``.
"""
from __future__ import annotations

import logging
import time

from django.core.cache import cache

from registry import metrics

logger = logging.getLogger(__name__)

try:  # redis-py is installed wherever Redis is configured; locmem deployments never raise these
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a runtime dependency
    RedisError = OSError

# What a dead or unreachable Redis raises through Django's cache (redis-py wraps socket errors in
# ConnectionError/TimeoutError, both RedisError; a refused socket can surface as OSError).
CACHE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)

_last_warning = 0.0


def _outage(operation: str, exc: BaseException) -> None:
    global _last_warning
    metrics.CACHE_ERRORS.labels(operation=operation).inc()
    now = time.monotonic()
    if now - _last_warning > 60:
        _last_warning = now
        logger.warning("cache unavailable (%s: %s: %s); serving without it", operation,
                       exc.__class__.__name__, exc)


def cache_get(key: str, default=None):
    """The cached value, or ``default`` on a miss *or* when the cache is down."""
    try:
        return cache.get(key, default)
    except CACHE_ERRORS as exc:
        _outage("get", exc)
        return default


def cache_get_many(keys: list[str]) -> dict:
    try:
        return cache.get_many(keys)
    except CACHE_ERRORS as exc:
        _outage("get", exc)
        return {}


def cache_set_many(values: dict, timeout: int | None) -> bool:
    try:
        cache.set_many(values, timeout=timeout)
        return True
    except CACHE_ERRORS as exc:
        _outage("set", exc)
        return False


def cache_set(key: str, value, timeout: int | None) -> bool:
    try:
        cache.set(key, value, timeout=timeout)
        return True
    except CACHE_ERRORS as exc:
        _outage("set", exc)
        return False


def cache_add(key: str, value, timeout: int | None) -> bool | None:
    """``cache.add``: True when stored, False when the key existed, None when the cache is down."""
    try:
        return cache.add(key, value, timeout=timeout)
    except CACHE_ERRORS as exc:
        _outage("add", exc)
        return None


def cache_delete(key: str) -> None:
    try:
        cache.delete(key)
    except CACHE_ERRORS as exc:
        _outage("delete", exc)


def cache_incr(key: str, delta: int = 1) -> int | None:
    """Atomic increment of an existing key; None when it does not exist or the cache is down."""
    try:
        return cache.incr(key, delta)
    except ValueError:
        return None
    except CACHE_ERRORS as exc:
        _outage("incr", exc)
        return None


def cache_count(key: str, keep: int) -> int | None:
    """Count one event in ``key`` and return the new count; the key lives ``keep`` seconds from its
    first count. On Redis one round trip (INCR, and EXPIRE NX, pipelined: INCR creates a missing
    key at 1) where Django's ``incr`` needs two (it checks that the key exists first). None when
    the cache is down."""
    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    try:
        if client_of is None:  # not Redis (locmem): the portable pair
            return 1 if cache.add(key, 1, timeout=keep) else cache.incr(key)
        full_key = cache.make_and_validate_key(key)
        pipe = client_of(full_key, write=True).pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, keep, nx=True)
        return pipe.execute()[0]
    except ValueError:  # locmem: the key expired between add() and incr()
        return 1 if cache.add(key, 1, timeout=keep) else None
    except CACHE_ERRORS as exc:
        _outage("incr", exc)
        return None


def cache_ttl(key: str) -> int | None:
    """Seconds until ``key`` expires (Redis TTL), or None when unknown (no key, no expiry, locmem, down)."""
    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_of is None:
        return None
    try:
        seconds = client_of(key).ttl(cache.make_and_validate_key(key))
    except CACHE_ERRORS as exc:
        _outage("ttl", exc)
        return None
    return seconds if isinstance(seconds, int) and seconds > 0 else None


def cache_incr_window(key: str, window: int) -> int | None:
    """Count one event in a fixed window of ``window`` seconds and return the new count.

    Atomic under concurrency: ``add`` (SET NX with the expiry) starts the window, ``incr`` (Redis
    INCR) counts in it and keeps its expiry, so N concurrent callers always see N distinct counts —
    unlike read-modify-write (get, append, set), which loses updates. Returns None when the cache
    is down: callers fail open.
    """
    try:
        if cache.add(key, 1, timeout=window):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # the window expired between add() and incr(): start a new one
            cache.add(key, 1, timeout=window)
            return 1
    except CACHE_ERRORS as exc:
        _outage("incr", exc)
        return None
