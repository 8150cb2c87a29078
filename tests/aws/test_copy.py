"""Copy to regions: the API (claims, skips, permissions), the copy task (happy path, waits, AWS
errors, throttling, per-region slots, idempotency), and grants applied to later copies."""
import pytest
from botocore.exceptions import ClientError
from django.test import override_settings

from amis import aws_copy
from sharing import aws_sync
from amis import operations
from amis.models import AMI, AMIRegion, Operation
from registry import aws as aws_gateway
from sharing.models import Share
from tests.aws.conftest import images_tagged, launch_permissions
from tests.conftest import client_for
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(aws, user, template):
    """A registry entry whose source image really exists in us-east-1 (moto)."""
    image_id = aws.image("us-east-1", tags={"Team": "lab"})
    return AMIFactory(ami_id=image_id, creator=user, template=template, status=AMI.Status.APPROVED)


def copy(user, entry, regions, capture):
    with capture(execute=True):
        return client_for(user).post(f"/api/v1/amis/{entry.ami_id}/copy", {"regions": regions}, format="json")


def test_copy_api_copies_once_per_region(aws, user, entry, django_capture_on_commit_callbacks):
    resp = copy(user, entry, ["us-west-2", "eu-west-1", "us-west-2", "us-east-1"], django_capture_on_commit_callbacks)
    assert resp.status_code == 202, resp.json()
    body = resp.json()
    assert sorted(o["region"] for o in body["operations"]) == ["eu-west-1", "us-west-2"]
    assert body["skipped"] == ["us-east-1"]
    assert all(o["kind"] == "copy_image" and o["registry_id"] == str(entry.pk) for o in body["operations"])

    rows = {r.region: r for r in entry.regions.all()}
    assert all(r.state == AMIRegion.State.AVAILABLE for r in rows.values()) and len(rows) == 3
    for region in ("us-west-2", "eu-west-1"):
        images = images_tagged(aws, region, entry.pk)
        assert [i["ImageId"] for i in images] == [rows[region].image_id]
        tags = {t["Key"]: t["Value"] for t in images[0]["Tags"]}
        assert tags["Team"] == "lab" and tags["CopiedFrom"] == f"us-east-1/{entry.ami_id}"

    # Asking again copies nothing: every region already has a copy.
    again = copy(user, entry, ["us-west-2", "eu-west-1"], django_capture_on_commit_callbacks).json()
    assert again == {"operations": [], "skipped": ["us-west-2", "eu-west-1"]}
    assert len(images_tagged(aws, "us-west-2", entry.pk)) == 1


def test_copy_api_permissions_and_validation(aws, user, other_user, moderator, entry, make_user):
    assert client_for(other_user).post(f"/api/v1/amis/{entry.pk}/copy", {"regions": ["us-west-2"]},
                                       format="json").status_code == 403  # visible (public) but not theirs
    private = AMIFactory(creator=user, visibility=AMI.Visibility.PRIVATE, status=AMI.Status.DRAFT)
    assert client_for(other_user).post(f"/api/v1/amis/{private.pk}/copy", {"regions": ["us-west-2"]},
                                       format="json").status_code == 404  # invisible: never leaks
    bad = client_for(user).post(f"/api/v1/amis/{entry.pk}/copy", {"regions": ["moon-1"]}, format="json")
    assert bad.status_code == 400 and "regions" in bad.json()["errors"]
    assert client_for(user).post(f"/api/v1/amis/{entry.pk}/copy", {"regions": []},
                                 format="json").status_code == 400
    assert client_for(moderator).post(f"/api/v1/amis/{entry.pk}/copy", {"regions": ["us-west-2"]},
                                      format="json").status_code == 202
    revoked = AMIFactory(creator=user, status=AMI.Status.REVOKED)
    assert client_for(user).post(f"/api/v1/amis/{revoked.pk}/copy", {"regions": ["us-west-2"]},
                                 format="json").status_code == 409


def test_copy_waits_then_becomes_available(aws, user, entry, image_states):
    image_states.on_copy = "pending"
    (op,), _ = aws_copy.ami_copy_request(ami=entry, user=user, regions=["us-west-2"])
    assert aws_copy.copy_image_step(operation_id=op.pk) == 5
    row = AMIRegion.objects.get(ami=entry, region="us-west-2")
    assert row.state == AMIRegion.State.PENDING and row.image_id
    image_states.set("us-west-2", row.image_id, "available")
    assert aws_copy.copy_image_step(operation_id=op.pk) is None
    row.refresh_from_db()
    op.refresh_from_db()
    assert row.state == AMIRegion.State.AVAILABLE and op.state == "succeeded" and op.image_id == row.image_id


def test_copy_failed_in_aws_records_message_and_can_be_retried(aws, user, entry, image_states,
                                                               django_capture_on_commit_callbacks):
    image_states.on_copy = "pending"
    (op,), _ = aws_copy.ami_copy_request(ami=entry, user=user, regions=["us-west-2"])
    aws_copy.copy_image_step(operation_id=op.pk)
    row = AMIRegion.objects.get(ami=entry, region="us-west-2")
    image_states.set("us-west-2", row.image_id, "failed")
    assert aws_copy.copy_image_step(operation_id=op.pk) is None
    row.refresh_from_db()
    assert row.state == AMIRegion.State.FAILED and "is 'failed'" in row.error

    # A failed region is claimed again by a new request, with a new deterministic token.
    image_states.on_copy = None
    resp = copy(user, entry, ["us-west-2"], django_capture_on_commit_callbacks).json()
    assert [o["region"] for o in resp["operations"]] == ["us-west-2"]
    row.refresh_from_db()
    assert row.state == AMIRegion.State.AVAILABLE and not row.error
    tokens = list(Operation.objects.filter(ami=entry, region="us-west-2").order_by("created_at")
                  .values_list("params__client_token", flat=True))
    assert tokens == [f"{entry.pk.hex}-us-west-2", f"{entry.pk.hex}-us-west-2-1"]


def test_copy_error_from_aws(aws, user, template):
    # The registry row names a source image that does not exist in AWS: CopyImage is refused.
    ghost = AMIFactory(creator=user, template=template, ami_id="ami-0000000000000dead")
    (op,), _ = aws_copy.ami_copy_request(ami=ghost, user=user, regions=["eu-west-1"])
    assert aws_copy.copy_image_step(operation_id=op.pk) is None
    op.refresh_from_db()
    row = AMIRegion.objects.get(ami=ghost, region="eu-west-1")
    assert op.state == "failed" and row.state == AMIRegion.State.FAILED
    assert "CopyImage to eu-west-1 failed" in op.error and row.error == op.error


def test_copy_is_idempotent_when_redelivered(aws, user, entry):
    (op,), _ = aws_copy.ami_copy_request(ami=entry, user=user, regions=["us-west-2"])
    aws_copy.copy_image_step(operation_id=op.pk)
    # Crash after CopyImage but before the id was saved, message redelivered: the tag finds the copy.
    AMIRegion.objects.filter(ami=entry, region="us-west-2").update(image_id="", state="pending")
    Operation.objects.filter(pk=op.pk).update(state="running")
    aws_copy.copy_image_step(operation_id=op.pk)
    aws_copy.copy_image_step(operation_id=op.pk)
    assert len(images_tagged(aws, "us-west-2", entry.pk)) == 1
    assert AMIRegion.objects.get(ami=entry, region="us-west-2").state == AMIRegion.State.AVAILABLE


def test_copy_sends_deterministic_client_token(aws, user, entry, monkeypatch):
    seen = []
    real_call = aws_gateway.call

    def spy(region, service, operation, **kw):
        if operation == "copy_image":
            seen.append((region, kw["ClientToken"], kw["CopyImageTags"], kw["TagSpecifications"][0]["ResourceType"]))
        return real_call(region, service, operation, **kw)

    monkeypatch.setattr(aws_gateway, "call", spy)
    (op,), _ = aws_copy.ami_copy_request(ami=entry, user=user, regions=["ap-south-1"])
    aws_copy.copy_image_step(operation_id=op.pk)
    assert seen == [("ap-south-1", f"{entry.pk.hex}-ap-south-1", True, "image")]


def test_copy_throttled_then_succeeds(aws, user, entry, monkeypatch, django_capture_on_commit_callbacks):
    real_client = aws_gateway.client
    calls = {"copy_image": 0}

    class Throttled:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            attr = getattr(self.inner, name)
            if name != "copy_image":
                return attr

            def copy_image(**kw):
                calls["copy_image"] += 1
                if calls["copy_image"] == 1:
                    raise ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, "CopyImage")
                return attr(**kw)
            return copy_image

    monkeypatch.setattr(aws_gateway, "client", lambda service, region, role=None: Throttled(real_client(service, region, role=role)))
    resp = copy(user, entry, ["us-west-2"], django_capture_on_commit_callbacks).json()
    op = Operation.objects.get(pk=resp["operations"][0]["id"])
    assert op.state == "running" and "RequestLimitExceeded" in op.message
    Operation.objects.filter(pk=op.pk).update(result={"next_poll_at": "2000-01-01T00:00:00+00:00"})
    op = operations.operation_poke(op)
    assert op.state == "succeeded" and calls["copy_image"] == 2
    assert len(images_tagged(aws, "us-west-2", entry.pk)) == 1


def two_copies_into_eu_west_1(aws, user, template, image_states):
    """Two entries of ``user`` and a copy request of each into eu-west-1; copies stay pending."""
    image_states.on_copy = "pending"
    first = AMIFactory(ami_id=aws.image("us-east-1"), creator=user, template=template)
    second = AMIFactory(ami_id=aws.image("us-east-1"), creator=user, template=template)
    (op1,), _ = aws_copy.ami_copy_request(ami=first, user=user, regions=["eu-west-1"])
    (op2,), _ = aws_copy.ami_copy_request(ami=second, user=user, regions=["eu-west-1"])
    return first, second, op1, op2


@override_settings(REGISTRY_COPY_CONCURRENCY_PER_REGION=1)
def test_copy_slots_limit_concurrent_copies_per_region(aws, user, template, image_states):
    first, second, op1, op2 = two_copies_into_eu_west_1(aws, user, template, image_states)
    aws_copy.copy_image_step(operation_id=op1.pk)           # takes the only eu-west-1 slot
    assert aws_copy.copy_image_step(operation_id=op2.pk) == 5  # waits for a slot, no CopyImage
    op2.refresh_from_db()
    assert not op2.image_id and "waiting for a free copy slot in eu-west-1" in op2.message
    # Another region is not affected.
    (op3,), _ = aws_copy.ami_copy_request(ami=second, user=user, regions=["us-west-2"])
    aws_copy.copy_image_step(operation_id=op3.pk)
    op3.refresh_from_db()
    assert op3.image_id

    row1 = AMIRegion.objects.get(ami=first, region="eu-west-1")
    image_states.set("eu-west-1", row1.image_id, "available")
    aws_copy.copy_image_step(operation_id=op1.pk)           # done → slot released
    aws_copy.copy_image_step(operation_id=op2.pk)
    op2.refresh_from_db()
    assert op2.image_id


@override_settings(REGISTRY_COPY_CONCURRENCY_PER_REGION=1)
def test_copy_waiting_for_a_slot_makes_no_aws_call(aws, user, template, image_states, monkeypatch):
    # Hundreds of copies may wait for one region's slots, each polling: waiting must not spend
    # the account's EC2 API rate (it used to describe the destination's images on every poll).
    first, second, op1, op2 = two_copies_into_eu_west_1(aws, user, template, image_states)
    aws_copy.copy_image_step(operation_id=op1.pk)           # takes the only eu-west-1 slot
    seen = []
    real_call = aws_gateway.call
    monkeypatch.setattr(aws_gateway, "call", lambda region, service, operation, **kw: (
        seen.append(operation), real_call(region, service, operation, **kw))[1])
    assert aws_copy.copy_image_step(operation_id=op2.pk) == 5
    assert aws_copy.copy_image_step(operation_id=op2.pk) == 5
    assert seen == []
    op2.refresh_from_db()
    assert "waiting for a free copy slot in eu-west-1" in op2.message


@override_settings(REGISTRY_COPY_CONCURRENCY_PER_REGION=1)
def test_copy_found_from_an_earlier_attempt_waits_for_a_slot(aws, user, template, image_states):
    # A crashed attempt's copy is in flight in AWS: the retry that finds it must hold a slot
    # while it follows it, so the region's limit counts it.
    first, second, op1, op2 = two_copies_into_eu_west_1(aws, user, template, image_states)
    aws_copy.copy_image_step(operation_id=op1.pk)           # CopyImage, slot held
    # The worker died before saving the copy's id, and its slot expired meanwhile.
    AMIRegion.objects.filter(ami=first, region="eu-west-1").update(image_id="")
    aws_copy.copy_slot_release(region="eu-west-1", holder=str(op1.pk))
    aws_copy.copy_image_step(operation_id=op2.pk)           # another copy takes the slot
    op2.refresh_from_db()
    assert op2.image_id
    assert aws_copy.copy_image_step(operation_id=op1.pk) == 5
    op1.refresh_from_db()
    assert "waiting for a free copy slot in eu-west-1" in op1.message
    assert AMIRegion.objects.get(ami=first, region="eu-west-1").image_id == ""
    image_states.set("eu-west-1", op2.image_id, "available")
    aws_copy.copy_image_step(operation_id=op2.pk)           # done: slot released
    aws_copy.copy_image_step(operation_id=op1.pk)           # finds its own copy, no second one
    assert len(images_tagged(aws, "eu-west-1", first.pk)) == 1
    assert AMIRegion.objects.get(ami=first, region="eu-west-1").image_id == images_tagged(
        aws, "eu-west-1", first.pk)[0]["ImageId"]


def test_later_copy_gets_existing_grants(aws, user, entry, django_capture_on_commit_callbacks):
    share = Share.objects.create(ami=entry, grantee_type="account", grantee="444455556666", created_by=user)
    org = "arn:aws:organizations::123456789012:organization/o-abcdefghij"
    Share.objects.create(ami=entry, grantee_type="organization", grantee=org, created_by=user)
    aws_sync.share_apply(share_id=share.pk)
    copy(user, entry, ["eu-west-1"], django_capture_on_commit_callbacks)
    row = AMIRegion.objects.get(ami=entry, region="eu-west-1")
    perms = launch_permissions(aws, "eu-west-1", row.image_id)
    assert {"UserId": "444455556666"} in perms and {"OrganizationArn": org} in perms and len(perms) == 2
    share.refresh_from_db()
    assert sorted(share.synced_regions) == ["eu-west-1", "us-east-1"] and share.sync_state == "synced"
