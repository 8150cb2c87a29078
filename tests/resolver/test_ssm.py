"""Published answers in SSM, checked in moto in every commercial region after each transition:
a version approved (latest), a channel moved, a copy becoming available, a version revoked with
no replacement (parameters deleted); a re-run writes nothing; throttling is retried."""
from datetime import timedelta

import boto3
import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from amis import services as ami_services
from amis.lineages import channel_move
from amis.models import AMI, AMIRegion, Channel, Lineage, Operation
from amis.signals import ami_copy_available
from registry import aws as gateway
from resolver import ssm
from resolver.models import PublishedParameter
from tests.amis.helpers import client_for
from tests.factories import AMIFactory, UserFactory

pytestmark = pytest.mark.django_db
S = AMI.Status


@pytest.fixture
def publishing(settings, aws):
    settings.REGISTRY_SSM_PUBLISH = True
    return aws


@pytest.fixture
def mod():
    user = UserFactory(username="ssm-mod")
    user.groups.add(Group.objects.get_or_create(name="moderators")[0])
    return user


def published(prefix="/cws-registry") -> dict:
    """What SSM holds under ``prefix`` in every commercial region: {(region, name): (value, tags)}."""
    found = {}
    for region in gateway.COMMERCIAL_REGIONS:
        client = boto3.client("ssm", region_name=region)
        for p in client.get_parameters_by_path(Path=prefix, Recursive=True)["Parameters"]:
            assert p["DataType"] == "aws:ec2:image" and p["Type"] == "String"
            tags = {t["Key"]: t["Value"] for t in client.list_tags_for_resource(
                ResourceType="Parameter", ResourceId=p["Name"])["TagList"]}
            found[(region, p["Name"])] = (p["Value"], tags)
    return found


def values(found: dict) -> dict:
    return {key: value for key, (value, _tags) in found.items()}


def version(aws, template, owner, mod, number, regions=("us-east-1",)) -> AMI:
    lineage, created = Lineage.objects.get_or_create(owner=owner, name="line", defaults={"template": template})
    if created:
        Channel.objects.create(lineage=lineage, name="latest", managed=True)
    source = aws.image(regions[0])
    ami = AMIFactory(ami_id=source, template=template, creator=owner, lineage=lineage, version=number,
                     status=S.PENDING_REVIEW)
    for region in regions[1:]:
        AMIRegion.objects.create(ami=ami, region=region, image_id=aws.image(region), state=AMIRegion.State.AVAILABLE)
    ami_services.ami_approve(ami=ami, moderator=mod)
    ami.refresh_from_db()
    return ami


def copy_of(ami, region):
    return AMIRegion.objects.get(ami=ami, region=region).image_id


def test_parameters_follow_every_transition_in_every_region(publishing, make_template, mod,
                                                            django_capture_on_commit_callbacks):
    template = make_template({}, slug="genomics")
    owner = UserFactory(username="lab-x")
    latest, stable = "/cws-registry/genomics/latest/x86_64", "/cws-registry/genomics/stable/x86_64"

    with django_capture_on_commit_callbacks(execute=True):
        v1 = version(publishing, template, owner, mod, "1.0.0", regions=("us-east-1", "eu-west-1"))
    found = published()
    assert values(found) == {("us-east-1", latest): v1.ami_id, ("eu-west-1", latest): copy_of(v1, "eu-west-1")}
    assert found[("eu-west-1", latest)][1] == {"ManagedBy": "cws-registry", "Template": "genomics",
                                               "Channel": "latest", "Version": "1.0.0", "RegistryId": str(v1.pk)}

    with django_capture_on_commit_callbacks(execute=True):
        channel_move(ami=v1, channel="stable", user=owner)
    assert values(published()) == {("us-east-1", latest): v1.ami_id, ("eu-west-1", latest): copy_of(v1, "eu-west-1"),
                                   ("us-east-1", stable): v1.ami_id, ("eu-west-1", stable): copy_of(v1, "eu-west-1")}

    # v2 is newest: latest moves to it; it has no copy in eu-west-1 yet, so latest is not answered there.
    with django_capture_on_commit_callbacks(execute=True):
        v2 = version(publishing, template, owner, mod, "2.0.0")
    assert values(published()) == {("us-east-1", latest): v2.ami_id, ("us-east-1", stable): v1.ami_id,
                                   ("eu-west-1", stable): copy_of(v1, "eu-west-1")}
    assert PublishedParameter.objects.get(region="eu-west-1", name=latest).state == "deleted"

    # Its copy becomes available (the copy worker's signal).
    copy_id = publishing.image("eu-west-1")
    AMIRegion.objects.create(ami=v2, region="eu-west-1", image_id=copy_id, state=AMIRegion.State.AVAILABLE)
    with django_capture_on_commit_callbacks(execute=True):
        ami_copy_available.send(sender=AMI, ami_id=v2.pk, region="eu-west-1")
    assert values(published())[("eu-west-1", latest)] == copy_id

    # Revoking v1, which stable pointed at, with no older version: stable is emptied, its
    # parameters deleted in every region.
    with django_capture_on_commit_callbacks(execute=True):
        ami_services.ami_revoke(ami=v1, moderator=mod, reason="compromised")
    assert values(published()) == {("us-east-1", latest): v2.ami_id, ("eu-west-1", latest): copy_id}
    rows = {(p.region, p.name): p.state for p in PublishedParameter.objects.all()}
    assert rows[("us-east-1", stable)] == rows[("eu-west-1", stable)] == "deleted"
    ops = Operation.objects.filter(kind="ssm_sync")
    assert ops.exists() and all(op.state == "succeeded" for op in ops)


def test_deprecation_moves_the_parameter_to_the_next_version(publishing, make_template, mod,
                                                             django_capture_on_commit_callbacks):
    template = make_template({}, slug="genomics")
    owner = UserFactory(username="lab-x")
    with django_capture_on_commit_callbacks(execute=True):
        v1 = version(publishing, template, owner, mod, "1.0.0")
        v2 = version(publishing, template, owner, mod, "1.1.0")
        channel_move(ami=v1, channel="stable", user=owner)
    assert values(published())[("us-east-1", "/cws-registry/genomics/stable/x86_64")] == v1.ami_id

    with django_capture_on_commit_callbacks(execute=True):
        ami_services.ami_deprecate(ami=v1, user=owner, reason="superseded")

    assert values(published())[("us-east-1", "/cws-registry/genomics/stable/x86_64")] == v2.ami_id


def test_a_rerun_compares_and_writes_nothing(publishing, make_template, mod, aws_calls,
                                             django_capture_on_commit_callbacks):
    template = make_template({}, slug="genomics")
    with django_capture_on_commit_callbacks(execute=True):
        version(publishing, template, UserFactory(username="lab-x"), mod, "1.0.0")
    before = published()
    aws_calls.calls.clear()

    with django_capture_on_commit_callbacks(execute=True):
        op = ssm.ssm_sync_request(template=template, reason="test")

    op.refresh_from_db()
    assert op.state == "succeeded" and op.result["written"] == [] and len(op.result["unchanged"]) == 1
    assert [c[0] for c in aws_calls.calls] == ["get_parameter"]
    assert published() == before


def test_throttling_is_retried_and_the_retry_finishes(publishing, make_template, mod, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    template = make_template({}, slug="genomics")
    settings_off = ssm.ssm_publish_enabled
    monkeypatch.setattr(ssm, "ssm_publish_enabled", lambda: False)
    version(publishing, template, UserFactory(username="lab-x"), mod, "1.0.0")
    monkeypatch.setattr(ssm, "ssm_publish_enabled", settings_off)
    real, throttled = gateway.call, []

    def flaky(region, service, operation, **kwargs):
        if operation == "put_parameter" and not throttled:
            throttled.append(region)
            raise gateway.AwsTransientError("Rate exceeded", code="ThrottlingException", region=region)
        return real(region, service, operation, **kwargs)

    monkeypatch.setattr(gateway, "call", flaky)
    with django_capture_on_commit_callbacks(execute=True):
        op = ssm.ssm_sync_request(template=template, reason="test")
    op.refresh_from_db()
    assert throttled and op.state == "running" and "slow down" in op.message   # deferred, not failed
    ssm.ssm_sync_step(operation_id=op.pk)                                        # the retry
    op.refresh_from_db()
    assert op.state == "succeeded" and len(op.result["written"]) == 1


def test_requests_coalesce_while_queued(settings, make_template):
    settings.REGISTRY_SSM_PUBLISH = True
    template = make_template({}, slug="genomics")
    first = ssm.ssm_sync_request(template=template, reason="a")       # on_commit never runs here: stays queued
    second = ssm.ssm_sync_request(template=template, reason="b")
    assert first.pk == second.pk and Operation.objects.filter(kind="ssm_sync").count() == 1


def test_endpoint_lists_what_is_published_where(publishing, make_template, mod, django_capture_on_commit_callbacks):
    template = make_template({}, slug="genomics")
    with django_capture_on_commit_callbacks(execute=True):
        v1 = version(publishing, template, UserFactory(username="lab-x"), mod, "1.0.0")
    body = client_for(None).get("/api/v1/ssm/parameters", {"template": "genomics"}).json()
    assert [(p["region"], p["name"], p["ami_id"], p["state"], p["version"]) for p in body["results"]] == [
        ("us-east-1", "/cws-registry/genomics/latest/x86_64", v1.ami_id, "published", "1.0.0")]
    assert body["results"][0]["last_synced_at"] and body["results"][0]["registry_id"] == str(v1.pk)
    assert body["last_sync"]["state"] == "succeeded"
    assert client_for(None).post("/api/v1/ssm/sync", {"template": "genomics"}, format="json").status_code in (401, 403)
    response = client_for(mod).post("/api/v1/ssm/sync", {"template": "genomics"}, format="json")
    assert response.status_code == 202 and response.json()["kind"] == "ssm_sync"


def test_page_lists_published_parameters(publishing, make_template, mod, client, django_capture_on_commit_callbacks):
    template = make_template({}, slug="genomics")
    with django_capture_on_commit_callbacks(execute=True):
        v1 = version(publishing, template, UserFactory(username="lab-x"), mod, "1.0.0")
    html = client.get("/ssm/").content.decode()
    assert "/cws-registry/genomics/latest/x86_64" in html and v1.ami_id in html and "succeeded" in html


def test_a_sync_waits_while_another_of_its_template_runs(publishing, make_template, mod, monkeypatch, aws_calls):
    template = make_template({}, slug="genomics")
    monkeypatch.setattr(ssm, "ssm_publish_enabled", lambda: False)
    v1 = version(publishing, template, UserFactory(username="lab-x"), mod, "1.0.0")
    running = Operation.objects.create(kind="ssm_sync", state="running", params={"template": "genomics"})
    waiting = Operation.objects.create(kind="ssm_sync", params={"template": "genomics"})
    aws_calls.calls.clear()

    assert ssm.ssm_sync_step(operation_id=waiting.pk) == ssm.SYNC_BUSY_RETRY_SECONDS
    waiting.refresh_from_db()
    assert waiting.state == "queued" and waiting.attempts == 0 and aws_calls.calls == []

    Operation.objects.filter(pk=running.pk).update(state="succeeded")
    assert ssm.ssm_sync_step(operation_id=waiting.pk) is None
    waiting.refresh_from_db()
    assert waiting.state == "succeeded" and waiting.result["written"] == ["us-east-1:/cws-registry/genomics/latest/x86_64"]
    assert values(published()) == {("us-east-1", "/cws-registry/genomics/latest/x86_64"): v1.ami_id}


def test_a_sync_whose_heartbeat_stopped_does_not_hold_the_next(publishing, make_template, settings):
    settings.REGISTRY_OPERATION_HEARTBEAT_STALE_SECONDS = 60
    template = make_template({}, slug="genomics")
    dead = Operation.objects.create(kind="ssm_sync", state="running", params={"template": "genomics"})
    Operation.objects.filter(pk=dead.pk).update(updated_at=timezone.now() - timedelta(seconds=61))
    other_template = Operation.objects.create(kind="ssm_sync", state="running", params={"template": "other"})
    nxt = Operation.objects.create(kind="ssm_sync", params={"template": template.slug})

    assert ssm.ssm_sync_step(operation_id=nxt.pk) is None
    nxt.refresh_from_db()
    assert nxt.state == "succeeded"
    other_template.refresh_from_db()
    assert other_template.state == "running"


def test_a_sync_taken_over_while_it_waited_is_queued_again(publishing, make_template):
    make_template({}, slug="genomics")
    taken_over = Operation.objects.create(kind="ssm_sync", state="running", params={"template": "genomics"})
    Operation.objects.create(kind="ssm_sync", state="running", params={"template": "genomics"})   # the new runner

    assert ssm.ssm_sync_step(operation_id=taken_over.pk) == ssm.SYNC_BUSY_RETRY_SECONDS
    taken_over.refresh_from_db()
    assert taken_over.state == "queued"   # so the runner, on its own retry, never waits for it


def test_a_long_sync_beats_while_it_writes(publishing, make_template, mod, monkeypatch):
    template = make_template({}, slug="genomics")
    monkeypatch.setattr(ssm, "ssm_publish_enabled", lambda: False)
    version(publishing, template, UserFactory(username="lab-x"), mod, "1.0.0", regions=("us-east-1", "eu-west-1"))
    op = Operation.objects.create(kind="ssm_sync", params={"template": "genomics"})
    beats = []
    monkeypatch.setattr(ssm, "HEARTBEAT_EVERY_SECONDS", 0)
    monkeypatch.setattr(ssm, "operation_heartbeat", lambda *, operation_id: beats.append(operation_id))

    assert ssm.ssm_sync_step(operation_id=op.pk) is None
    op.refresh_from_db()
    assert op.state == "succeeded" and len(op.result["written"]) == 2 and beats == [op.pk, op.pk]
