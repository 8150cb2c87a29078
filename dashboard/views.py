"""``/dashboard/`` (public) and ``/dashboard/me/`` (the signed-in publisher's own images): the same
numbers as the API, with server-rendered SVG charts and the tables behind them."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard import charts
from dashboard.selectors import MAX_DAYS, dashboard_data

UNITS = {"s": "{:g} s", "ratio": "{:.1%}", "×": "{:g}×", "count": "{:g}"}


def _int_param(request, name: str, default: int, high: int) -> int:
    try:
        return max(1, min(int(request.GET.get(name, default)), high))
    except (TypeError, ValueError):
        return default  # a hand-edited URL: show the default window rather than an error


def _context(data: dict) -> dict:
    for t in data["targets"]:
        fmt = UNITS.get(t["unit"], "{}")
        t["measured_text"] = fmt.format(t["measured"]) if t["measured"] is not None else "no data yet"
        t["target_text"] = f"{t['comparison']} {fmt.format(t['target'])}"
    months = list(data["community"]["by_month"])
    month_labels = [m[2:] for m in months]  # "26-01": short enough for a phone
    ctx = {"data": data, "charts": {}}
    ctx["charts"]["community"] = charts.bar_chart(
        "Community AMIs published and approved per month", month_labels,
        {"published": [data["community"]["by_month"][m]["published"] for m in months],
         "approved": [data["community"]["by_month"][m]["approved"] for m in months]}, stacked=False)
    turnaround = data["community"]["review"]["median_hours_by_month"]
    ctx["charts"]["review"] = charts.line_chart("Median review turnaround (hours) per month", month_labels,
                                                {"hours to approval": [turnaround[m] for m in months]})
    launch_days = sorted(data["launches"]["by_day"])
    if launch_days:
        ctx["charts"]["launches"] = charts.bar_chart(
            "Reported launches per day, from an AMI and by script", [d[5:] for d in launch_days],
            {"from AMI": [data["launches"]["by_day"][d].get("ami", 0) for d in launch_days],
             "by script": [data["launches"]["by_day"][d].get("script", 0) for d in launch_days]})
    if data.get("resolutions"):
        days = list(data["resolutions"]["by_day"])
        used = [m for m in data["resolutions"]["methods"] if data["resolutions"]["totals"].get(m)]
        ctx["charts"]["resolutions"] = charts.bar_chart(
            "Resolutions per day by tier", [d[5:] for d in days],
            {m: [data["resolutions"]["by_day"][d].get(m, 0) for d in days] for m in used})
        ctx["resolution_rows"] = sorted(data["resolutions"]["totals"].items(), key=lambda kv: -kv[1])
    return ctx


@require_GET
def dashboard_page(request):
    data = dashboard_data(days=_int_param(request, "days", 30, MAX_DAYS), months=_int_param(request, "months", 12, 36))
    return render(request, "dashboard/dashboard.html", {**_context(data), "mine": False})


@login_required
@require_GET
def dashboard_mine(request):
    data = dashboard_data(days=_int_param(request, "days", 30, MAX_DAYS), months=_int_param(request, "months", 12, 36),
                          publisher=request.user)
    return render(request, "dashboard/dashboard.html", {**_context(data), "mine": True})
