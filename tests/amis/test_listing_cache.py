"""Cached representations of browse pages (``amis.listing_cache``) are never stale.

The database keeps each row's ``listing_version`` (amis/migrations/0007): every change a listing
shows moves it, the counters do not, a stale write never lowers it and a number is never given
twice. Pages answered from the cache are byte-for-byte what an empty cache computes.
"""
import json

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from amis.downloads import download_record
from amis.listing_cache import cached_representations
from amis.models import AMI, AMIRegion
from registry.representation import RenderedJSON, SplicingJSONRenderer
from tests.amis.helpers import make_ami
from tests.conftest import client_for
from tests.factories import AMIRegionFactory, TemplateFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/amis/"


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def version_of(ami) -> int:
    return AMI.objects.values_list("listing_version", flat=True).get(pk=ami.pk)


@pytest.fixture
def listed(make_user):
    template = TemplateFactory(slug="listing-t", name="Listing template")
    ami = make_ami(make_user("lister"), name="Listed image", template=template)
    AMIRegionFactory(ami=ami, region="eu-west-1")
    return ami


def test_every_change_a_listing_shows_moves_the_version(listed):
    changes = [
        ("saved", lambda: (setattr(listed, "name", "Renamed image"), listed.save())),
        ("bulk update", lambda: AMI.objects.filter(pk=listed.pk).update(description="new words")),
        ("copy tested", lambda: AMIRegion.objects.filter(ami=listed).update(last_tested=timezone.now())),
        ("copy failed", lambda: AMIRegion.objects.filter(ami=listed, region="eu-west-1").update(state="failed")),
        ("copy added", lambda: AMIRegionFactory(ami=listed, region="ap-south-1")),
        ("copy removed", lambda: AMIRegion.objects.filter(ami=listed, region="ap-south-1").delete()),
        ("template renamed", lambda: type(listed.template).objects.filter(pk=listed.template_id).update(
            name="Renamed template")),
        ("creator renamed", lambda: type(listed.creator).objects.filter(pk=listed.creator_id).update(
            username="lister-renamed")),
    ]
    seen = [version_of(listed)]
    for what, change in changes:
        change()
        seen.append(version_of(listed))
        assert seen[-1] > seen[-2], what


def test_counters_and_unshown_columns_leave_the_version(listed):
    before = version_of(listed)
    download_record(ami=listed, region="eu-west-1")  # download_count + 1 and the best score refreshed
    AMI.objects.filter(pk=listed.pk).update(best_score=42.0)
    AMIRegion.objects.filter(ami=listed).update(error="not shown", findings={"x": 1})
    assert version_of(listed) == before
    assert AMI.objects.get(pk=listed.pk).download_count == 1


def test_a_stale_version_written_back_is_overruled(listed):
    stale = AMI.objects.get(pk=listed.pk)
    AMIRegion.objects.filter(ami=listed).update(last_tested=timezone.now())
    current = version_of(listed)
    AMI.objects.filter(pk=listed.pk).update(listing_version=stale.listing_version)  # nothing else changes
    assert version_of(listed) == current
    stale.save()  # a full save of an instance read before the change: a new version, never an old one
    assert version_of(listed) > current


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_version_is_never_given_again(make_user):
    ami = make_ami(make_user("roller"), name="Before")
    with pytest.raises(RuntimeError), transaction.atomic():
        AMI.objects.filter(pk=ami.pk).update(name="Rolled back")
        rolled_back = version_of(ami)
        raise RuntimeError("roll back")
    AMI.objects.filter(pk=ami.pk).update(name="Committed")
    assert version_of(ami) not in (0, rolled_back)


def test_the_cache_stores_under_the_loaded_rows_own_version(listed):
    represented = []

    def load(pks):
        return list(AMI.objects.filter(pk__in=pks))

    def represent(amis):
        represented.extend(a.pk for a in amis)
        return [f"{a.name}/{a.download_count}" for a in amis]

    stale_key = (listed.pk, version_of(listed), 0)
    download_record(ami=listed, region="eu-west-1")  # the ids query was read before this download
    assert cached_representations("test", [stale_key], load=load, represent=represent) == ["Listed image/1"]
    current_key = (listed.pk, version_of(listed), 1)
    assert cached_representations("test", [current_key], load=load, represent=represent) == ["Listed image/1"]
    assert represented == [listed.pk]  # the second call was answered from the cache
    assert cached_representations("test", [(listed.pk, 0, 0)], load=lambda pks: [], represent=represent) == []


def test_warm_pages_equal_cold_pages_after_every_change(listed, make_user):
    other = make_ami(make_user("other"), name="Other image")
    client = client_for(None)
    paths = [LIST, f"{LIST}?q=image", f"{LIST}?ordering=name", "/", "/?q=image"]

    def assert_warm_equals_cold():
        warm = [client.get(p).content for p in paths]
        again = [client.get(p).content for p in paths]
        cache.clear()
        cold = [client.get(p).content for p in paths]
        assert warm == again == cold

    client.get(LIST)
    assert_warm_equals_cold()
    for change in (
        lambda: AMI.objects.filter(pk=listed.pk).update(name="Listed image, renamed"),
        lambda: download_record(ami=other, region="us-east-1"),
        lambda: AMIRegion.objects.filter(ami=listed).update(last_tested=timezone.now()),
        lambda: type(listed.template).objects.filter(pk=listed.template_id).update(name="Template renamed"),
    ):
        for p in paths:
            client.get(p)  # every page cached before the change
        change()
        assert_warm_equals_cold()
    body = client.get(LIST).json()
    names = {a["name"]: a for a in body["results"]}
    assert names["Other image"]["download_count"] == 1 and "Listed image, renamed" in names
    assert b"Template renamed" in client.get("/").content


def test_spliced_output_is_the_json_renderers():
    objects = [{"name": "line\u2028separator", "n": 1, "ok": None}, {"name": "Grüße", "tags": {"a": ""}}]
    data = {"count": 2, "next": None, "results": objects, "facets": {"category": {"x": 1}}}
    rendered = {**data, "results": [SplicingJSONRenderer.render_value(o) for o in objects]}
    assert all(isinstance(r, RenderedJSON) for r in rendered["results"])
    assert SplicingJSONRenderer().render(rendered) == JSONRenderer().render(data)
    indented = SplicingJSONRenderer().render(rendered, "application/json; indent=4")
    assert json.loads(indented) == data
    # Nothing to splice: exactly DRF's renderer.
    for plain in ({"results": []}, [1, 2], None, {"a": [b"x"]}):
        try:
            expected = JSONRenderer().render(plain)
        except TypeError:
            continue
        assert SplicingJSONRenderer().render(plain) == expected
