"""The success-metrics dashboard: every number against seeded data, the targets, the resolution
counters, the launch reports, the API, the pages (SVG charts, no CDN) and the Prometheus gauges."""
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from amis.launches import launch_record
from amis.models import AMI, Download, Launch, Operation
from dashboard import charts
from dashboard.selectors import dashboard_data
from resolver import costs, usage
from resolver.models import ResolutionDaily
from resolver.services import resolve
from tests.amis.helpers import client_for, make_ami
from tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db


def _target(data, key):
    return next(t for t in data["targets"] if t["key"] == key)


@pytest.fixture
def seeded(user, other_user):
    script_doc = {"name": "T", "package_manager": "conda", "packages": {"conda": ["a"] * 10, "system": ["s"] * 6},
                  "instance_defaults": {"type": "t3.medium"}, "ami_config": {"strategy": "ami_preferred"}}
    with_ami = TemplateFactory(slug="with-ami", document=script_doc)
    TemplateFactory(slug="also-ami", document={"ami_config": {"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"}}})
    TemplateFactory(slug="no-ami", document={"name": "plain"})
    TemplateFactory(slug="empty-ami", document={"ami_config": {}})
    mine = make_ami(user, template=with_ami, size_gb=20)
    theirs = make_ami(other_user)
    now = timezone.now()
    AMI.objects.filter(pk=mine.pk).update(submitted_at=now - timedelta(hours=30), approved_at=now - timedelta(hours=6))
    AMI.objects.filter(pk=theirs.pk).update(submitted_at=now - timedelta(hours=12), approved_at=now - timedelta(hours=2))
    make_ami(user, status=AMI.Status.PENDING_REVIEW)
    for seconds in (20, 25, 40):
        launch_record(ami=mine, region="us-east-1", method="ami", seconds=seconds)
    launch_record(ami=mine, region="us-east-1", method="ami", succeeded=False, error="InsufficientInstanceCapacity")
    launch_record(ami=theirs, region="us-east-1", method="ami", seconds=30)
    for seconds in (600, 500):
        launch_record(template=with_ami, region="us-east-1", method="script", seconds=seconds)
    for _ in range(3):
        Download.objects.create(ami=mine, region="us-east-1")
    Download.objects.create(ami=theirs, region="us-east-1")  # no template: not in the cost figures
    Operation.objects.create(kind="copy_image", state="succeeded", ami=mine, created_by=user)
    Operation.objects.create(kind="copy_image", state="failed", ami=mine, created_by=user)
    Operation.objects.create(kind="scan", state="succeeded", ami=theirs, created_by=other_user)
    Operation.objects.create(kind="scan", state="running", ami=theirs, created_by=other_user)  # not finished
    return {"mine": mine, "theirs": theirs, "template": with_ami, "doc": script_doc}


def test_numbers_against_seeded_data(seeded):
    data = dashboard_data(days=30, months=12)
    ami, script = data["launches"]["ami"], data["launches"]["script"]
    assert (ami["count"], ami["succeeded"], ami["success_rate"]) == (5, 4, 0.8)
    assert ami["median_seconds"] == 27.5 and script["median_seconds"] == 550.0
    assert data["launches"]["time_difference_seconds"] == 522.5
    assert data["operations"] == {"total": 3, "succeeded": 2, "failed": 1, "success_rate": 0.6667, "by_kind": {
        "copy_image": {"succeeded": 1, "failed": 1, "success_rate": 0.5},
        "scan": {"succeeded": 1, "failed": 0, "success_rate": 1.0}}}
    assert data["templates"] == {"total": 4, "with_ami_config": 2, "share": 0.5}
    assert data["community"]["listed"] == 2
    by_month = data["community"]["by_month"]
    assert len(by_month) == 12 and list(by_month)[-1] == timezone.now().strftime("%Y-%m")
    assert sum(m["published"] for m in by_month.values()) == 2 and sum(m["approved"] for m in by_month.values()) == 2
    assert data["community"]["review"]["median_hours"] == 17.0  # 24 h and 10 h
    analysis = costs.cost_analysis(document=seeded["doc"], region="us-east-1", architecture="x86_64", size_gb=20)
    assert data["cost"]["launches_counted"] == 3
    saving = analysis["script_setup_cost"] - analysis["ami_setup_cost"]
    assert data["cost"]["dollars_saved"] == pytest.approx(3 * saving, abs=1e-4)
    expected = analysis["script_setup_cost"] / analysis["ami_setup_cost"]
    assert data["cost"]["reduction_factor"] == pytest.approx(expected, abs=0.01)


def test_each_target_against_its_measured_value(seeded):
    data = dashboard_data()
    assert _target(data, "launch_seconds")["measured"] == 27.5 and _target(data, "launch_seconds")["met"] is True
    assert _target(data, "launch_success")["measured"] == 0.8 and _target(data, "launch_success")["met"] is False
    assert _target(data, "ami_templates")["measured"] == 0.5 and _target(data, "ami_templates")["met"] is False
    assert _target(data, "community_amis")["measured"] == 2 and _target(data, "community_amis")["met"] is False
    speed = _target(data, "launch_speedup")
    assert speed["measured"] == pytest.approx(550 / 27.5) and speed["met"] is True and "reported" in speed["basis"]
    assert _target(data, "cost_reduction")["met"] is (data["cost"]["reduction_factor"] > 4)


def test_targets_without_data_are_unknown_not_guessed(db):
    data = dashboard_data()
    for key in ("launch_seconds", "launch_success", "cost_reduction", "launch_speedup"):
        assert _target(data, key)["measured"] is None and _target(data, key)["met"] is None
    assert _target(data, "community_amis")["measured"] == 0 and _target(data, "community_amis")["met"] is False


def test_publisher_detail_is_their_own_images(seeded, user):
    data = dashboard_data(publisher=user)
    assert data["publisher"] == user.username and "resolutions" not in data
    assert data["launches"]["ami"]["count"] == 4 and data["community"]["listed"] == 1
    assert data["operations"]["total"] == 2 and data["cost"]["launches_counted"] == 3


def test_resolution_counters_flush_idempotently_and_never_lower_a_count(db):
    cache.clear()
    today = timezone.now().date()
    for _ in range(3):
        usage.resolution_count("registry")
    usage.resolution_count("fallback_script")
    assert usage.resolution_counts_flush() == 2
    assert usage.resolution_counts_flush() == 2  # a re-run writes the same totals
    assert ResolutionDaily.objects.get(day=today, method="registry").count == 3
    cache.clear()                                 # Redis lost its counters
    usage.resolution_count("registry")
    usage.resolution_counts_flush()
    assert ResolutionDaily.objects.get(day=today, method="registry").count == 3
    counts = usage.resolution_counts(days=7)
    assert list(counts)[-1] == today.isoformat() and len(counts) == 7
    assert counts[today.isoformat()] == {"registry": 3, "fallback_script": 1}


def test_resolve_counts_its_tier(db):
    cache.clear()
    template = TemplateFactory(document={"name": "scripted", "base": "ubuntu-22.04", "package_manager": "apt",
                                         "packages": {"system": ["git"]}})
    resolve(template=template, region="us-east-1")  # no ami_config: provisioned by script
    totals = dashboard_data(days=1)["resolutions"]["totals"]
    assert totals == {"fallback_script": 1}


def test_launch_report_api(seeded, api_client):
    mine = seeded["mine"]
    body = api_client.post("/api/v1/launches", {"ami": mine.ami_id, "region": "us-east-1", "method": "ami",
                                                 "seconds": 31.5, "instance_type": "t3.medium",
                                                 "resolution_method": "registry", "client": "cws"}, format="json")
    assert body.status_code == 201 and body.json()["template"] == "with-ami" and body.json()["seconds"] == 31.5
    script = api_client.post("/api/v1/launches", {"template": "with-ami", "region": "eu-west-1", "method": "script"},
                             format="json")
    assert script.status_code == 201 and Launch.objects.filter(method="script", region="eu-west-1").count() == 1
    for bad, field in (({"region": "mars", "method": "script"}, "region"),
                       ({"region": "us-east-1", "method": "ami"}, "ami"),
                       ({"region": "us-east-1", "method": "teleport"}, "method"),
                       ({"region": "us-east-1", "method": "script", "seconds": -1}, "seconds")):
        response = api_client.post("/api/v1/launches", bad, format="json")
        assert response.status_code == 400 and field in response.json()["errors"], bad
    hidden = make_ami(mine.creator, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE)
    assert api_client.post("/api/v1/launches", {"ami": hidden.ami_id, "region": "us-east-1", "method": "ami"},
                           format="json").status_code == 404


def test_dashboard_api_and_publisher_api(seeded, user, other_user, moderator, api_client):
    body = api_client.get("/api/v1/dashboard", {"days": 30}).json()
    assert [t["key"] for t in body["targets"]] == ["launch_seconds", "launch_success", "cost_reduction",
                                                   "ami_templates", "community_amis", "launch_speedup"]
    assert api_client.get("/api/v1/dashboard", {"days": 0}).status_code == 400
    assert api_client.get("/api/v1/dashboard/publisher").status_code in (401, 403)
    mine = client_for(user).get("/api/v1/dashboard/publisher").json()
    assert mine["publisher"] == user.username and mine["launches"]["ami"]["count"] == 4
    assert client_for(user).get("/api/v1/dashboard/publisher", {"username": other_user.username}).status_code == 404
    theirs = client_for(moderator).get("/api/v1/dashboard/publisher", {"username": other_user.username}).json()
    assert theirs["launches"]["ami"]["count"] == 1


def test_dashboard_pages_render_svg_charts_without_cdn(seeded, user):
    cache.clear()
    usage.resolution_count("registry")
    html = Client().get("/dashboard/").content.decode()
    assert 'id="targets"' in html and "<svg" in html and "Resolutions per day by tier" in html
    assert 'id="target-launch_seconds"' in html and "27.5 s" in html and "met" in html
    assert "cdn" not in html.lower()
    assert Client().get("/dashboard/me/").status_code == 302  # sign in first
    client = Client()
    client.force_login(user)
    mine = client.get("/dashboard/me/").content.decode()
    assert "Your images: success metrics" in mine and "Resolutions by tier" not in mine


def test_charts_escape_text_and_scale():
    svg = str(charts.bar_chart("<t>", ["a&b", "c"], {"x<y": [1, 2], "z": [3, 0]}))
    assert "<t>" not in svg and "&lt;t&gt;" in svg and "a&amp;b" in svg and "x&lt;y" in svg
    assert svg.count("<rect") >= 3 + 2  # 3 bars with a value, 2 legend swatches
    line = str(charts.line_chart("L", ["a", "b", "c"], {"s": [1, None, 3]}))
    assert "<polyline" not in line and line.count("<circle") == 2  # the gap breaks the line
    assert charts._nice_max(0) == 1 and charts._nice_max(7) == 10 and charts._nice_max(120) == 200


def test_prometheus_gauges_on_metrics(seeded):
    cache.clear()
    text = Client().get("/metrics").content.decode()
    assert 'registry_dashboard_target_goal{target="launch_seconds"} 30.0' in text
    assert 'registry_dashboard_target_measured{target="launch_success"} 0.8' in text
    assert 'registry_dashboard_target_met{target="launch_seconds"} 1.0' in text
    assert 'registry_dashboard_launches{method="ami",outcome="failed"} 1.0' in text
    assert "registry_dashboard_templates_ami_share 0.5" in text
