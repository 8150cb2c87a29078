"""A queryset compiled once (``registry.prepared.PreparedQuery``) answers what the ORM answers
for the same values, every slice included, and refuses what it could not run faithfully."""
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from amis.models import AMI
from registry.prepared import NIL_UUID, PreparedQuery
from tests.factories import AMIFactory, UserFactory

pytestmark = pytest.mark.django_db

NO_USER = 0  # no user has id 0


def _names_of(creator_id):
    return AMI.objects.filter(creator_id=creator_id).order_by("name", "id").values_list("name", "tags", "created_at")


def test_rows_equal_the_orm_for_other_values_and_slices():
    one, two = UserFactory(), UserFactory()
    for i in range(5):
        AMIFactory(creator=one, name=f"one-{i}", tags={"n": str(i)})
    AMIFactory(creator=two, name="two-0")
    prepared = PreparedQuery(_names_of, creator_id=NO_USER)
    for user in (one, two):
        assert prepared.rows(creator_id=user.pk) == list(_names_of(user.pk))
    assert prepared.rows(creator_id=one.pk, limit=2) == list(_names_of(one.pk)[:2])
    assert prepared.rows(creator_id=one.pk, limit=2, offset=3) == list(_names_of(one.pk)[3:5])
    assert prepared.rows(creator_id=one.pk, offset=4) == list(_names_of(one.pk)[4:])
    assert prepared.rows(creator_id=one.pk, limit=0) == []
    assert prepared.rows(creator_id=NO_USER) == []
    # Converted as the ORM converts: the JSON column is a dict, not its text.
    assert prepared.rows(creator_id=one.pk, limit=1)[0][1] == {"n": "0"}


def test_compiled_once_and_the_marker_used_in_every_place():
    user = UserFactory()
    ami = AMIFactory(creator=user)
    built = []

    # The same value in two places: both take the caller's (either left at the marker: no row).
    twice = PreparedQuery(lambda creator_id: AMI.objects.filter(creator_id=creator_id, creator__pk__in=[creator_id])
                          .values_list("pk"), creator_id=NO_USER)
    assert twice.rows(creator_id=user.pk) == [(ami.pk,)]
    counting = PreparedQuery(lambda creator_id: built.append(creator_id) or AMI.objects.filter(
        creator_id=creator_id).values_list("pk"), creator_id=NO_USER)
    for _ in range(3):
        assert counting.rows(creator_id=user.pk) == [(ami.pk,)]
    assert built == [NO_USER]


def test_refuses_what_it_could_not_run_faithfully():
    absent = PreparedQuery(lambda pk: AMI.objects.filter(name="x").values_list("pk"), pk=NIL_UUID)
    with pytest.raises(ImproperlyConfigured, match="not a parameter"):
        absent.rows(pk=uuid.uuid4())
    sliced = PreparedQuery(lambda pk: AMI.objects.filter(pk=pk).values_list("pk")[:1], pk=NIL_UUID)
    with pytest.raises(ImproperlyConfigured, match="sliced"):
        sliced.rows(pk=uuid.uuid4())
    prepared = PreparedQuery(lambda pk: AMI.objects.filter(pk=pk).values_list("pk"), pk=NIL_UUID)
    with pytest.raises(TypeError, match="expected values"):
        prepared.rows(id=uuid.uuid4())
