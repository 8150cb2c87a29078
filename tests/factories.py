"""Factories shared by every app's tests (factory_boy)."""
import itertools

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from amis.models import AMI, AMIRegion
from registry.models import AwsAccountLink
from templates.models import Template

_hex = itertools.count(0x10000000)


def fake_ami_id() -> str:
    """A syntactically valid, unique 17-hex AMI id (not in AWS: for DB-only tests)."""
    return f"ami-{next(_hex):017x}"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password("correct-horse-battery")


# moto's default account: where every image and instance of the in-process emulator lives.
MOTO_ACCOUNT_ID = "123456789012"


class AwsAccountLinkFactory(factory.django.DjangoModelFactory):
    """A verified link (no AWS call): the user publishes from ``account_id`` through its role."""

    class Meta:
        model = AwsAccountLink

    user = factory.SubFactory(UserFactory)
    account_id = MOTO_ACCOUNT_ID
    role_arn = factory.LazyAttribute(lambda o: f"arn:aws:iam::{o.account_id}:role/cws-registry")
    external_id = factory.Sequence(lambda n: f"test-external-id-{n}")
    verified_at = factory.LazyFunction(timezone.now)


def link_moto_account(user, account_id: str = MOTO_ACCOUNT_ID) -> AwsAccountLink | None:
    """Give ``user`` the moto account unless another user verified it already (an account has
    one publisher): the tests' first publisher owns the emulator's images, as before accounts."""
    if AwsAccountLink.objects.filter(account_id=account_id, verified_at__isnull=False).exclude(user=user).exists():
        return None
    return AwsAccountLink.objects.filter(user=user, account_id=account_id).first() or \
        AwsAccountLinkFactory(user=user, account_id=account_id)


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Template
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Template {n}")
    slug = factory.Sequence(lambda n: f"template-{n}")
    description = "A workstation template"
    base = "ubuntu-22.04"
    category = "Machine Learning"
    document = factory.LazyAttribute(lambda o: {"name": o.name, "slug": o.slug, "description": o.description,
                                                "base": o.base, "category": o.category})
    own_document = factory.LazyAttribute(lambda o: o.document)


class AMIFactory(factory.django.DjangoModelFactory):
    """An AMI row with its source region row. Defaults: approved + public (browseable)."""

    class Meta:
        model = AMI
        skip_postgeneration_save = True

    ami_id = factory.LazyFunction(fake_ami_id)
    source_region = "us-east-1"
    name = factory.Sequence(lambda n: f"Community AMI {n}")
    description = "A community image"
    category = "Machine Learning"
    architecture = AMI.Architecture.X86_64
    creator = factory.SubFactory(UserFactory)
    status = AMI.Status.APPROVED
    visibility = AMI.Visibility.PUBLIC
    owner_account_id = "123456789012"

    @factory.post_generation
    def with_region(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            AMIRegion.objects.create(ami=obj, region=obj.source_region, image_id=obj.ami_id,
                                     state=AMIRegion.State.AVAILABLE, is_source=True)


class AMIRegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AMIRegion

    ami = factory.SubFactory(AMIFactory)
    region = "us-west-2"
    image_id = factory.LazyFunction(fake_ami_id)
    state = AMIRegion.State.AVAILABLE
