"""Cross-app fixtures. Tests use the real PostgreSQL and Redis configured in registry.settings.test."""
import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from tests.factories import link_moto_account


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty Django cache (Redis db 15 in tests)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _seeded_rows(request):
    """Rows the data migrations seed (the `moderators` group, the default community).

    A transactional test's teardown flushes every table, migration-seeded rows included; we
    re-create them here for every database test instead of relying on `serialized_rollback`,
    which crashes (duplicate content types) when it runs after a plain transactional test.
    """
    if "django_db_setup" not in request.fixturenames and not request.node.get_closest_marker("django_db"):
        yield
        return
    request.getfixturevalue("_django_db_helper")
    from registry.models import Community

    Group.objects.get_or_create(name="moderators")
    Community.objects.get_or_create(slug="cloudworkstation", defaults={
        "name": "CloudWorkstation", "kind": "open", "is_default": True,
        "description": "The default open community: every registered user belongs to it."})
    yield


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def make_user(db, django_user_model):
    def make(username="alice", *, moderator=False, superuser=False, password="correct-horse-battery", **extra):
        if superuser:
            return django_user_model.objects.create_superuser(username=username, password=password,
                                                             email=f"{username}@example.org", **extra)
        user = django_user_model.objects.create_user(username=username, password=password,
                                                     email=f"{username}@example.org", **extra)
        if moderator:
            user.groups.add(Group.objects.get(name="moderators"))
        if not moderator:
            # The first publisher of a test owns moto's account (its images and instances), as
            # every user did before accounts were linked; others need their own or a claim tag.
            link_moto_account(user)
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def other_user(make_user):
    return make_user("bob")


@pytest.fixture
def moderator(make_user):
    return make_user("mod", moderator=True)


@pytest.fixture
def auth_client(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def client_for(user):
    """An APIClient authenticated as ``user`` (None → anonymous)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def aws(monkeypatch):
    """In-process moto for every AWS service; yields a small helper to make real (moto) images.

    ``aws.image(region, arch)`` runs an instance from a stock AMI and creates an image of it,
    returning the new image id, exactly as CreateImage would in AWS.
    """
    from moto import mock_aws

    from registry import aws as aws_gateway

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws_gateway.clear_client_cache()
    with mock_aws():
        yield AwsHelper()
    aws_gateway.clear_client_cache()


class AwsHelper:
    def ec2(self, region="us-east-1"):
        import boto3

        return boto3.client("ec2", region_name=region)

    def base_image(self, region="us-east-1", arch="x86_64") -> str:
        images = self.ec2(region).describe_images(Owners=["amazon"], Filters=[
            {"Name": "architecture", "Values": [arch]}, {"Name": "root-device-type", "Values": ["ebs"]}])["Images"]
        return images[0]["ImageId"]

    def instance(self, region="us-east-1", arch="x86_64", instance_type=None) -> str:
        itype = instance_type or ("t4g.micro" if arch == "arm64" else "t3.micro")
        resp = self.ec2(region).run_instances(ImageId=self.base_image(region, arch), MinCount=1, MaxCount=1,
                                              InstanceType=itype)
        return resp["Instances"][0]["InstanceId"]

    def image(self, region="us-east-1", arch="x86_64", name=None, tags=None) -> str:
        import uuid

        instance_id = self.instance(region, arch)
        kwargs = {"InstanceId": instance_id, "Name": name or f"test-image-{uuid.uuid4().hex[:8]}"}
        if tags:
            kwargs["TagSpecifications"] = [{"ResourceType": "image",
                                            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        return self.ec2(region).create_image(**kwargs)["ImageId"]
