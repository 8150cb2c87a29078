"""The SSM sync run by a real Celery worker (subprocess) on the real broker, against a moto server:
a channel move in the web process queues ``resolver.ssm_sync`` after commit, the worker writes the
parameter, and the operation ends ``succeeded``."""
import boto3
import pytest
from django.contrib.auth.models import Group

from amis import services as ami_services
from amis.lineages import channel_move
from amis.models import AMI, Channel, Lineage, Operation
from tests.aws.conftest import moto_url  # noqa: F401 — fixture
from tests.aws.test_worker import broker, wait_for, workers  # noqa: F401 — fixtures
from tests.factories import AMIFactory, TemplateFactory, UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_channel_move_is_published_by_the_worker(workers, moto_url, settings):  # noqa: F811
    settings.REGISTRY_SSM_PUBLISH = True
    worker = workers.start("ssm")
    assert worker.poll() is None
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_url)
    base = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}])
    instance = ec2.run_instances(ImageId=base["Images"][0]["ImageId"], MinCount=1, MaxCount=1,
                                 InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    image_id = ec2.create_image(InstanceId=instance, Name="genomics-1")["ImageId"]
    owner = UserFactory(username="lab-x")
    mod = UserFactory(username="worker-mod")
    mod.groups.add(Group.objects.get_or_create(name="moderators")[0])
    template = TemplateFactory(slug="genomics", name="Genomics")
    lineage = Lineage.objects.create(owner=owner, name="line", template=template)
    Channel.objects.create(lineage=lineage, name="latest", managed=True)
    ami = AMIFactory(ami_id=image_id, template=template, creator=owner, lineage=lineage, version="1.0.0",
                     status=AMI.Status.PENDING_REVIEW)
    ami_services.ami_approve(ami=ami, moderator=mod)          # latest moves: a sync is queued
    channel_move(ami=ami, channel="stable", user=owner)       # and another (or the same, still queued)

    ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=moto_url)

    def published():
        found = {p["Name"]: p["Value"] for p in
                 ssm.get_parameters_by_path(Path="/cws-registry/genomics", Recursive=True)["Parameters"]}
        return found if len(found) == 2 else None

    found = wait_for(published, timeout=60, what="both parameters", log=lambda: workers.log("ssm"))
    assert found == {"/cws-registry/genomics/latest/x86_64": image_id, "/cws-registry/genomics/stable/x86_64": image_id}
    wait_for(lambda: not Operation.objects.filter(kind="ssm_sync").exclude(state="succeeded").exists(),
             timeout=30, what="every sync to succeed", log=lambda: workers.log("ssm"))
