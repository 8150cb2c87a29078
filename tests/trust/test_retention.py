"""Retention: downloads folded into daily counts (aggregates stay exact), audit IPs truncated,
old audit events purged through the trigger bypass, dry run changes nothing, every run audited."""
import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from amis.models import Download, DownloadDaily
from registry.audit import audit_changes_allowed, audit_record, truncate_ip
from registry.composers.retention import retention_run
from registry.models import AuditEvent
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def _downloads(ami, n, *, days_ago, region="us-east-1", user=None):
    rows = [Download.objects.create(ami=ami, region=region, user=user) for _ in range(n)]
    Download.objects.filter(pk__in=[r.pk for r in rows]).update(at=NOW - datetime.timedelta(days=days_ago))
    ami.download_count += n
    ami.save(update_fields=["download_count"])


def _backdate(event, days):
    with transaction.atomic(), audit_changes_allowed():
        AuditEvent.objects.filter(pk=event.pk).update(at=NOW - datetime.timedelta(days=days))


def _total(ami):
    raw = Download.objects.filter(ami=ami).count()
    daily = DownloadDaily.objects.filter(ami=ami).aggregate(s=Sum("count"))["s"] or 0
    return raw + daily


def test_truncate_ip():
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("2001:db8:abcd:12::1") == "2001:db8:abcd::"
    assert truncate_ip(None) is None and truncate_ip("garbage") is None


def test_downloads_folded_and_counts_stay_exact(settings, user):
    settings.REGISTRY_RETENTION_DAYS = 30
    ami = AMIFactory()
    _downloads(ami, 3, days_ago=40)
    _downloads(ami, 2, days_ago=40, region="eu-west-1", user=user)
    _downloads(ami, 4, days_ago=5)
    before = _total(ami)

    dry = retention_run(dry_run=True, now=NOW)
    assert dry.downloads_folded == 5 and dry.daily_rows_touched == 2
    assert Download.objects.count() == 9 and not DownloadDaily.objects.exists()

    report = retention_run(now=NOW)
    assert report.downloads_folded == 5
    assert Download.objects.filter(ami=ami).count() == 4
    day = (NOW - datetime.timedelta(days=40)).date()
    assert {(d.region, d.day, d.count) for d in DownloadDaily.objects.filter(ami=ami)} == {
        ("us-east-1", day, 3), ("eu-west-1", day, 2)}
    ami.refresh_from_db()
    assert ami.download_count == 9 == before == _total(ami)
    # Running again folds nothing new and the totals do not move; a later fold adds to the day.
    assert retention_run(now=NOW).downloads_folded == 0
    _downloads(ami, 1, days_ago=40)
    retention_run(now=NOW)
    assert DownloadDaily.objects.get(ami=ami, region="us-east-1").count == 4
    ami.refresh_from_db()
    assert _total(ami) == ami.download_count == 10


def test_audit_ips_truncated_and_old_events_purged(settings, user):
    settings.REGISTRY_AUDIT_IP_RETENTION_DAYS = 30
    settings.REGISTRY_AUDIT_RETENTION_DAYS = 365
    recent = audit_record(actor=user, action="t.recent")
    middle = audit_record(actor=user, action="t.middle")
    ancient = audit_record(actor=user, action="t.ancient")
    for event, ip, days in ((recent, "198.51.100.7", 1), (middle, "198.51.100.9", 60), (ancient, "10.1.2.3", 400)):
        with transaction.atomic(), audit_changes_allowed():
            AuditEvent.objects.filter(pk=event.pk).update(ip_address=ip, at=NOW - datetime.timedelta(days=days))

    out = io.StringIO()
    call_command("retention", "--dry-run", stdout=out)
    dry = json.loads(out.getvalue())
    assert dry["dry_run"] is True and dry["audit_ips_truncated"] == 1 and dry["audit_events_purged"] == 1
    assert AuditEvent.objects.filter(pk=ancient.pk).exists()
    assert not AuditEvent.objects.filter(action="retention.run").exists()

    report = retention_run(now=NOW)
    assert report.audit_ips_truncated == 1 and report.audit_events_purged == 1
    assert AuditEvent.objects.get(pk=recent.pk).ip_address == "198.51.100.7"
    assert AuditEvent.objects.get(pk=middle.pk).ip_address == "198.51.100.0"
    assert not AuditEvent.objects.filter(pk=ancient.pk).exists()
    run = AuditEvent.objects.get(action="retention.run")
    assert run.pk == report.event_id and run.after["audit_events_purged"] == 1
    # Idempotent: nothing left to do, so no further event.
    again = retention_run(now=NOW)
    assert again.audit_ips_truncated == 0 and again.audit_events_purged == 0 and again.event_id is None
    assert AuditEvent.objects.filter(action="retention.run").count() == 1


def test_beat_task_runs_retention(settings):
    from registry.composers.tasks import retention_run_task

    settings.REGISTRY_RETENTION_DAYS = 1
    ami = AMIFactory()
    _downloads(ami, 2, days_ago=3)
    result = retention_run_task.delay().get()
    assert result["downloads_folded"] == 2 and DownloadDaily.objects.get(ami=ami).count == 2


def test_stats_endpoint_identical_before_and_after_retention(settings, user):
    from tests.conftest import client_for

    settings.REGISTRY_RETENTION_DAYS = 30
    ami = AMIFactory()
    _downloads(ami, 3, days_ago=45)
    _downloads(ami, 2, days_ago=45, region="eu-west-1", user=user)
    _downloads(ami, 1, days_ago=2)
    url = f"/api/v1/amis/{ami.ami_id}/stats"
    before = client_for(None).get(url).json()
    assert retention_run(now=NOW).downloads_folded == 5
    after = client_for(None).get(url).json()
    assert after == before and after["download_count"] == 6
    assert sum(after["downloads_by_region"].values()) == 6
