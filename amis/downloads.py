"""Recorded downloads/launches (``ami_downloads``) and their retention roll-up (``ami_downloads_daily``)."""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import TruncDate

from amis.metadata import CLIENT_MAX, text_clean
from amis.models import AMI, Download, DownloadDaily
from amis.ranking import best_score_refresh
from registry import aws
from registry.errors import Conflict, InvalidInput


def download_record(*, ami: AMI, region: str, user=None, client: str = "") -> Download:
    """Record one download/launch of ``ami`` in ``region`` by ``user`` (None/anonymous allowed).

    One ``ami_downloads`` row per call and ``download_count = download_count + 1`` in the same
    transaction (an F() update: exact under any concurrency, no read-modify-write). 400 on an
    unknown region or an over-long client string; 409 for a revoked entry. Not audited (it is
    telemetry, not a state change); the row itself is the record.
    """
    if not aws.is_known_region(region):
        raise InvalidInput(f"region: unknown AWS region '{region}'", errors={"region": ["Unknown AWS region."]})
    client = text_clean("client", client, max_length=CLIENT_MAX)
    if ami.status == AMI.Status.REVOKED:
        raise Conflict("this AMI has been revoked", code="invalid_transition", extra={"current_status": ami.status})
    who = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        download = Download.objects.create(ami=ami, region=region, user=who, client=client)
        AMI.objects.filter(pk=ami.pk).update(download_count=F("download_count") + 1)
        best_score_refresh(ami_ids=[ami.pk])
    return download


def downloads_delink_user(*, user) -> int:
    """Account erasure: the user's downloads stay counted but no longer name them. Returns the count."""
    return Download.objects.filter(user=user).update(user=None)


# Raw rows deleted per statement when rolling up (keeps each DELETE short).
ROLLUP_BATCH = 5000


def downloads_rollup(*, before: datetime, dry_run: bool) -> tuple[int, int]:
    """Retention: fold raw downloads older than ``before`` into per-day ``DownloadDaily`` rows (per
    AMI, day and region) and delete them. ``download_count`` is never touched and ``ami_stats``
    adds both tables, so every figure stays exact. Safe to run concurrently: the raw rows are
    claimed with ``skip_locked``, so each is folded once. Returns (raw rows folded, daily rows
    created or incremented); a dry run only counts.
    """
    old = Download.objects.filter(at__lt=before)
    groups = list(old.annotate(day=TruncDate("at")).values("ami_id", "day", "region")
                  .annotate(n=Count("id")).order_by())
    if dry_run or not groups:
        return sum(g["n"] for g in groups), len(groups)
    with transaction.atomic():
        ids = list(old.select_for_update(skip_locked=True).values_list("id", flat=True))
        if not ids:
            return 0, 0
        groups = list(Download.objects.filter(id__in=ids).annotate(day=TruncDate("at"))
                      .values("ami_id", "day", "region").annotate(n=Count("id")).order_by())
        for g in groups:
            row, created = DownloadDaily.objects.select_for_update().get_or_create(
                ami_id=g["ami_id"], day=g["day"], region=g["region"], defaults={"count": g["n"]})
            if not created:
                DownloadDaily.objects.filter(pk=row.pk).update(count=F("count") + g["n"])
        for start in range(0, len(ids), ROLLUP_BATCH):
            Download.objects.filter(id__in=ids[start:start + ROLLUP_BATCH]).delete()
    return len(ids), len(groups)
