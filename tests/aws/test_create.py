"""Create from instance: request validation, the CreateImage task (happy path, waits, failures,
timeout, idempotency) and the cws-shaped status — on in-process moto, Celery eager."""
from datetime import timedelta

import pytest
from botocore.stub import ANY, Stubber
from django.test import override_settings

from amis import operation_selectors
from amis import aws_create
from amis import operations
from amis.models import AMI, AMIRegion, Operation
from registry import aws as aws_gateway
from registry.models import AuditEvent
from sharing.models import Share
from tests.aws.conftest import images_tagged, launch_permissions
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
CREATE = "/api/v1/ami/create"


def post_create(user, body, capture):
    with capture(execute=True):
        return client_for(user).post(CREATE, body, format="json")


def test_create_multi_region_happy_path(aws, user, template, django_capture_on_commit_callbacks):
    instance_id = aws.instance("us-east-1")
    resp = post_create(user, {"instance_id": instance_id, "template_name": "python-ml", "version": "1.2",
                              "tags": {"Team": "lab"}, "multi_region": ["us-west-2", "eu-west-1"],
                              "share_with": ["111122223333"]}, django_capture_on_commit_callbacks)

    assert resp.status_code == 202, resp.json()
    body = resp.json()
    # CreateImage answered in the request; the wait and the copies ran after the answer.
    assert body["ami_id"].startswith("ami-") and body["status"] == "pending" and body["name"]
    assert body["template_name"] == "python-ml" and body["instance_id"] == instance_id
    assert body["target_regions"] == ["us-east-1", "us-west-2", "eu-west-1"]
    assert body["estimated_completion_minutes"] > 0 and body["storage_cost"] > 0 and body["creation_cost"] > 0

    status = client_for(user).get(f"/api/v1/ami/status/{body['creation_id']}").json()
    assert status["status"] == "completed" and status["progress"] == 100 and status["ami_id"] == body["ami_id"]
    assert status["estimated_completion_minutes"] == 0 and status["storage_cost"] > 0
    for ref in (body["registry_id"], body["ami_id"]):  # the client prints `cws ami status <ami_id>`
        assert client_for(user).get(f"/api/v1/ami/status/{ref}").json()["creation_id"] == body["creation_id"]
    assert set(status["region_results"]) == {"us-east-1", "us-west-2", "eu-west-1"}
    assert all(r["status"] == "completed" and r["ami_id"].startswith("ami-") for r in status["region_results"].values())

    ami = AMI.objects.get(pk=body["registry_id"])
    assert ami.status == AMI.Status.DRAFT and ami.creator == user and ami.ami_id == status["ami_id"]
    assert ami.template.slug == "python-ml" and ami.version == "1.2" and ami.tags == {"Team": "lab"}
    assert ami.size_gb and ami.root_snapshot_ids and ami.architecture == "x86_64"
    rows = {r.region: r for r in ami.regions.all()}
    assert set(rows) == {"us-east-1", "us-west-2", "eu-west-1"}
    assert all(r.state == AMIRegion.State.AVAILABLE for r in rows.values())
    assert rows["us-east-1"].is_source and rows["us-west-2"].copied_from == "us-east-1"

    # In AWS (moto): one image per region carrying the registry id; tags on the source image.
    for region, row in rows.items():
        found = images_tagged(aws, region, ami.pk)
        assert [i["ImageId"] for i in found] == [row.image_id]
    tags = {t["Key"]: t["Value"] for t in images_tagged(aws, "us-east-1", ami.pk)[0]["Tags"]}
    assert tags["CloudWorkstation"] == "true" and tags["Template"] == "python-ml" and tags["Version"] == "1.2"
    assert tags["Team"] == "lab" and tags["Name"].startswith("cws-python-ml-")
    # Snapshots tagged too (moto: by CreateTags, see test_create_image_sends_snapshot_tag_specifications).
    snap = aws.ec2().describe_snapshots(SnapshotIds=ami.root_snapshot_ids)["Snapshots"][0]
    assert {"Key": "RegistryId", "Value": str(ami.pk)} in snap["Tags"]

    # share_with → an account grant synced in every region.
    share = Share.objects.get(ami=ami, grantee="111122223333")
    assert share.sync_state == "synced" and sorted(share.synced_regions) == sorted(rows)
    for region, row in rows.items():
        assert launch_permissions(aws, region, row.image_id) == [{"UserId": "111122223333"}]
    assert AuditEvent.objects.filter(action="ami.create", target_id=str(ami.pk)).count() == 1
    ops = Operation.objects.filter(ami=ami)
    assert ops.filter(kind="create_image", state="succeeded").count() == 1
    assert ops.filter(kind="copy_image", state="succeeded").count() == 2


def test_create_refuses_stopped_instance(aws, user, template):
    instance_id = aws.instance("us-east-1")
    aws.ec2().stop_instances(InstanceIds=[instance_id])
    resp = client_for(user).post(CREATE, {"instance_id": instance_id, "template_name": "python-ml"}, format="json")
    assert resp.status_code == 400
    assert resp.json()["message"] == "instance must be running to create AMI, current state: stopped"
    assert not Operation.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"instance_id": "i-nothex", "template_name": "python-ml"}, "instance_id"),
    ({"instance_id": "i-0123456789abcdef0", "template_name": "python-ml"}, "instance_id"),  # unknown
    ({"instance_id": "i-0123456789abcdef0", "template_name": "no-such-template"}, "template_name"),
    ({"instance_id": "i-0123456789abcdef0", "template_name": "python-ml", "multi_region": ["mars-1"]},
     "multi_region"),
    ({"instance_id": "i-0123456789abcdef0", "template_name": "python-ml", "share_with": ["12"]}, "share_with"),
    ({"instance_id": "i-0123456789abcdef0", "template_name": "python-ml", "community": "nope"}, "community"),
])
def test_create_bad_input_is_400(aws, user, template, body, field):
    resp = client_for(user).post(CREATE, body, format="json")
    assert resp.status_code == 400, resp.json()
    assert field in resp.json()["errors"]
    assert not Operation.objects.exists()


def test_create_requires_auth(aws, template):
    assert client_for(None).post(CREATE, {}, format="json").status_code == 401


def _request(user, aws, **extra):
    return aws_create.ami_create_request(user=user, instance_id=aws.instance("us-east-1"),
                                            template_name="python-ml", **extra)


def test_create_waits_without_blocking_then_finishes(aws, user, template, image_states):
    image_states.on_create = "pending"
    op = _request(user, aws)  # on_commit does not run here: we drive the steps ourselves

    assert aws_create.create_image_step(operation_id=op.pk) == 5  # re-schedule after the poll interval
    op.refresh_from_db()
    assert op.state == "running" and op.image_id and op.progress == 50
    ami = AMI.objects.get(pk=op.params["registry_id"])  # the draft exists as soon as AWS answered
    assert ami.regions.get().state == AMIRegion.State.PENDING
    assert operation_selectors.creation_status(op)["status"] == "in_progress"

    image_states.set("us-east-1", op.image_id, "available")
    assert aws_create.create_image_step(operation_id=op.pk) is None
    op.refresh_from_db()
    assert op.state == "succeeded" and op.progress == 100
    assert ami.regions.get().state == AMIRegion.State.AVAILABLE


def test_create_image_failed_in_aws(aws, user, template, image_states):
    image_states.on_create = "pending"
    op = _request(user, aws)
    aws_create.create_image_step(operation_id=op.pk)
    op.refresh_from_db()
    image_states.set("us-east-1", op.image_id, "failed")

    assert aws_create.create_image_step(operation_id=op.pk) is None
    op.refresh_from_db()
    assert op.state == "failed" and f"image {op.image_id} in us-east-1 is 'failed'" in op.error
    assert AMIRegion.objects.get(ami_id=op.ami_id).state == AMIRegion.State.FAILED
    status = operation_selectors.creation_status(op)
    assert status["status"] == "failed" and status["region_results"]["us-east-1"]["status"] == "failed"


def test_create_times_out_with_clear_error(aws, user, template, image_states):
    image_states.on_create = "pending"
    op = _request(user, aws)
    aws_create.create_image_step(operation_id=op.pk)
    with override_settings(REGISTRY_CREATE_IMAGE_TIMEOUT=timedelta(seconds=0)):
        assert aws_create.create_image_step(operation_id=op.pk) is None
    op.refresh_from_db()
    assert op.state == "failed"
    assert op.error.startswith(f"timed out after 0 minutes waiting for image {op.image_id} to become available")


def test_create_is_idempotent(aws, user, template):
    op = _request(user, aws, multi_region=["us-west-2"])
    aws_create.create_image_step(operation_id=op.pk)
    # A redelivered message after a crash between CreateImage and saving the id: the tag finds it.
    Operation.objects.filter(pk=op.pk).update(state="running", image_id="")
    aws_create.create_image_step(operation_id=op.pk)
    aws_create.create_image_step(operation_id=op.pk)

    assert len(images_tagged(aws, "us-east-1", op.params["registry_id"])) == 1
    assert AMI.objects.filter(pk=op.params["registry_id"]).count() == 1
    assert Operation.objects.filter(parent=op, kind="copy_image").count() == 1


def test_create_image_sends_snapshot_tag_specifications(aws, user, template, monkeypatch):
    """moto lacks snapshot TagSpecifications on CreateImage: assert the exact request with Stubber."""
    op = _request(user, aws, tags={"Team": "lab"}, version="2")
    client = aws_gateway.ec2("us-east-1")
    stub = Stubber(client)
    stub.add_response("describe_images", {"Images": []}, {
        "Owners": ["self"], "Filters": [{"Name": "tag:RegistryId", "Values": [op.params["registry_id"]]}]})
    tags = [{"Key": "Team", "Value": "lab"}, {"Key": "CloudWorkstation", "Value": "true"},
            {"Key": "Template", "Value": "python-ml"}, {"Key": "Version", "Value": "2"},
            {"Key": "RegistryId", "Value": op.params["registry_id"]}, {"Key": "Name", "Value": op.params["image_name"]}]
    stub.add_response("create_image", {"ImageId": "ami-0123456789abcdef0"}, {
        "InstanceId": op.instance_id, "Name": op.params["image_name"], "Description": ANY, "NoReboot": True,
        "TagSpecifications": [{"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}]})
    monkeypatch.setattr(aws_gateway, "client", lambda service, region, role=None: client)
    with stub:
        assert aws_create._create_or_find_image(op, None) == "ami-0123456789abcdef0"
        stub.assert_no_pending_responses()
    op.refresh_from_db()
    assert op.result["snapshot_tagging"] == "create_image"


def test_create_throttled_is_503_with_nothing_made_then_succeeds(aws, user, template, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    """RequestLimitExceeded on CreateImage (called in the request): 503, no operation, no entry, no
    image; asked again, the create goes through."""
    from botocore.exceptions import ClientError

    real_client = aws_gateway.client
    calls = {"n": 0}

    class Throttling:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            attr = getattr(self.inner, name)
            if name != "create_image":
                return attr

            def create_image(**kw):
                calls["n"] += 1
                if calls["n"] == 1:
                    raise ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."},
                                       "ResponseMetadata": {"HTTPStatusCode": 503}}, "CreateImage")
                return attr(**kw)
            return create_image

    monkeypatch.setattr(aws_gateway, "client", lambda service, region, role=None: Throttling(real_client(service, region, role=role)))
    instance_id = aws.instance("us-east-1")
    body = {"instance_id": instance_id, "template_name": "python-ml"}
    first = post_create(user, body, django_capture_on_commit_callbacks)
    assert first.status_code == 503 and first.json()["code"] == "aws_unavailable"
    assert not Operation.objects.exists() and not AMI.objects.exists()
    assert not aws.ec2().describe_images(Owners=["self"])["Images"]

    second = post_create(user, body, django_capture_on_commit_callbacks)
    assert second.status_code == 202 and second.json()["ami_id"].startswith("ami-")
    op = Operation.objects.get()
    assert op.state == "succeeded", (op.message, op.error, calls)
    assert len(images_tagged(aws, "us-east-1", op.params["registry_id"])) == 1


def test_create_finds_the_instance_by_name_in_another_region(aws, user, template,
                                                             django_capture_on_commit_callbacks):
    ec2 = aws.ec2("us-west-2")
    instance_id = aws.instance("us-west-2")
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "Name", "Value": "my-workstation"}])
    resp = post_create(user, {"instance_id": "my-workstation", "template_name": "python-ml", "region": "us-east-1"},
                       django_capture_on_commit_callbacks)
    assert resp.status_code == 202, resp.json()
    body = resp.json()
    assert body["instance_id"] == instance_id and body["source_region"] == "us-west-2"
    assert body["ami_id"] in [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]

    missing = post_create(user, {"instance_id": "nobody-has-this", "template_name": "python-ml"},
                          django_capture_on_commit_callbacks)
    assert missing.status_code == 400
    assert "us-east-1, us-west-2, eu-west-1" in missing.json()["detail"]


def test_task_retry_policy_is_transient_only_with_backoff_and_jitter():
    from amis import tasks
    from sharing import tasks as sharing_tasks

    for task in (tasks.create_image_task, tasks.copy_image_task, tasks.validate_task, tasks.deprecate_in_aws_task,
                 tasks.revoke_in_aws_task, tasks.deregister_in_aws_task, sharing_tasks.share_sync_task,
                 sharing_tasks.share_remove_task):
        assert task.autoretry_for == (aws_gateway.AwsTransientError,)
        assert task.retry_backoff and task.retry_jitter and task.acks_late
        assert task.name.split(".")[0] in ("amis", "sharing")
