"""Retention of personal and operational data (beat task ``registry.retention_run``, and
``manage.py retention [--dry-run]``):

1. ``ami_downloads`` rows older than ``REGISTRY_RETENTION_DAYS`` are folded into
   ``amis.DownloadDaily`` (per AMI, day and region) and deleted — ``download_count`` on the AMI is
   never touched, and stats read raw rows + daily rows, so both stay exact;
2. client IPs of audit events older than ``REGISTRY_AUDIT_IP_RETENTION_DAYS`` are truncated to
   their /24 (IPv4) or /48 (IPv6) network;
3. audit events older than ``REGISTRY_AUDIT_RETENTION_DAYS`` are deleted.

The audit table is append-only in PostgreSQL (a trigger); steps 2–3 lift that for their own
statements only, through ``audit_changes_allowed()``. Every run that changes something writes one
``retention.run`` audit event with the counts (a dry run changes nothing and writes nothing).
"""
from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from registry.audit import audit_record
from registry.models import AuditEvent

BATCH = 5000


@contextlib.contextmanager
def audit_changes_allowed():
    """Let the statements inside change ``registry_audit_event`` (PostgreSQL trigger bypass).

    Must run inside a transaction. The setting is ``SET LOCAL`` *and* switched off again on exit,
    so even when the caller's transaction goes on (nested atomic blocks) nothing after the block
    can edit the log.
    """
    if connection.vendor != "postgresql":
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("audit_changes_allowed() needs a transaction")
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('registry.audit_purge', 'on', true)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('registry.audit_purge', 'off', true)")


def truncate_ip(value: str | None) -> str | None:
    """``203.0.113.77`` → ``203.0.113.0``; IPv6 keeps its /48. None/garbage → None."""
    if not value:
        return None
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


@dataclass
class RetentionReport:
    dry_run: bool
    downloads_cutoff: str
    downloads_folded: int = 0
    daily_rows_touched: int = 0
    audit_ip_cutoff: str = ""
    audit_ips_truncated: int = 0
    audit_cutoff: str = ""
    audit_events_purged: int = 0
    event_id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def downloads_fold(*, cutoff, dry_run: bool) -> tuple[int, int]:
    """Fold raw downloads older than ``cutoff`` into DownloadDaily and delete them.
    Returns (raw rows folded, daily rows created or incremented)."""
    from amis.models import Download, DownloadDaily

    old = Download.objects.filter(at__lt=cutoff)
    groups = list(old.annotate(day=TruncDate("at")).values("ami_id", "day", "region")
                  .annotate(n=Count("id")).order_by())
    total = sum(g["n"] for g in groups)
    if dry_run or not groups:
        return total, len(groups)
    with transaction.atomic():
        # Lock the raw rows first so a concurrent run folds each row exactly once.
        ids = list(old.select_for_update(skip_locked=True).values_list("id", flat=True))
        if not ids:
            return 0, 0
        groups = list(Download.objects.filter(id__in=ids).annotate(day=TruncDate("at"))
                      .values("ami_id", "day", "region").annotate(n=Count("id")).order_by())
        for g in groups:
            row, created = DownloadDaily.objects.select_for_update().get_or_create(
                ami_id=g["ami_id"], day=g["day"], region=g["region"], defaults={"count": g["n"]})
            if not created:
                from django.db.models import F

                DownloadDaily.objects.filter(pk=row.pk).update(count=F("count") + g["n"])
        for start in range(0, len(ids), BATCH):
            Download.objects.filter(id__in=ids[start:start + BATCH]).delete()
    return len(ids), len(groups)


def retention_run(*, dry_run: bool = False, now=None) -> RetentionReport:
    """Apply every retention rule once. Safe to run concurrently and repeatedly (idempotent)."""
    now = now or timezone.now()
    downloads_cutoff = now - timedelta(days=settings.REGISTRY_RETENTION_DAYS)
    ip_cutoff = now - timedelta(days=settings.REGISTRY_AUDIT_IP_RETENTION_DAYS)
    audit_cutoff = now - timedelta(days=settings.REGISTRY_AUDIT_RETENTION_DAYS)
    report = RetentionReport(dry_run=dry_run, downloads_cutoff=downloads_cutoff.isoformat(),
                             audit_ip_cutoff=ip_cutoff.isoformat(), audit_cutoff=audit_cutoff.isoformat())
    report.downloads_folded, report.daily_rows_touched = downloads_fold(cutoff=downloads_cutoff, dry_run=dry_run)

    # IPs to truncate: any address that is not already its own network address.
    ip_rows = [(pk, ip) for pk, ip in AuditEvent.objects.filter(at__lt=ip_cutoff, at__gte=audit_cutoff,
                                                                ip_address__isnull=False)
               .values_list("id", "ip_address") if truncate_ip(ip) != ip]
    purge = AuditEvent.objects.filter(at__lt=audit_cutoff)
    report.audit_ips_truncated = len(ip_rows)
    report.audit_events_purged = purge.count()
    if dry_run:
        return report
    with transaction.atomic():
        with audit_changes_allowed():
            for pk, ip in ip_rows:
                AuditEvent.objects.filter(pk=pk).update(ip_address=truncate_ip(ip))
            report.audit_events_purged = purge.delete()[0] if report.audit_events_purged else 0
        if report.downloads_folded or report.audit_ips_truncated or report.audit_events_purged:
            event = audit_record(actor=None, action="retention.run", target_type="registry.retention",
                                 after={k: v for k, v in report.as_dict().items() if k not in ("event_id",)})
            report.event_id = event.pk
    return report
