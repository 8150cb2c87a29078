"""Downloads and stats: one row per call, exact counters (also under real concurrency), stats
that include the daily roll-ups kept by retention."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from django.db import connection

from amis import downloads
from amis.models import AMI, Download, DownloadDaily
from ratings.models import Rating
from tests.amis.helpers import client_for, make_ami, url


@pytest.mark.django_db
def test_download_records_a_row_and_counts(user, other_user):
    ami = make_ami(user)
    response = client_for(other_user).post(url(ami, "/downloads"), {"region": "eu-west-1", "client": "cws/1.4"},
                                           format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["region"] == "eu-west-1" and body["client"] == "cws/1.4" and body["download_count"] == 1
    row = Download.objects.get()
    assert (row.ami, row.user, row.region, row.client) == (ami, other_user, "eu-west-1", "cws/1.4")
    anonymous = client_for(None).post(url(ami, "/downloads"), {"region": "us-east-1"}, format="json")
    assert anonymous.status_code == 201 and anonymous.json()["download_count"] == 2
    assert Download.objects.filter(user=None).count() == 1
    ami.refresh_from_db()
    assert ami.download_count == 2


@pytest.mark.django_db
@pytest.mark.parametrize("body, field", [({}, "region"), ({"region": "mars-1"}, "region"), ({"region": 5}, "region"),
                                         ({"region": "us-east-1", "client": "x" * 101}, "client"),
                                         ({"region": "us-east-1", "client": ["a"]}, "client"),
                                         ({"region": "x" * 10_000}, "region")])
def test_download_bad_input_is_400(user, body, field):
    ami = make_ami(user)
    response = client_for(user).post(url(ami, "/downloads"), body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not Download.objects.exists()


@pytest.mark.django_db
def test_stats_merge_raw_rows_and_daily_rollups(user, make_user):
    ami = make_ami(user)
    for region in ("us-east-1", "us-east-1", "eu-west-1"):
        downloads.download_record(ami=ami, region=region, user=None, client="")
    # What retention left behind for older days (raw rows already deleted).
    DownloadDaily.objects.create(ami=ami, day=date(2026, 1, 2), region="us-east-1", count=10)
    DownloadDaily.objects.create(ami=ami, day=date(2026, 1, 2), region="ap-south-1", count=5)
    AMI.objects.filter(pk=ami.pk).update(download_count=18)
    for i, stars in enumerate([5, 5, 4, 1]):
        Rating.objects.create(ami=ami, user=make_user(f"r{i}"), rating=stars)
    Rating.objects.create(ami=ami, user=make_user("hidden"), rating=2, is_hidden=True)

    body = client_for(None).get(url(ami, "/stats")).json()

    today = Download.objects.first().at.date().isoformat()
    assert body == {
        "download_count": 18,
        "downloads_by_region": {"ap-south-1": 5, "eu-west-1": 1, "us-east-1": 12},
        "downloads_by_day": {"2026-01-02": 15, today: 3},
        "rating_histogram": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 2},
    }
    assert sum(body["downloads_by_region"].values()) == sum(body["downloads_by_day"].values()) == 18
    detail = client_for(None).get(url(ami)).json()
    assert detail["rating_histogram"] == body["rating_histogram"]


# Migration-seeded rows (moderators group, default community) are re-created per test by the
# autouse `_seeded_rows` fixture in tests/conftest.py, so no serialized_rollback is needed.
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_downloads_are_all_counted(make_user):
    """Real threads, each with its own PostgreSQL connection, racing on one AMI row."""
    owner = make_user("owner")
    ami = make_ami(owner)
    ami_pk = ami.pk
    start = threading.Barrier(16)

    def worker(n: int) -> int:
        try:
            start.wait()
            entry = AMI.objects.get(pk=ami_pk)  # each thread its own instance, like separate requests
            for _ in range(n):
                downloads.download_record(ami=entry, region="us-east-1", user=None, client="load")
            return n
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=16) as pool:
        done = sum(pool.map(worker, [13] * 8 + [12] * 8))

    assert done == 200
    assert AMI.objects.get(pk=ami_pk).download_count == 200
    assert Download.objects.filter(ami_id=ami_pk).count() == 200
