"""Resolutions per tier per day: counted on the hot path, kept in ``resolver_resolutions_daily``.

``resolve()`` must stay a cache read on a warm hit, so counting is one Redis INCR of
``resolver:daily:<YYYY-MM-DD>:<method>`` (kept a few days). The beat task
``resolver.resolution_counts_flush`` copies those counters into the table with ``GREATEST``:
the counter is the day's running total, so a re-run, an overlapping run or a redelivered message
writes the same value (idempotent), and a counter lost with Redis never lowers a stored count.
``resolution_counts`` reads the table plus what Redis holds for days not yet flushed.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta

from django.core.cache import cache
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from registry.cache import cache_count
from resolver.context import FAILED, TIER_NAMES
from resolver.models import ResolutionDaily

logger = logging.getLogger(__name__)

KEY = "resolver:daily:{day}:{method}"
# Counters outlive the day by this long: the flush runs every few minutes, so a missed day is rare.
KEEP_SECONDS = 3 * 86_400
FLUSH_DAYS = 2  # today and yesterday (the last minutes of a day are flushed after midnight)
METHODS = (*TIER_NAMES, FAILED)


def resolution_count(method: str, *, day: date | None = None) -> None:
    """Count one answered resolution. Never raises: a counting failure must not fail a launch."""
    key = KEY.format(day=(day or timezone.now().date()).isoformat(), method=method)
    try:
        # None when Redis is down (registry.cache logs it): the metric is lost, the resolution is not.
        cache_count(key, KEEP_SECONDS)
    except Exception:  # noqa: BLE001 — whatever the cache raises, a counting failure never fails a launch
        logger.warning("resolution count not recorded (cache unavailable)", exc_info=True)


def _live(day: date) -> dict[str, int]:
    keys = {KEY.format(day=day.isoformat(), method=m): m for m in METHODS}
    try:
        values = cache.get_many(list(keys))
    except Exception:  # noqa: BLE001
        return {}
    return {keys[k]: int(v) for k, v in values.items() if v}


def resolution_counts_flush(*, today: date | None = None) -> int:
    """Copy today's and yesterday's counters into the table (``GREATEST``); returns rows written."""
    today = today or timezone.now().date()
    written = 0
    for offset in range(FLUSH_DAYS):
        day = today - timedelta(days=offset)
        for method, count in _live(day).items():
            row, created = ResolutionDaily.objects.get_or_create(day=day, method=method, defaults={"count": count})
            if not created:
                # GREATEST in the UPDATE itself: concurrent flushes cannot lower the stored count.
                ResolutionDaily.objects.filter(pk=row.pk).update(count=Greatest(F("count"), Value(count)))
            written += 1
    return written


def resolution_counts(*, days: int = 30, today: date | None = None) -> dict[str, dict[str, int]]:
    """``{YYYY-MM-DD: {method: count}}`` for the last ``days`` days (oldest first, every day present)."""
    today = today or timezone.now().date()
    start = today - timedelta(days=days - 1)
    table: dict[str, dict[str, int]] = {(start + timedelta(days=i)).isoformat(): {} for i in range(days)}
    for row in ResolutionDaily.objects.filter(day__gte=start, day__lte=today):
        table[row.day.isoformat()][row.method] = row.count
    for offset in range(min(FLUSH_DAYS, days)):
        day = today - timedelta(days=offset)
        for method, count in _live(day).items():
            stored = table[day.isoformat()].get(method, 0)
            table[day.isoformat()][method] = max(stored, count)
    return table
