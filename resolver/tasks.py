"""Celery entry points of the resolver (thin: one service call)."""
from celery import shared_task

from resolver.usage import resolution_counts_flush


@shared_task(name="resolver.resolution_counts_flush", acks_late=True)
def resolution_counts_flush_task() -> int:
    """Fold the per-tier counters of today and yesterday into ``resolver_resolutions_daily``.
    Idempotent (``GREATEST`` of running totals), so overlapping beats and redeliveries are safe."""
    return resolution_counts_flush()
