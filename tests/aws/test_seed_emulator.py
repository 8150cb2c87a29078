"""``manage.py seed_emulator`` against a moto server: a running demo instance, base and demo images
tagged ``cws-demo=<key>``; idempotent; refuses to run without an emulator endpoint."""
import boto3
import pytest
from django.core.management import CommandError, call_command

from amis.demo import DEMO_AMIS
from amis.models import Operation
from tests.conftest import client_for
from tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db


def demo_images(url, region):
    return boto3.client("ec2", region_name=region, endpoint_url=url).describe_images(
        Owners=["self"], Filters=[{"Name": "tag-key", "Values": ["cws-demo"]}])["Images"]


def test_seed_emulator_is_idempotent_and_gives_a_running_instance(moto_url, user, django_capture_on_commit_callbacks):
    call_command("seed_emulator")
    first = {r: sorted(i["ImageId"] for i in demo_images(moto_url, r)) for r in ("us-east-1", "us-west-2", "eu-west-1")}
    call_command("seed_emulator")
    again = {r: sorted(i["ImageId"] for i in demo_images(moto_url, r)) for r in ("us-east-1", "us-west-2", "eu-west-1")}
    assert first == again
    keys = {t["Value"] for r in first for i in demo_images(moto_url, r) for t in i["Tags"] if t["Key"] == "cws-demo"}
    assert {row[0] for row in DEMO_AMIS} <= keys
    archs = {t["Value"]: i["Architecture"] for r in first for i in demo_images(moto_url, r) for t in i["Tags"]
             if t["Key"] == "cws-demo"}
    assert all(archs[row[0]] == row[3] for row in DEMO_AMIS)  # arm64 entries really are arm64

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_url)
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["cws-demo-instance"]}])[
        "Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == 1 and instances[0]["State"]["Name"] == "running"

    # The seeded instance is what a new user creates an AMI from.
    TemplateFactory(slug="python-ml", name="Python ML")
    with django_capture_on_commit_callbacks(execute=True):
        resp = client_for(user).post("/api/v1/ami/create", {"instance_id": instances[0]["InstanceId"],
                                                            "template_name": "python-ml"}, format="json")
    assert resp.status_code == 202, resp.json()
    assert Operation.objects.get(pk=resp.json()["creation_id"]).state == "succeeded"


def test_seed_emulator_refuses_real_aws(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with pytest.raises(CommandError, match="never to real AWS"):
        call_command("seed_emulator")
