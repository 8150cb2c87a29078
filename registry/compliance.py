"""The compliance report: what happened in a period, each figure backed by the audit event ids.

One service (``compliance_report``) serves ``GET /api/v1/compliance/report`` and
``manage.py compliance_report``. Everything is computed from the append-only audit log, so the
report can be re-derived by an auditor from the events it cites:

* submissions / approvals / rejections / revocations — ``ami.submit|approve|reject|revoke``;
* time to review — for every approve/reject in the period, the time since the newest earlier
  ``ami.submit`` of the same AMI (median, p90, each pair's event ids);
* scan failures (``ami.scan`` with a failed verdict) and scan exceptions (``scan.exception``);
* shares to external AWS principals — ``share.create`` to an account, organization or OU that
  is not one of the registry's own accounts (``REGISTRY_AWS_ACCOUNT_IDS``);
* erasure requests handled — ``user.erase`` (and exports, ``user.export``).
"""
from __future__ import annotations

import csv
import io
import math
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from registry.errors import InvalidInput
from registry.models import AuditEvent

SIMPLE = {
    "submissions": "ami.submit",
    "approvals": "ami.approve",
    "rejections": "ami.reject",
    "revocations": "ami.revoke",
    "scan_exceptions": "scan.exception",
    "erasure_requests_handled": "user.erase",
    "data_exports": "user.export",
}
EXTERNAL_TYPES = ("account", "organization", "organizational_unit")
MAX_PERIOD_DAYS = 3660


def _percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is one observed value)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered, n = sorted(values), len(values)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def compliance_report(*, since: datetime, until: datetime) -> dict:
    """Figures for ``since`` <= event time < ``until`` (aware datetimes). Raises InvalidInput for
    an empty/inverted period or one longer than ten years."""
    if timezone.is_naive(since) or timezone.is_naive(until):
        raise InvalidInput("since/until need a time zone", errors={"since": ["Use ISO 8601 with a zone."]})
    if since >= until:
        raise InvalidInput("'since' must be before 'until'", errors={"until": ["Must be after 'since'."]})
    if (until - since).days > MAX_PERIOD_DAYS:
        raise InvalidInput("the period may span at most ten years", errors={"since": ["Period too long."]})
    events = AuditEvent.objects.filter(at__gte=since, at__lt=until)
    report: dict = {"since": since, "until": until, "generated_at": timezone.now()}
    for name, action in SIMPLE.items():
        ids = list(events.filter(action=action).order_by("id").values_list("id", flat=True))
        report[name] = {"count": len(ids), "event_ids": ids}

    failures = [e for e in events.filter(action="ami.scan").order_by("id").values("id", "after")
                if (e["after"] or {}).get("scan_status") == "failed"]
    report["scan_failures"] = {"count": len(failures), "event_ids": [e["id"] for e in failures]}

    own = set(getattr(settings, "REGISTRY_AWS_ACCOUNT_IDS", []) or [])
    shares = [e for e in events.filter(action="share.create").order_by("id").values("id", "after")
              if (e["after"] or {}).get("grantee_type") in EXTERNAL_TYPES
              and (e["after"] or {}).get("grantee") not in own]
    report["external_shares"] = {"count": len(shares), "event_ids": [e["id"] for e in shares]}

    # Time to review: pair each decision with the newest earlier submission of the same AMI
    # (a submission may precede the period: look it up without the lower bound).
    pairs = []
    for decision in events.filter(action__in=["ami.approve", "ami.reject"]).order_by("id").values(
            "id", "at", "action", "target_id"):
        submit = (AuditEvent.objects.filter(action="ami.submit", target_type="amis.ami",
                                            target_id=decision["target_id"], at__lte=decision["at"])
                  .order_by("-at", "-id").values("id", "at").first())
        if submit is None:
            continue
        pairs.append({"ami": decision["target_id"], "submit_event_id": submit["id"],
                      "decision_event_id": decision["id"], "decision": decision["action"].split(".")[1],
                      "seconds": round((decision["at"] - submit["at"]).total_seconds(), 3)})
    seconds = [p["seconds"] for p in pairs]
    report["time_to_review"] = {"count": len(pairs), "median_seconds": _median(seconds),
                                "p90_seconds": _percentile(seconds, 90), "pairs": pairs}
    return report


def compliance_report_csv(report: dict) -> str:
    """The report as CSV: one row per figure (``metric,count,event_ids``) plus review-time rows."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["metric", "count", "event_ids"])
    for name in (*SIMPLE, "scan_failures", "external_shares"):
        writer.writerow([name, report[name]["count"], " ".join(map(str, report[name]["event_ids"]))])
    ttr = report["time_to_review"]
    writer.writerow(["time_to_review_median_seconds", ttr["median_seconds"] if ttr["count"] else "", ""])
    writer.writerow(["time_to_review_p90_seconds", ttr["p90_seconds"] if ttr["count"] else "", ""])
    for p in ttr["pairs"]:
        writer.writerow([f"review:{p['ami']}:{p['decision']}", p["seconds"],
                         f"{p['submit_event_id']} {p['decision_event_id']}"])
    return out.getvalue()
