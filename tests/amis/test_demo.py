"""The AMI demo seeder: creates tagged images in the emulator, walks the lifecycle, idempotent."""
import io

import pytest
from django.test import override_settings

from amis import demo
from amis.models import AMI
from amis.ownership import ami_role
from registry import aws as aws_gateway
from registry.demo import DEMO_AWS_ACCOUNTS

pytestmark = pytest.mark.django_db


@override_settings(REGISTRY_EMULATOR=True)
def test_seed_registers_demo_amis_once(aws, make_user):
    admin = make_user("admin", superuser=True)
    researcher = make_user("researcher")
    moderator = make_user("moderator", moderator=True)
    out = io.StringIO()

    first = demo.seed(stdout=out, admin=admin, researcher=researcher, moderator=moderator)

    assert len(first) == len(demo.DEMO_AMIS) == AMI.objects.count()
    statuses = {a.name: a.status for a in AMI.objects.all()}
    assert statuses["PyTorch 2.4 GPU Workstation"] == "approved"
    assert statuses["Spark + Python ML (pending review)"] == "pending_review"
    assert statuses["Bioconda workstation (draft)"] == "draft"
    assert {a.source_region for a in first} == {"us-east-1", "us-west-2", "eu-west-1"}
    for ami in first:  # real (emulated) images, tagged for the idempotent lookup, in their owner's account
        assert ami.owner_account_id == DEMO_AWS_ACCOUNTS["admin" if ami.creator == admin else "researcher"]
        image = aws_gateway.describe_image(ami.source_region, ami.ami_id, role=ami_role(ami))
        assert {"Key": "cws-demo", "Value": image["Name"].removeprefix("cws-demo-")} in image["Tags"]

    second = demo.seed(stdout=out, admin=admin, researcher=researcher, moderator=moderator)
    assert [a.pk for a in second] == [a.pk for a in first]
    assert AMI.objects.count() == len(demo.DEMO_AMIS)
    assert f"{len(demo.DEMO_AMIS)} already present" in out.getvalue()


@override_settings(REGISTRY_EMULATOR=False)
def test_seed_skips_without_emulator_or_tagged_images(aws, make_user):
    out = io.StringIO()
    assert demo.seed(stdout=out, admin=make_user("admin", superuser=True), researcher=make_user("r"),
                     moderator=make_user("m", moderator=True)) == []
    assert "AMI demo data skipped" in out.getvalue()
    assert not AMI.objects.exists()
