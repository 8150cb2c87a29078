"""The product plan's success metrics, measured: every number of ``/dashboard/``, of
``GET /api/v1/dashboard`` and of the ``registry_dashboard_*`` Prometheus gauges comes from
``dashboard_data`` (one function, so the three never disagree).

Sources, each the owner's own table or function:
- resolutions by tier per day — ``resolver.usage.resolution_counts``;
- launches from an AMI vs by script, their time and success — ``amis.Launch`` (reported by clients);
- success of AWS operations — ``amis.Operation`` (succeeded / finished);
- cost saved and the cost reduction — the resolver's cost model (``resolver.costs.cost_analysis``)
  over recorded AMI launches (``Download`` + its daily roll-up) of images built for a template;
- share of templates with an ``ami_config`` — ``templates.Template``;
- community AMIs listed, published (submitted) and approved per month, review turnaround
  (submitted → approved) — ``amis.AMI``.
A target whose measurement has no data yet is ``met: null`` with the reason, never a guess.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from statistics import median

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from amis.models import AMI, Download, DownloadDaily, Launch, Operation
from resolver import costs
from resolver.context import FAILED, TIER_NAMES
from resolver.usage import resolution_counts
from templates.models import Template

MAX_DAYS = 365
MAX_MONTHS = 36
LISTED = (AMI.Status.APPROVED, AMI.Status.DEPRECATED)

# The product plan's targets: key, label, target, comparison, unit.
TARGETS = (
    ("launch_seconds", "AMI launches in 30 seconds (median)", 30.0, "<=", "s"),
    ("launch_success", "More than 95 % of AMI launches succeed", 0.95, ">", "ratio"),
    ("cost_reduction", "More than 4× cheaper provisioning than by script", 4.0, ">", "×"),
    ("ami_templates", "80 % of templates AMI-enabled", 0.80, ">=", "ratio"),
    ("community_amis", "100+ community AMIs", 100.0, ">=", "count"),
    ("launch_speedup", "10× faster launches than by script", 10.0, ">=", "×"),
)


def _met(value, target: float, op: str) -> bool | None:
    if value is None:
        return None
    return {"<=": value <= target, ">": value > target, ">=": value >= target}[op]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _months(now, months: int) -> list[str]:
    """The last ``months`` month labels, oldest first ("2026-01")."""
    labels, year, month = [], now.year, now.month
    for _ in range(months):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return labels[::-1]


def _median(values: list[float]) -> float | None:
    return round(median(values), 1) if values else None


def launch_stats(*, since, amis=None) -> dict:
    """Reported launches by method: count, succeeded, success rate, median seconds; per day."""
    launches = Launch.objects.filter(at__gte=since)
    if amis is not None:
        launches = launches.filter(ami__in=amis)
    body: dict = {}
    for method in Launch.Method.values:
        rows = launches.filter(method=method)
        total = rows.count()
        ok = rows.filter(succeeded=True).count()
        seconds = list(rows.filter(succeeded=True, seconds__isnull=False).values_list("seconds", flat=True))
        body[method] = {"count": total, "succeeded": ok, "success_rate": _ratio(ok, total),
                        "median_seconds": _median(seconds), "measured": len(seconds)}
    a, s = body["ami"]["median_seconds"], body["script"]["median_seconds"]
    body["time_difference_seconds"] = round(s - a, 1) if a is not None and s is not None else None
    by_day: dict[str, dict[str, int]] = defaultdict(dict)
    for row in launches.annotate(d=TruncDate("at")).values("d", "method").annotate(n=Count("id")).order_by():
        by_day[row["d"].isoformat()][row["method"]] = row["n"]
    body["by_day"] = dict(sorted(by_day.items()))
    return body


def operation_stats(*, since, user=None) -> dict:
    """AWS operations finished since ``since``: succeeded / failed per kind and overall."""
    ops = Operation.objects.filter(created_at__gte=since, state__in=[Operation.State.SUCCEEDED,
                                                                    Operation.State.FAILED])
    if user is not None:
        ops = ops.filter(Q(created_by=user) | Q(ami__creator=user))
    by_kind: dict[str, dict] = {}
    for row in ops.values("kind", "state").annotate(n=Count("id")).order_by():
        entry = by_kind.setdefault(row["kind"], {"succeeded": 0, "failed": 0})
        entry[row["state"]] += row["n"]
    ok = sum(k["succeeded"] for k in by_kind.values())
    total = ok + sum(k["failed"] for k in by_kind.values())
    for entry in by_kind.values():
        entry["success_rate"] = _ratio(entry["succeeded"], entry["succeeded"] + entry["failed"])
    return {"total": total, "succeeded": ok, "failed": total - ok, "success_rate": _ratio(ok, total),
            "by_kind": dict(sorted(by_kind.items()))}


def cost_stats(*, since, amis=None) -> dict:
    """What launching from AMIs saved against provisioning by script, by the cost model.

    Every recorded AMI launch (a download) of an image built for a template counts once, priced
    with ``cost_analysis`` for its template, region, architecture and size: the script setup it
    avoided is saved; the reduction factor is Σ script provisioning (boot + setup) / Σ AMI boot
    over those launches (``script_setup_cost`` / ``ami_setup_cost``, both with the boot). Images without a template have no script to compare with and are left out.
    """
    qs_raw = Download.objects.filter(at__gte=since, ami__template__isnull=False)
    qs_daily = DownloadDaily.objects.filter(day__gte=since.date(), ami__template__isnull=False)
    if amis is not None:
        qs_raw, qs_daily = qs_raw.filter(ami__in=amis), qs_daily.filter(ami__in=amis)
    groups: dict[tuple, int] = defaultdict(int)
    for row in qs_raw.values("ami_id", "region").annotate(n=Count("id")).order_by():
        groups[(row["ami_id"], row["region"])] += row["n"]
    for row in qs_daily.values("ami_id", "region").annotate(n=Sum("count")).order_by():
        groups[(row["ami_id"], row["region"])] += row["n"]
    images = {a.pk: a for a in AMI.objects.filter(pk__in={k[0] for k in groups}).select_related("template")}
    saved = script_cost = ami_cost = 0.0
    script_seconds = ami_seconds = 0.0
    counted = 0
    for (ami_id, region), n in groups.items():
        ami = images.get(ami_id)
        if ami is None or ami.template is None:
            continue
        document = ami.template.document or {}
        analysis = costs.cost_analysis(document=document, region=region or ami.source_region,
                                       architecture=ami.architecture, size_gb=ami.size_gb)
        saved += n * (analysis["script_setup_cost"] - analysis["ami_setup_cost"])
        # Both setup costs include the boot (the cws units: *_launch_cost is the hourly price).
        script_cost += n * analysis["script_setup_cost"]
        ami_cost += n * analysis["ami_setup_cost"]
        script_seconds += n * costs.script_setup_seconds(document)
        ami_seconds += n * costs.ami_launch_seconds()
        counted += n
    return {"dollars_saved": round(saved, 4), "launches_counted": counted,
            "reduction_factor": round(script_cost / ami_cost, 2) if ami_cost else None,
            "model_speedup": round(script_seconds / ami_seconds, 2) if ami_seconds else None}


def template_stats() -> dict:
    total = Template.objects.count()
    enabled = sum(1 for doc in Template.objects.values_list("document", flat=True).iterator()
                  if isinstance(doc, dict) and isinstance(doc.get("ami_config"), dict) and doc["ami_config"])
    return {"total": total, "with_ami_config": enabled, "share": _ratio(enabled, total)}


def community_stats(*, now, months: int, amis) -> dict:
    """Listed AMIs, published (submitted for review) and approved per month, review turnaround."""
    labels = _months(now, months)
    start = datetime(int(labels[0][:4]), int(labels[0][5:]), 1, tzinfo=dt_timezone.utc)
    by_month = {m: {"published": 0, "approved": 0} for m in labels}
    for field, key in (("submitted_at", "published"), ("approved_at", "approved")):
        rows = (amis.filter(**{f"{field}__gte": start}).annotate(m=TruncMonth(field)).values("m")
                .annotate(n=Count("id")).order_by())
        for row in rows:
            label = row["m"].strftime("%Y-%m")
            if label in by_month:
                by_month[label][key] = row["n"]
    turnaround: dict[str, list[float]] = defaultdict(list)
    hours_all = []
    for submitted, approved in amis.filter(approved_at__gte=start, submitted_at__isnull=False).values_list(
            "submitted_at", "approved_at"):
        if approved >= submitted:
            hours = (approved - submitted).total_seconds() / 3600
            hours_all.append(hours)
            turnaround[approved.strftime("%Y-%m")].append(hours)
    hours_all.sort()
    return {
        "listed": amis.filter(status__in=LISTED).count(),
        "by_month": by_month,
        "review": {"count": len(hours_all), "median_hours": _median(hours_all),
                   "p90_hours": round(hours_all[int(0.9 * (len(hours_all) - 1))], 1) if hours_all else None,
                   "median_hours_by_month": {m: _median(turnaround.get(m, [])) for m in labels}},
    }


def dashboard_data(*, days: int = 30, months: int = 12, publisher=None) -> dict:
    """Every number of the dashboard. ``publisher`` (a user) narrows launches, operations, costs
    and community figures to that publisher's own images; resolutions and templates stay global."""
    days = max(1, min(int(days), MAX_DAYS))
    months = max(1, min(int(months), MAX_MONTHS))
    now = timezone.now()
    since = now - timedelta(days=days)
    amis = AMI.objects.filter(creator=publisher) if publisher is not None else AMI.objects.all()
    scope_amis = amis if publisher is not None else None
    launches = launch_stats(since=since, amis=scope_amis)
    operations = operation_stats(since=since, user=publisher)
    cost = cost_stats(since=since, amis=scope_amis)
    templates = template_stats()
    community = community_stats(now=now, months=months, amis=amis)
    resolutions = resolution_counts(days=days) if publisher is None else None
    ami_l, script_l = launches["ami"], launches["script"]
    measured_speedup = (round(script_l["median_seconds"] / ami_l["median_seconds"], 2)
                        if ami_l["median_seconds"] and script_l["median_seconds"] else None)
    measured = {
        "launch_seconds": (ami_l["median_seconds"], "median of reported AMI launches" if ami_l["measured"]
                           else "no AMI launch has reported its time yet"),
        "launch_success": (ami_l["success_rate"], f"{ami_l['succeeded']} of {ami_l['count']} reported AMI launches"
                           if ami_l["count"] else "no AMI launch reported yet"),
        "cost_reduction": (cost["reduction_factor"], f"cost model over {cost['launches_counted']} recorded AMI "
                           "launches" if cost["launches_counted"] else "no recorded AMI launch of a template's image"),
        "ami_templates": (templates["share"], f"{templates['with_ami_config']} of {templates['total']} templates"),
        "community_amis": (float(community["listed"]), "approved or deprecated entries"),
        "launch_speedup": (measured_speedup, "script median / AMI median of reported launches") if measured_speedup
        else (cost["model_speedup"], "cost model: script setup / AMI boot over recorded launches")
        if cost["model_speedup"] else (None, "no launches to measure yet"),
    }
    targets = [{"key": key, "label": label, "target": target, "comparison": op, "unit": unit,
                "measured": measured[key][0], "met": _met(measured[key][0], target, op), "basis": measured[key][1]}
               for key, label, target, op, unit in TARGETS]
    body = {
        "generated_at": now.isoformat(), "days": days, "months": months,
        "publisher": publisher.username if publisher is not None else None,
        "targets": targets, "launches": launches, "operations": operations, "cost": cost,
        "templates": templates, "community": community,
    }
    if resolutions is not None:
        totals: dict[str, int] = defaultdict(int)
        for counts in resolutions.values():
            for method, n in counts.items():
                totals[method] += n
        body["resolutions"] = {"methods": [*TIER_NAMES, FAILED], "by_day": resolutions, "totals": dict(totals)}
    return body
