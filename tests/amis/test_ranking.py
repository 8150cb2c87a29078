"""Freshness-aware "best" ranking: each named component on crafted entries, the SQL and Python
forms agreeing, the order browse gives, the stale badge and "why this rank" on the page."""
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from amis import ranking
from amis.models import AMI, Download, DownloadDaily, ScanResult
from tests.amis.helpers import make_ami
from tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db

P = ranking.ranking_settings


def _age(ami, days):
    """Pretend ``ami`` was listed ``days`` ago (created_at is auto_now_add)."""
    AMI.objects.filter(pk=ami.pk).update(created_at=timezone.now() - timedelta(days=days))
    ranking.best_score_refresh()  # a raw UPDATE bypasses the save hooks; the hourly task catches up
    ami.refresh_from_db()
    return ami


def _points(ami, name, can_see=lambda other: True):
    return next(c for c in ranking.rank_explain(ami, can_see=can_see)["components"] if c["name"] == name)


def _sql_score(ami):
    return AMI.objects.filter(pk=ami.pk).annotate(s=ranking.best_score_expression()).values_list("s", flat=True)[0]


def _scan(ami, days_ago):
    scan = ScanResult.objects.create(ami=ami, status=ScanResult.Status.PASSED, security_score=9)
    ScanResult.objects.filter(pk=scan.pk).update(scanned_at=timezone.now() - timedelta(days=days_ago))
    ranking.best_score_refresh()  # as in _age


def test_bases_past_end_of_support(settings):
    assert "ubuntu-20.04" in ranking.bases_past_end_of_support(date(2026, 12, 1))
    assert "ubuntu-24.04" not in ranking.bases_past_end_of_support(date(2026, 12, 1))
    assert "ubuntu-22.04" not in ranking.bases_past_end_of_support(date(2026, 12, 1))
    settings.REGISTRY_BASE_END_OF_SUPPORT = {"ubuntu-24.04": "2026-01-01"}
    assert "ubuntu-24.04" in ranking.bases_past_end_of_support(date(2026, 12, 1))


def test_stale_base_os_by_end_of_support_or_image_age(user):
    old_base = make_ami(user, template=TemplateFactory(base="ubuntu-20.04"))
    current = make_ami(user, template=TemplateFactory(base="ubuntu-24.04"))
    built_long_ago = make_ami(user, image_creation_date="2023-01-05T10:00:00.000Z")
    stale = _points(old_base, "stale_base_os")
    assert stale["points"] == -P()["stale_base_os_penalty"] and "ubuntu-20.04 left standard support" in stale["reason"]
    assert _points(current, "stale_base_os")["points"] == 0 and _points(current, "stale_base_os")["reason"] == ""
    assert "image built" in _points(built_long_ago, "stale_base_os")["reason"]


def test_stale_scan_never_or_long_ago(user):
    never, old, recent = make_ami(user), make_ami(user), make_ami(user)
    _scan(old, 200)
    _scan(recent, 5)
    assert _points(never, "stale_scan")["reason"] == "never scanned"
    assert "last scanned 200 days ago" in _points(old, "stale_scan")["reason"]
    assert _points(recent, "stale_scan")["points"] == 0


def test_idle_when_nobody_launched_it_for_long_but_not_when_new(user):
    idle = _age(make_ami(user), 400)
    new = make_ami(user)
    launched = _age(make_ami(user), 400)
    Download.objects.create(ami=launched, region="us-east-1")
    rolled_up = _age(make_ami(user), 400)
    DownloadDaily.objects.create(ami=rolled_up, day=timezone.now().date() - timedelta(days=10), count=3)
    assert _points(idle, "idle")["reason"] == "never launched (nothing in 180 days)"
    assert _points(idle, "idle")["points"] == -P()["idle_penalty"]
    assert _points(new, "idle")["points"] == 0
    assert _points(launched, "idle")["points"] == 0 and _points(rolled_up, "idle")["points"] == 0


def test_superseded_by_replacement_or_a_later_version_of_the_same_image(user, other_user):
    template = TemplateFactory()
    v1 = _age(make_ami(user, name="Genomics", template=template, version="1.0"), 30)
    v2 = make_ami(user, name="Genomics", template=template, version="2.0")
    someone_else = make_ami(other_user, name="Genomics", template=template)
    assert "superseded by Genomics 2.0" in _points(v1, "superseded")["reason"]
    assert _points(v2, "superseded")["points"] == 0
    assert _points(someone_else, "superseded")["points"] == 0  # another publisher's image is no new version
    replaced = make_ami(user, name="Old", status=AMI.Status.DEPRECATED)
    replaced.replacement = make_ami(user, name="New")
    replaced.save(update_fields=["replacement"])
    assert "superseded by New" in _points(replaced, "superseded")["reason"]
    # A newer version the viewer may not see is counted, never named.
    unnamed = _points(v1, "superseded", can_see=lambda other: False)
    assert unnamed["reason"] == "a newer version is listed" and unnamed["points"] == -P()["superseded_penalty"]


def test_sql_and_python_forms_of_every_component_agree(user, other_user):
    template_old = TemplateFactory(base="ubuntu-20.04")
    entries = [
        make_ami(user, rating_avg=4.5, rating_count=12, download_count=40),
        _age(make_ami(user, template=template_old, download_count=3), 500),
        _age(make_ami(user, status=AMI.Status.DEPRECATED, image_creation_date="2020-01-01T00:00:00Z"), 90),
        make_ami(other_user, name="Same", template=template_old),
    ]
    _scan(entries[0], 1)
    _scan(entries[1], 300)
    make_ami(other_user, name="Same", template=template_old)  # a later version of entries[3]
    Download.objects.create(ami=entries[2], region="us-east-1")
    for ami in entries:
        ami.refresh_from_db()
        assert _sql_score(ami) == pytest.approx(ranking.rank_explain(ami)["score"], abs=1e-3), ami.name


def test_stale_images_sink_in_best_order_and_newer_version_outranks_predecessor(user, api_client):
    template = TemplateFactory(base="ubuntu-22.04")
    fresh = make_ami(user, name="Fresh", template=template)
    _scan(fresh, 3)
    Download.objects.create(ami=fresh, region="us-east-1")
    stale = _age(make_ami(user, name="Stale", template=TemplateFactory(base="ubuntu-20.04")), 400)
    v1 = _age(make_ami(user, name="Pipeline", template=template, version="1"), 60)
    v2 = make_ami(user, name="Pipeline", template=template, version="2")
    for ami in (v1, v2):
        _scan(ami, 3)
        Download.objects.create(ami=ami, region="us-east-1")
    names = [r["name"] + r["version"] for r in api_client.get("/api/v1/amis/").json()["results"]]
    assert names.index("Pipeline2") < names.index("Pipeline1")
    assert names[-1] == "Stale"
    assert names.index("Fresh") < names.index("Stale")


def test_ami_page_shows_stale_badge_with_reason_and_why_this_rank(user):
    stale = _age(make_ami(user, template=TemplateFactory(base="ubuntu-20.04")), 400)
    html = Client().get(f"/amis/{stale.pk}/").content.decode()
    assert 'id="stale-badges"' in html and "stale: stale base os" in html
    assert "ubuntu-20.04 left standard support on 2025-05-31" in html and "never scanned" in html
    assert 'id="why-rank"' in html and "Rating (Bayesian average)" in html and "No recent launches" in html
    fresh = make_ami(user, template=TemplateFactory(base="ubuntu-24.04"))
    _scan(fresh, 1)
    assert 'id="stale-badges"' not in Client().get(f"/amis/{fresh.pk}/").content.decode()
