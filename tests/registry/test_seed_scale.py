"""``manage.py seed_scale`` at a small size: the rows it promises, exact aggregates, the derived
search columns, and its refusal to touch a database that holds data."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.contrib.auth import get_user_model
from django.db.models import Count, Sum

from amis.filters import search_vector
from amis.models import AMI, AMIRegion, Download
from amis.ranking import best_score_expression
from ratings.models import Rating
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def seed(**extra):
    out = StringIO()
    call_command("seed_scale", amis=300, ratings=3000, downloads=6000, stdout=out, **extra)
    return out.getvalue()


def test_seeds_the_promised_rows_with_exact_aggregates():
    assert "seeded" in seed()
    assert AMI.objects.count() == 300 and AMIRegion.objects.count() == 600
    assert Rating.objects.count() == 3000 and Download.objects.count() == 6000
    # Variety: several categories, both architectures, many regions, every status kind.
    assert AMI.objects.values("category").distinct().count() >= 5
    assert set(AMI.objects.values_list("architecture", flat=True)) == {"x86_64", "arm64"}
    assert AMIRegion.objects.values("region").distinct().count() >= 10
    assert AMI.objects.filter(status="approved").count() > 250
    # Aggregates exactly as the services keep them.
    visible = Rating.objects.filter(is_hidden=False)
    per_ami = {r["ami_id"]: r for r in visible.values("ami_id").annotate(n=Count("id"), s=Sum("rating"))}
    for ami in AMI.objects.all():
        row = per_ami.get(ami.pk, {"n": 0, "s": 0})
        assert (ami.rating_count, ami.rating_sum) == (row["n"], row["s"] or 0)
        if row["n"]:
            assert abs(float(ami.rating_avg) - row["s"] / row["n"]) <= 0.005
    downloads = dict(Download.objects.values_list("ami_id").annotate(n=Count("id")))
    assert all(ami.download_count == downloads.get(ami.pk, 0) for ami in AMI.objects.all())
    assert sum(downloads.values()) == 6000
    # One rating per user and AMI (the unique constraint is back after the bulk load).
    assert not Rating.objects.values("ami_id", "user_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename IN ('ami_ratings', 'ami_downloads')")
        assert cursor.fetchone()[0] >= 7  # every index and unique constraint rebuilt


def test_derived_search_columns_are_current():
    seed()
    rows = AMI.objects.annotate(fly=search_vector(), score=best_score_expression()).values_list(
        "search_document", "fly", "best_score", "score")
    assert all(stored == fly for stored, fly, _, _ in rows)
    assert all(abs(stored - score) < 1e-9 for _, _, stored, score in rows)
    for ami in AMI.objects.all()[:50]:
        regions = sorted(ami.regions.filter(state="available").values_list("region", flat=True))
        assert ami.available_regions == regions


def test_refuses_a_database_that_holds_data_unless_replace():
    UserFactory(username="real-person")
    with pytest.raises(CommandError, match="already holds"):
        seed()
    assert AMI.objects.count() == 0
    seed(replace=True)
    assert AMI.objects.count() == 300
    assert not get_user_model().objects.filter(username="real-person").exists()
