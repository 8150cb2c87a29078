"""The dashboard's numbers as Prometheus gauges on the existing /metrics (computed at scrape
time from ``dashboard.selectors.dashboard_data``, cached for a minute so scrapes stay cheap)."""
from __future__ import annotations

import logging

from django.core.cache import cache
from prometheus_client.core import GaugeMetricFamily

from dashboard.selectors import dashboard_data

logger = logging.getLogger(__name__)
CACHE_KEY = "dashboard:prometheus"
CACHE_SECONDS = 60


def _data() -> dict | None:
    data = cache.get(CACHE_KEY)
    if data is None:
        data = dashboard_data(days=30, months=12)
        cache.set(CACHE_KEY, data, CACHE_SECONDS)
    return data


class DashboardCollector:
    """``registry_dashboard_*`` gauges: each target's measured value and whether it is met, and
    the counts behind them (30-day window)."""

    NAMES = ("registry_dashboard_target_measured", "registry_dashboard_target_goal", "registry_dashboard_target_met",
             "registry_dashboard_launches", "registry_dashboard_operations_success_ratio",
             "registry_dashboard_cost_saved_dollars", "registry_dashboard_templates_ami_share",
             "registry_dashboard_community_amis", "registry_dashboard_resolutions")

    def describe(self):
        # Called when registering: names only, so registering (in AppConfig.ready) reads no database.
        return [GaugeMetricFamily(name, name) for name in self.NAMES]

    def collect(self):
        try:
            data = _data()
        except Exception:  # noqa: BLE001 — the database is down: /metrics still answers the rest
            logger.warning("dashboard metrics not collected", exc_info=True)
            return
        measured = GaugeMetricFamily("registry_dashboard_target_measured", "Measured value of a product-plan target",
                                     labels=["target"])
        goal = GaugeMetricFamily("registry_dashboard_target_goal", "The product plan's target value", labels=["target"])
        met = GaugeMetricFamily("registry_dashboard_target_met", "1 when the target is met, 0 when not "
                                "(absent without data)", labels=["target"])
        for t in data["targets"]:
            goal.add_metric([t["key"]], t["target"])
            if t["measured"] is not None:
                measured.add_metric([t["key"]], t["measured"])
                met.add_metric([t["key"]], 1.0 if t["met"] else 0.0)
        yield from (measured, goal, met)
        launches = GaugeMetricFamily("registry_dashboard_launches", "Reported launches (30 days)",
                                     labels=["method", "outcome"])
        for method in ("ami", "script"):
            entry = data["launches"][method]
            launches.add_metric([method, "succeeded"], entry["succeeded"])
            launches.add_metric([method, "failed"], entry["count"] - entry["succeeded"])
        yield launches
        ops = GaugeMetricFamily("registry_dashboard_operations_success_ratio",
                                "Share of finished AWS operations that succeeded (30 days)")
        if data["operations"]["success_rate"] is not None:
            ops.add_metric([], data["operations"]["success_rate"])
        yield ops
        yield GaugeMetricFamily("registry_dashboard_cost_saved_dollars",
                                "Dollars saved by AMI launches against script provisioning (30 days, cost model)",
                                value=data["cost"]["dollars_saved"])
        yield GaugeMetricFamily("registry_dashboard_templates_ami_share", "Share of templates with an ami_config",
                                value=data["templates"]["share"] or 0.0)
        yield GaugeMetricFamily("registry_dashboard_community_amis", "Listed community AMIs",
                                value=data["community"]["listed"])
        tiers = GaugeMetricFamily("registry_dashboard_resolutions", "Resolutions answered per tier (30 days)",
                                  labels=["method"])
        for method, n in (data.get("resolutions") or {}).get("totals", {}).items():
            tiers.add_metric([method], n)
        yield tiers
