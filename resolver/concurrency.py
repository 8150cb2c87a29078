"""The resolver's thread pools: fallback regions are looked up, and the test endpoint resolves
regions, concurrently (AWS calls are I/O; a cold cross-region resolution waits for the slowest
region only, not for the sum)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connections

_pool_lock = threading.Lock()
_pools: dict[str, ThreadPoolExecutor] = {}


def pool(name: str, workers: int) -> ThreadPoolExecutor:
    """Process-wide thread pools, made lazily (after gunicorn forks). Separate pools for the test
    endpoint and for region lookups, so a resolution running in the first never waits for a slot
    it is itself holding."""
    with _pool_lock:
        if name not in _pools:
            _pools[name] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"resolver-{name}")
        return _pools[name]


def in_thread(func, *args):
    """Run ``func`` in a pool thread and close the database connections it opened."""
    try:
        return func(*args)
    finally:
        # NOTE: a pool thread that touched the database keeps a connection Django never closes.
        connections.close_all()
