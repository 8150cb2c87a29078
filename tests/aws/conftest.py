"""Fixtures for the AWS lifecycle tests: in-process moto (the project's ``aws`` fixture) plus ways
to force image states on the moto backend, which otherwise makes every image available at once."""
import pytest
import requests
from django.test import override_settings

from tests.factories import TemplateFactory


@pytest.fixture
def template(db):
    return TemplateFactory(slug="python-ml", name="Python ML")


@pytest.fixture(autouse=True)
def _fast_polls():
    with override_settings(REGISTRY_POLL_SECONDS=5):
        yield


class ImageStates:
    """Make moto leave new images (CreateImage / CopyImage) in a chosen state, as AWS does for minutes."""

    def __init__(self, monkeypatch):
        from moto.ec2.models.amis import AmiBackend

        self.on_create: str | None = None
        self.on_copy: str | None = None
        original_create, original_copy = AmiBackend.create_image, AmiBackend.copy_image
        states = self

        def create_image(backend, *args, **kwargs):
            ami = original_create(backend, *args, **kwargs)
            if states.on_create:
                ami.state = states.on_create
            return ami

        def copy_image(backend, *args, **kwargs):
            ami = original_copy(backend, *args, **kwargs)
            if states.on_copy:
                ami.state = states.on_copy
            return ami

        monkeypatch.setattr(AmiBackend, "create_image", create_image)
        monkeypatch.setattr(AmiBackend, "copy_image", copy_image)

    @staticmethod
    def set(region: str, image_id: str, state: str) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ec2.models import ec2_backends

        ec2_backends[DEFAULT_ACCOUNT_ID][region].amis[image_id].state = state


@pytest.fixture
def image_states(aws, monkeypatch):
    return ImageStates(monkeypatch)


def images_tagged(aws, region: str, registry_id: str) -> list[dict]:
    return aws.ec2(region).describe_images(Owners=["self"], Filters=[
        {"Name": "tag:RegistryId", "Values": [str(registry_id)]}])["Images"]


def launch_permissions(aws, region: str, image_id: str) -> list[dict]:
    return aws.ec2(region).describe_image_attribute(ImageId=image_id, Attribute="launchPermission")[
        "LaunchPermissions"]


@pytest.fixture
def moto_url(monkeypatch):
    """A moto server on a free loopback port (in this process), AWS_ENDPOINT_URL pointing at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # Resetting drops every backend this process holds (the seeded stock images of many regions
    # included), which takes seconds on a busy machine: a generous timeout, not a flaky one.
    requests.post(f"{url}/moto-api/reset", timeout=120)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    yield url
    requests.post(f"{url}/moto-api/reset", timeout=120)
    server.stop()
