"""The AMI object from ``PlannedRepresentation`` equals DRF's own representation, field for field,
for entries with and without template, creator, replacement, research metadata and copies."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from amis.models import AMI, AMIRegion
from amis.selectors import ami_list_related
from amis.serializers import AMIOutputSerializer, AMIRegionOutputSerializer
from tests.amis.helpers import make_ami
from tests.factories import AMIRegionFactory, TemplateFactory

pytestmark = pytest.mark.django_db


def drf_reference(serializer_class, instances):
    """What DRF itself produces: the same fields, represented by ``Serializer.to_representation``."""
    class Reference(serializer_class):
        def to_representation(self, instance):
            return serializers.Serializer.to_representation(self, instance)

    # Nested region lists go through DRF's path too.
    reference = Reference(instances, many=True)
    regions = reference.child.fields["regions"]

    class RegionReference(AMIRegionOutputSerializer):
        def to_representation(self, instance):
            return serializers.Serializer.to_representation(self, instance)

    regions.child = RegionReference()
    regions.child.bind(field_name="", parent=regions)
    return reference.data


@pytest.fixture
def varied(make_user):
    alice = make_user("alice")
    template = TemplateFactory(slug="python-ml", name="Python ML")
    newer = make_ami(alice, name="Newer", template=template, version="2.0.0")
    old = make_ami(alice, name="Old", status=AMI.Status.DEPRECATED, replacement=newer, template=template,
                   tags={"team": "genomics", "n": 3}, doi="10.5281/zenodo.1234567",
                   authors=[{"name": "Ada Lovelace", "orcid": "0000-0002-1825-0097"}], license="MIT",
                   security_score="8.5", rating_avg="4.25", rating_count=4, download_count=12,
                   deprecated_at=timezone.now() - timedelta(days=1))
    AMIRegionFactory(ami=old, region="eu-west-1", state=AMIRegion.State.PENDING, image_id="")
    orphan = make_ami(None, name="No creator, no template", tags=["legacy", "list"], ena_support=None,
                      signature_valid=None, size_gb=None)
    return [newer, old, orphan]


def test_planned_output_equals_drfs(varied):
    rows = list(ami_list_related(AMI.objects.filter(pk__in=[a.pk for a in varied])).order_by("name"))
    planned = AMIOutputSerializer(rows, many=True).data
    reference = drf_reference(AMIOutputSerializer, rows)
    assert planned == reference
    assert [list(row) for row in planned] == [list(row) for row in reference]  # same keys, same order
    # And the JSON clients receive is byte for byte the same.
    assert JSONRenderer().render(planned) == JSONRenderer().render(reference)
    old = next(row for row in planned if row["name"] == "Old")
    assert old["replacement"] == varied[0].ami_id and old["security_score"] == 8.5 and old["rating_avg"] == 4.25
    assert json.loads(JSONRenderer().render(old))["created_at"].endswith("Z")
    assert {r["region"]: r["source"] for r in old["regions"]}["eu-west-1"] == ""

