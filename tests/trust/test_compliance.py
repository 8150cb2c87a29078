"""Compliance report: counts, time to review and the event ids behind every figure (API + command)."""
import csv
import datetime
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from registry.audit import audit_record
from registry.models import AuditEvent
from registry.audit import audit_changes_allowed
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)


def _event(action, at, *, target_id="", after=None, actor=None):
    event = audit_record(actor=actor, action=action, target_type="amis.ami" if target_id else "x",
                         target_id=target_id, after=after)
    with transaction.atomic(), audit_changes_allowed():
        AuditEvent.objects.filter(pk=event.pk).update(at=at)
    return event.pk


@pytest.fixture
def history():
    h = datetime.timedelta(hours=1)
    ids = {
        "submit_a": _event("ami.submit", T0 - 2 * h, target_id="a"),   # submitted before the period
        "approve_a": _event("ami.approve", T0 + 1 * h, target_id="a"),  # → 3 h
        "submit_b": _event("ami.submit", T0 + 2 * h, target_id="b"),
        "reject_b": _event("ami.reject", T0 + 3 * h, target_id="b"),    # → 1 h
        "submit_c": _event("ami.submit", T0 + 4 * h, target_id="c"),
        "approve_c": _event("ami.approve", T0 + 9 * h, target_id="c"),  # → 5 h
        "revoke_c": _event("ami.revoke", T0 + 10 * h, target_id="c"),
        "scan_fail": _event("ami.scan", T0 + 1 * h, target_id="c", after={"scan_status": "failed"}),
        "scan_ok": _event("ami.scan", T0 + 1 * h, target_id="a", after={"scan_status": "passed"}),
        "exception": _event("scan.exception", T0 + 2 * h, target_id="c"),
        "share_ext": _event("share.create", T0 + 2 * h, after={"grantee_type": "account", "grantee": "444455556666"}),
        "share_own": _event("share.create", T0 + 2 * h, after={"grantee_type": "account", "grantee": "123456789012"}),
        "share_user": _event("share.create", T0 + 2 * h, after={"grantee_type": "user", "grantee": "bob"}),
        "erase": _event("user.erase", T0 + 5 * h),
        "outside": _event("ami.approve", T0 + 48 * h, target_id="z"),
    }
    return ids


def test_report_figures_and_event_ids(history, settings):
    from registry.compliance import compliance_report

    settings.REGISTRY_AWS_ACCOUNT_IDS = ["123456789012"]
    r = compliance_report(since=T0 - datetime.timedelta(hours=1), until=T0 + datetime.timedelta(days=1))
    assert r["submissions"] == {"count": 2, "event_ids": [history["submit_b"], history["submit_c"]]}
    assert r["approvals"] == {"count": 2, "event_ids": [history["approve_a"], history["approve_c"]]}
    assert r["rejections"]["event_ids"] == [history["reject_b"]]
    assert r["revocations"]["event_ids"] == [history["revoke_c"]]
    assert r["scan_failures"]["event_ids"] == [history["scan_fail"]]
    assert r["scan_exceptions"]["event_ids"] == [history["exception"]]
    assert r["external_shares"]["event_ids"] == [history["share_ext"]]
    assert r["erasure_requests_handled"]["event_ids"] == [history["erase"]]
    ttr = r["time_to_review"]
    assert ttr["count"] == 3 and ttr["median_seconds"] == 3 * 3600 and ttr["p90_seconds"] == 5 * 3600
    assert {(p["submit_event_id"], p["decision_event_id"]) for p in ttr["pairs"]} == {
        (history["submit_a"], history["approve_a"]), (history["submit_b"], history["reject_b"]),
        (history["submit_c"], history["approve_c"])}


def test_api_for_moderators_only(history, user, moderator):
    url = "/api/v1/compliance/report"
    params = {"since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z"}
    assert client_for(None).get(url, params).status_code == 401
    assert client_for(user).get(url, params).status_code == 403
    resp = client_for(moderator).get(url, params)
    assert resp.status_code == 200 and resp.json()["approvals"]["count"] == 2
    bad = client_for(moderator).get(url, {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"})
    assert bad.status_code == 400 and "until" in bad.json()["errors"]
    assert client_for(moderator).get(url, {"since": "garbage"}).status_code == 400
    assert client_for(moderator).get(url).status_code == 200  # default: last 30 days


def test_command_json_and_csv(history):
    out = io.StringIO()
    call_command("compliance_report", "--since", "2026-03-01", "--until", "2026-03-02", stdout=out)
    data = json.loads(out.getvalue())
    assert data["approvals"]["count"] == 2 and data["time_to_review"]["median_seconds"] == 10800
    out = io.StringIO()
    call_command("compliance_report", "--since", "2026-03-01", "--until", "2026-03-02", "--format", "csv",
                 stdout=out)
    rows = {row[0]: row for row in csv.reader(io.StringIO(out.getvalue()))}
    assert rows["approvals"][1] == "2" and rows["approvals"][2] == f"{history['approve_a']} {history['approve_c']}"
    assert rows["time_to_review_p90_seconds"][1] == "18000.0"
    with pytest.raises(CommandError):
        call_command("compliance_report", "--since", "yesterday", "--until", "2026-03-02")
    with pytest.raises(CommandError):
        call_command("compliance_report", "--since", "2026-03-02", "--until", "2026-03-01")
