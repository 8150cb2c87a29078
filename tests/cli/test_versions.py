"""``cws ami lineages``, ``lineage``, ``channel`` and ``resolve TEMPLATE@CHANNEL`` / ``--version``
against the live registry (no AWS: database rows only)."""
import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from amis import services
from amis.models import AMI, Channel, Lineage
from tests.factories import AMIFactory, TemplateFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def line(live, make_user, monkeypatch):
    owner = make_user("lab-x")
    mod = make_user("cli-mod")
    mod.groups.add(Group.objects.get_or_create(name="moderators")[0])
    template = TemplateFactory(slug="genomics", name="Genomics")
    lineage = Lineage.objects.create(owner=owner, name="genomics-pipeline", template=template)
    Channel.objects.create(lineage=lineage, name="latest", managed=True)
    made = []
    for number in ("1.0.0", "1.1.0"):
        ami = AMIFactory(template=template, creator=owner, lineage=lineage, version=number,
                         status=AMI.Status.PENDING_REVIEW)
        services.ami_approve(ami=ami, moderator=mod)
        made.append(ami)
    monkeypatch.setenv("CWS_REGISTRY_TOKEN", Token.objects.get_or_create(user=owner)[0].key)
    return lineage, made


def test_channel_lineage_and_resolve_by_channel(line, cli):
    lineage, (v1, v2) = line
    moved = cli("ami", "channel", v1.ami_id, "stable", "--reason", "tested", "--json").ok().json()
    assert moved["moved"] and moved["move"]["to_version"] == "1.0.0"
    assert "already points" in cli("ami", "channel", v1.ami_id, "stable").ok().stdout

    listed = cli("ami", "lineages", "--template", "genomics", "--json").ok().json()
    assert [x["id"] for x in listed["results"]] == [str(lineage.pk)]
    shown = cli("ami", "lineage", str(lineage.pk)).ok().stdout
    assert "genomics-pipeline by lab-x for genomics" in shown and "stable" in shown and "1.1.0" in shown

    stable = cli("ami", "resolve", "genomics@stable", "-r", "us-east-1", "--json").ok().json()
    assert stable["ami_id"] == v1.ami_id and stable["channel"] == "stable"
    pinned = cli("ami", "resolve", "genomics", "-r", "us-east-1", "--version", "~> 1.1", "--json").ok().json()
    assert pinned["ami_id"] == v2.ami_id and pinned["version"] == "1.1.0"
    refused = cli("ami", "channel", v1.ami_id, "latest")
    assert refused.exit_code == 1 and "managed" in refused.stderr
