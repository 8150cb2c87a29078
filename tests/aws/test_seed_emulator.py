"""``manage.py seed_emulator`` against a moto server: a running demo instance, base and demo images
tagged ``cws-demo=<key>``; idempotent; refuses to run without an emulator endpoint, and against an
emulator that lacks the images the shipped templates map."""
import json

import boto3
import pytest
from django.core.management import CommandError, call_command

from amis.demo import DEMO_AMIS
from amis.models import Operation
from templates.demo import example_mapped_images
from tests.conftest import client_for
from tests.demo.emulator import launcher_module
from tests.factories import TemplateFactory

pytestmark = pytest.mark.django_db


def demo_images(url, region):
    return boto3.client("ec2", region_name=region, endpoint_url=url).describe_images(
        Owners=["self"], Filters=[{"Name": "tag-key", "Values": ["cws-demo"]}])["Images"]


@pytest.fixture
def template_images(moto_url):
    """What scripts/demo_emulator.py adds before serving (the moto server runs in this process)."""
    launcher_module().install_images(example_mapped_images())


def test_seed_emulator_is_idempotent_and_gives_a_running_instance(moto_url, template_images, user,
                                                                  django_capture_on_commit_callbacks):
    call_command("seed_emulator")
    first = {r: sorted(i["ImageId"] for i in demo_images(moto_url, r)) for r in ("us-east-1", "us-west-2", "eu-west-1")}
    call_command("seed_emulator")
    again = {r: sorted(i["ImageId"] for i in demo_images(moto_url, r)) for r in ("us-east-1", "us-west-2", "eu-west-1")}
    assert first == again
    keys = {t["Value"] for r in first for i in demo_images(moto_url, r) for t in i["Tags"] if t["Key"] == "cws-demo"}
    # Each demo image is in its owner's emulator account (registry.demo.DEMO_AWS_ACCOUNTS).
    assert {row[0] for row in DEMO_AMIS if row[1] == "researcher"} <= keys
    from registry import aws as aws_gateway
    from registry.demo import demo_role
    admin_keys = {t["Value"] for r in first for i in aws_gateway.call(r, "ec2", "describe_images",
                                                                     role=demo_role("admin"), Owners=["self"])["Images"]
                  for t in i.get("Tags", []) if t["Key"] == "cws-demo"}
    assert {row[0] for row in DEMO_AMIS if row[1] == "admin"} <= admin_keys
    archs = {t["Value"]: i["Architecture"] for r in first for i in demo_images(moto_url, r) for t in i["Tags"]
             if t["Key"] == "cws-demo"}
    assert all(archs[row[0]] == row[3] for row in DEMO_AMIS if row[1] == "researcher")  # arm64 entries really are arm64

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


def test_seed_emulator_refuses_an_emulator_without_the_template_images(moto_url):
    with pytest.raises(CommandError, match=r"lacks \d+ image\(s\) the shipped templates map: ami-") as err:
        call_command("seed_emulator")
    assert "not started by `make run`" in str(err.value)


def test_plan_lists_every_mapping_of_the_shipped_examples(capsys):
    call_command("seed_emulator", "--plan")
    plan = json.loads(capsys.readouterr().out)
    assert {(i["region"], i["image_id"]) for i in plan} >= {("us-east-1", "ami-0123456789abcdef0"),
                                                             ("us-west-2", "ami-04c1d2e3f4a5b6c78")}
    assert {i["architecture"] for i in plan} == {"x86_64", "arm64"}
    assert all(i["owner_id"] != "123456789012" for i in plan)  # never the emulator's own account
