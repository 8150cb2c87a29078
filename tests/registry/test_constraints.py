"""Integrity lives in the database: these inserts bypass every Python check and must fail there."""
import pytest
from django.db import IntegrityError, connection, transaction

from amis.models import AMI, AMIRegion
from ratings.models import Rating
from sharing.models import Share
from tests.factories import AMIFactory, UserFactory, fake_ami_id

pytestmark = pytest.mark.django_db


def _violates(fn):
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            fn()


def test_the_five_tables_exist_under_their_contract_names():
    tables = set(connection.introspection.table_names())
    assert {"ami_registry", "ami_regions", "ami_ratings", "ami_downloads", "ami_sharing"} <= tables


def test_duplicate_rating_is_refused_by_the_database():
    ami, rater = AMIFactory(), UserFactory()
    Rating.objects.create(ami=ami, user=rater, rating=4)
    _violates(lambda: Rating.objects.create(ami=ami, user=rater, rating=5))


@pytest.mark.parametrize("stars", [0, 6, 100])
def test_rating_outside_1_to_5_is_refused_by_the_database(stars):
    ami, rater = AMIFactory(), UserFactory()
    _violates(lambda: Rating.objects.create(ami=ami, user=rater, rating=stars))


def test_duplicate_region_row_is_refused():
    ami = AMIFactory()  # already has its us-east-1 source row
    _violates(lambda: AMIRegion.objects.create(ami=ami, region="us-east-1", image_id=fake_ami_id()))


def test_duplicate_ami_id_is_refused():
    ami = AMIFactory()
    _violates(lambda: AMIFactory(ami_id=ami.ami_id))


def test_same_regional_image_id_cannot_belong_to_two_entries():
    first, second = AMIFactory(), AMIFactory()
    _violates(lambda: AMIRegion.objects.create(ami=second, region="eu-west-1",
                                               image_id=first.regions.get().image_id))


@pytest.mark.parametrize("field,value", [("status", "published"), ("visibility", "secret"),
                                         ("architecture", "mips"), ("ami_id", "ami-XYZ")])
def test_constrained_choices_are_enforced_by_the_database(field, value):
    ami = AMIFactory()
    _violates(lambda: AMI.objects.filter(pk=ami.pk).update(**{field: value}))


def test_duplicate_share_and_mismatched_target_are_refused():
    ami, grantee = AMIFactory(), UserFactory()
    Share.objects.create(ami=ami, grantee_type="user", grantee=grantee.username, user=grantee)
    _violates(lambda: Share.objects.create(ami=ami, grantee_type="user", grantee=grantee.username, user=grantee))
    # an account grant may not point at a registry user
    _violates(lambda: Share.objects.create(ami=ami, grantee_type="account", grantee="123456789012", user=grantee))


def test_deleting_a_user_keeps_their_amis_and_ratings_anonymised():
    ami = AMIFactory()
    rater = UserFactory()
    Rating.objects.create(ami=ami, user=rater, rating=5)
    creator = ami.creator
    creator.delete()
    rater.delete()
    ami.refresh_from_db()
    assert ami.creator is None
    assert Rating.objects.get(ami=ami).user is None
