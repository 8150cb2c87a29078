"""Retention of personal and operational data (beat task ``registry.retention_run``, and
``manage.py retention [--dry-run]``), composed of each owner's own rule:

1. ``ami_downloads`` rows older than ``REGISTRY_RETENTION_DAYS`` are folded into per-day counts
   (``amis.services.downloads_rollup``) — ``download_count`` on the AMI is never touched, and
   stats read raw rows + daily rows, so both stay exact;
2. client IPs of audit events older than ``REGISTRY_AUDIT_IP_RETENTION_DAYS`` are truncated to
   their /24 (IPv4) or /48 (IPv6) network, and
3. audit events older than ``REGISTRY_AUDIT_RETENTION_DAYS`` are deleted
   (``registry.audit.audit_retention_apply``, the audit writer's own module).

Every run that changes something writes one ``retention.run`` audit event with the counts (a dry
run changes nothing and writes nothing). Safe to run concurrently and repeatedly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from amis.downloads import downloads_rollup
from registry.audit import audit_record, audit_retention_apply


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


def retention_run(*, dry_run: bool = False, now=None) -> RetentionReport:
    """Apply every retention rule once (see the module docstring)."""
    now = now or timezone.now()
    downloads_cutoff = now - timedelta(days=settings.REGISTRY_RETENTION_DAYS)
    ip_cutoff = now - timedelta(days=settings.REGISTRY_AUDIT_IP_RETENTION_DAYS)
    audit_cutoff = now - timedelta(days=settings.REGISTRY_AUDIT_RETENTION_DAYS)
    report = RetentionReport(dry_run=dry_run, downloads_cutoff=downloads_cutoff.isoformat(),
                             audit_ip_cutoff=ip_cutoff.isoformat(), audit_cutoff=audit_cutoff.isoformat())
    report.downloads_folded, report.daily_rows_touched = downloads_rollup(before=downloads_cutoff, dry_run=dry_run)
    with transaction.atomic():
        report.audit_ips_truncated, report.audit_events_purged = audit_retention_apply(
            ip_cutoff=ip_cutoff, audit_cutoff=audit_cutoff, dry_run=dry_run)
        if not dry_run and (report.downloads_folded or report.audit_ips_truncated or report.audit_events_purged):
            event = audit_record(actor=None, action="retention.run", target_type="registry.retention",
                                 after={k: v for k, v in report.as_dict().items() if k != "event_id"})
            report.event_id = event.pk
    return report
