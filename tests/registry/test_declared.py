"""Declared fields copied one level deep (``registry.declared``) behave as deep copies do where
it matters: every instance has its own field and filter objects, bound to itself, and validates
on its own."""
from django.http import QueryDict

from amis.filters import AMIFilter
from amis.models import AMI
from resolver.serializers import ResolveQuerySerializer


def test_each_serializer_has_its_own_bound_fields():
    good = ResolveQuerySerializer(data={"region": "eu-west-1", "details": "true"})
    bad = ResolveQuerySerializer(data={"region": "mars-north-1"})
    assert good.is_valid() and not bad.is_valid()
    assert good.validated_data["region"] == "eu-west-1" and "region" in bad.errors
    assert good.fields["region"] is not bad.fields["region"]
    assert good.fields["region"].parent is good and bad.fields["region"].parent is bad
    assert getattr(ResolveQuerySerializer._declared_fields["region"], "parent", None) is None  # never bound


def test_each_filterset_has_its_own_filters_and_form(db):
    one = AMIFilter(data=QueryDict("q=pytorch&architecture=arm64"), queryset=AMI.objects.all())
    two = AMIFilter(data=QueryDict("architecture=sparc"), queryset=AMI.objects.all())
    assert one.is_valid() and not two.is_valid() and "architecture" in two.errors
    assert one.filters["q"] is not two.filters["q"]
    assert one.filters["q"].parent is one and two.filters["q"].parent is two
    assert one.filters["q"].filter.f is one.filters["q"]  # the method filter calls its own filterset
    assert one.form.fields["architecture"] is not two.form.fields["architecture"]
    assert "pytorch" in str(one.qs.query)
