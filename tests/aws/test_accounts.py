"""Whose AWS account is it: linking accounts (AssumeRole + GetCallerIdentity), the claim tag, the
ownership rule of register / create, and every lifecycle action running in the owning account.

moto lets the registry assume a role in any account id, and the temporary credentials then act
in that account's own backend: two publishers in two accounts, as in AWS.
"""
import boto3
import pytest

from amis import aws_copy, aws_retire, services
from amis.models import AMI, AMIRegion, Operation
from amis.wizard_services import SOURCE_CREATE, SOURCE_REGISTER, ami_source_check, ami_submit_from_wizard
from registry import aws as aws_gateway
from registry.audit import AuditEvent
from registry.aws_accounts import CLAIM_TAG_KEY, claim_for
from registry.errors import Forbidden
from registry.models import AwsAccountLink
from sharing.aws_sync import share_apply
from sharing.models import Share
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ACCOUNT_A, ACCOUNT_B, STRANGER = "111111111111", "222222222222", "333333333333"
REGISTRY_ACCOUNT = "123456789012"  # moto's default: the registry's own credentials act there


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/cws-registry"


def ec2_in(account: str, region: str = "us-east-1"):
    """An EC2 client acting in ``account`` (as its owner would, with their own credentials)."""
    if account == REGISTRY_ACCOUNT:
        return boto3.client("ec2", region_name=region)
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=role_arn(account), RoleSessionName="owner")["Credentials"]
    return boto3.client("ec2", region_name=region, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


def base_image(ec2) -> str:
    return ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "architecture", "Values": ["x86_64"]}, {"Name": "root-device-type", "Values": ["ebs"]}])[
        "Images"][0]["ImageId"]


def instance_in(account: str, *, tags: dict | None = None) -> str:
    ec2 = ec2_in(account)
    kwargs = {}
    if tags:
        kwargs["TagSpecifications"] = [{"ResourceType": "instance",
                                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return ec2.run_instances(ImageId=base_image(ec2), MinCount=1, MaxCount=1, InstanceType="t3.micro",
                             **kwargs)["Instances"][0]["InstanceId"]


def image_in(account: str, *, tags: dict | None = None) -> str:
    ec2 = ec2_in(account)
    kwargs = {}
    if tags:
        kwargs["TagSpecifications"] = [{"ResourceType": "image",
                                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return ec2.create_image(InstanceId=instance_in(account), Name=f"img-{account}", **kwargs)["ImageId"]


@pytest.fixture
def publishers(aws, make_user):
    """alice verified account A, bob account B (through the API, i.e. AssumeRole in moto); carol
    has no account. Nobody holds the registry's own account."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    AwsAccountLink.objects.all().delete()  # the shared fixture's default link: not for these tests
    for user, account in ((alice, ACCOUNT_A), (bob, ACCOUNT_B)):
        resp = client_for(user).post("/api/v1/me/aws-accounts", {"role_arn": role_arn(account)}, format="json")
        assert resp.status_code == 201, resp.json()
        assert resp.json()["verified"] is True
    return alice, bob, carol


def register(user, ami_id, region="us-east-1"):
    return client_for(user).post("/api/v1/amis/", {"ami_id": ami_id, "region": region, "name": "Mine",
                                                          "category": "Machine Learning"},
                                 format="json")


def create(user, instance_id, **extra):
    return client_for(user).post("/api/v1/ami/create", {"instance_id": instance_id, "template_name": "python-ml",
                                                        **extra}, format="json")


# --- linking --------------------------------------------------------------------------------------

def test_link_list_unlink_with_audit(aws, user):
    AwsAccountLink.objects.all().delete()
    api = client_for(user)
    resp = api.post("/api/v1/me/aws-accounts", {"role_arn": role_arn(ACCOUNT_A), "external_id": "ext-id-1234"},
                    format="json")
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["account_id"] == ACCOUNT_A and body["verified"] is True and body["external_id"] == "ext-id-1234"
    assert body["role_arn"] == role_arn(ACCOUNT_A) and body["last_error"] == ""

    generated = api.post("/api/v1/me/aws-accounts", {"role_arn": role_arn(ACCOUNT_B)}, format="json").json()
    assert len(generated["external_id"]) >= 20  # generated, unguessable

    assert [a["account_id"] for a in api.get("/api/v1/me/aws-accounts").json()] == [ACCOUNT_A, ACCOUNT_B]
    assert api.delete(f"/api/v1/me/aws-accounts/{ACCOUNT_B}").status_code == 204
    assert api.delete(f"/api/v1/me/aws-accounts/{ACCOUNT_B}").status_code == 404
    assert [a["account_id"] for a in api.get("/api/v1/me/aws-accounts").json()] == [ACCOUNT_A]
    actions = list(AuditEvent.objects.filter(action__startswith="aws_account.").values_list("action", flat=True))
    assert actions.count("aws_account.link") == 2 and actions.count("aws_account.verify") == 2
    assert actions.count("aws_account.unlink") == 1


def test_link_refuses_an_account_another_publisher_verified(aws, user, other_user):
    AwsAccountLink.objects.all().delete()
    assert client_for(user).post("/api/v1/me/aws-accounts", {"role_arn": role_arn(ACCOUNT_A)},
                                 format="json").status_code == 201
    resp = client_for(other_user).post("/api/v1/me/aws-accounts", {"role_arn": role_arn(ACCOUNT_A)}, format="json")
    assert resp.status_code == 403
    assert resp.json()["code"] == "account_verified_by_another_publisher" and "another publisher" in resp.json()["message"]
    assert not AwsAccountLink.objects.filter(user=other_user).exists()


def test_link_validates_input_and_needs_a_user(aws, user, api_client):
    bad = client_for(user).post("/api/v1/me/aws-accounts", {"role_arn": "arn:aws:iam::12:user/x"}, format="json")
    assert bad.status_code == 400 and "role_arn" in bad.json()["errors"]
    bad = client_for(user).post("/api/v1/me/aws-accounts", {"role_arn": role_arn(ACCOUNT_A), "external_id": "a b"},
                                format="json")
    assert bad.status_code == 400 and "external_id" in bad.json()["errors"]
    assert api_client.get("/api/v1/me/aws-accounts").status_code == 401


def test_link_that_cannot_be_assumed_stays_unverified(aws, user, monkeypatch):
    AwsAccountLink.objects.all().delete()

    def refuse(role, **kwargs):
        raise aws_gateway.AwsPermanentError("not authorized to perform sts:AssumeRole", code="AccessDenied")

    monkeypatch.setattr(aws_gateway, "role_identity", refuse)
    resp = client_for(user).post("/api/v1/me/aws-accounts", {"role_arn": role_arn(ACCOUNT_A)}, format="json")
    assert resp.status_code == 201 and resp.json()["verified"] is False
    assert "sts:AssumeRole" in resp.json()["last_error"]
    monkeypatch.undo()
    verified = client_for(user).post(f"/api/v1/me/aws-accounts/{ACCOUNT_A}/verify")
    assert verified.status_code == 200 and verified.json()["verified"] is True


def test_claim_is_stable_per_user_and_unguessable(user, other_user, api_client):
    first = client_for(user).get("/api/v1/me/claim").json()
    assert first == client_for(user).get("/api/v1/me/claim").json()
    assert first["key"] == CLAIM_TAG_KEY and len(first["value"]) >= 32
    assert client_for(other_user).get("/api/v1/me/claim").json()["value"] != first["value"]
    assert api_client.get("/api/v1/me/claim").status_code == 401


# --- registering ----------------------------------------------------------------------------------

def test_own_account_image_registers_and_moderators_see_the_account(publishers):
    alice, _bob, _carol = publishers
    resp = register(alice, image_in(ACCOUNT_A))
    assert resp.status_code == 201, resp.json()
    assert resp.json()["owner_account_id"] == ACCOUNT_A
    assert AMI.objects.get(ami_id=resp.json()["ami_id"]).owner_account_id == ACCOUNT_A


def test_cannot_register_another_publishers_image(publishers):
    alice, bob, carol = publishers
    assert register(alice, image_in(ACCOUNT_B)).status_code == 400  # alice cannot even see it
    # bob also verifies the account the registry sees (moto shows no image across accounts):
    assert client_for(bob).post("/api/v1/me/aws-accounts", {"role_arn": role_arn(REGISTRY_ACCOUNT)},
                                format="json").status_code == 201
    bobs = image_in(REGISTRY_ACCOUNT)
    resp = register(alice, bobs)
    assert resp.status_code == 403 and resp.json()["code"] == "account_of_another_publisher"
    assert REGISTRY_ACCOUNT in resp.json()["message"]
    # Not even with carol's claim tag on it: the account is bob's.
    tagged = image_in(REGISTRY_ACCOUNT, tags={CLAIM_TAG_KEY: claim_for(user=carol)["value"]})
    assert register(carol, tagged).status_code == 403
    assert register(bob, bobs).status_code == 201


def test_cannot_register_amazons_image(publishers):
    alice, _bob, _carol = publishers
    resp = register(alice, base_image(ec2_in(REGISTRY_ACCOUNT)))
    assert resp.status_code == 403 and resp.json()["code"] == "vendor_image"


def test_claim_tag_registers_and_second_claimer_gets_409(publishers):
    _alice, bob, carol = publishers
    untagged = image_in(REGISTRY_ACCOUNT)
    resp = register(carol, untagged)
    assert resp.status_code == 403 and resp.json()["code"] == "claim_required"  # what cws --claim answers
    claimed = image_in(REGISTRY_ACCOUNT, tags={CLAIM_TAG_KEY: claim_for(user=carol)["value"]})
    assert register(bob, claimed).status_code == 403  # carol's tag, not bob's
    assert register(carol, claimed).status_code == 201
    second = register(bob, claimed)
    assert second.status_code == 409 and second.json()["code"] == "already_registered"


# --- imaging an instance ---------------------------------------------------------------------------

def test_cannot_image_another_publishers_instance(publishers, template):
    alice, bob, _carol = publishers
    assert create(alice, instance_in(ACCOUNT_B)).status_code == 400  # invisible from alice's accounts
    registry_instance = instance_in(REGISTRY_ACCOUNT)
    resp = create(alice, registry_instance)
    assert resp.status_code == 403 and resp.json()["code"] == "claim_required"
    assert not Operation.objects.filter(kind="create_image").exists()


def test_instance_in_own_account_is_imaged_there(publishers, template, django_capture_on_commit_callbacks):
    alice, _bob, _carol = publishers
    with django_capture_on_commit_callbacks(execute=True):
        resp = create(alice, instance_in(ACCOUNT_A))
    assert resp.status_code == 202, resp.json()
    op = Operation.objects.get(kind="create_image")
    assert op.params["account_id"] == ACCOUNT_A and op.state == "succeeded", op.error
    assert ec2_in(ACCOUNT_A).describe_images(ImageIds=[op.image_id])["Images"][0]["OwnerId"] == ACCOUNT_A
    assert op.image_id not in {i["ImageId"] for i in ec2_in(REGISTRY_ACCOUNT).describe_images(Owners=["self"])["Images"]}
    assert AMI.objects.get(pk=op.ami_id).owner_account_id == ACCOUNT_A


def test_claimed_instance_is_imaged_but_outside_shares_are_refused(publishers, template,
                                                                    django_capture_on_commit_callbacks):
    _alice, _bob, carol = publishers
    claimed = instance_in(REGISTRY_ACCOUNT, tags={CLAIM_TAG_KEY: claim_for(user=carol)["value"]})
    refused = create(carol, claimed, share_with=["444455556666"])
    assert refused.status_code == 403 and refused.json()["code"] == "not_in_your_account"
    with django_capture_on_commit_callbacks(execute=True):
        assert create(carol, claimed).status_code == 202
    op = Operation.objects.get(kind="create_image")
    assert op.state == "succeeded" and op.params["account_id"] == REGISTRY_ACCOUNT


# --- sharing and the lifecycle, in the owning account -------------------------------------------------

def test_share_to_outside_account_only_for_own_verified_account(publishers, django_capture_on_commit_callbacks):
    alice, _bob, carol = publishers
    mine = AMI.objects.get(ami_id=register(alice, image_in(ACCOUNT_A)).json()["ami_id"])
    claimed_id = image_in(REGISTRY_ACCOUNT, tags={CLAIM_TAG_KEY: claim_for(user=carol)["value"]})
    claimed = AMI.objects.get(ami_id=register(carol, claimed_id).json()["ami_id"])

    refused = client_for(carol).post(f"/api/v1/amis/{claimed.pk}/shares/",
                                     {"grantee_type": "account", "grantee": "444455556666"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "not_in_your_account"
    perms = ec2_in(REGISTRY_ACCOUNT).describe_image_attribute(ImageId=claimed_id, Attribute="launchPermission")
    assert perms["LaunchPermissions"] == []

    with django_capture_on_commit_callbacks(execute=True):
        resp = client_for(alice).post(f"/api/v1/amis/{mine.pk}/shares/",
                                      {"grantee_type": "account", "grantee": "444455556666"}, format="json")
    assert resp.status_code == 201, resp.json()
    assert Share.objects.get(pk=resp.json()["id"]).sync_state == "synced"
    perms = ec2_in(ACCOUNT_A).describe_image_attribute(ImageId=mine.ami_id, Attribute="launchPermission")
    assert perms["LaunchPermissions"] == [{"UserId": "444455556666"}]
    event = AuditEvent.objects.filter(action="share.sync_synced").latest("at")
    assert event.after["asked_by"] == "alice" and event.after["owner_account_id"] == ACCOUNT_A


def test_share_is_not_applied_once_the_account_is_unlinked(publishers):
    alice, _bob, _carol = publishers
    mine = AMI.objects.get(ami_id=register(alice, image_in(ACCOUNT_A)).json()["ami_id"])
    grant = Share.objects.create(ami=mine, grantee_type="account", grantee="444455556666", created_by=alice)
    client_for(alice).delete(f"/api/v1/me/aws-accounts/{ACCOUNT_A}")
    share_apply(share_id=grant.pk)
    grant.refresh_from_db()
    assert grant.sync_state == "failed" and "not in a verified AWS account" in grant.sync_error
    perms = ec2_in(ACCOUNT_A).describe_image_attribute(ImageId=mine.ami_id, Attribute="launchPermission")
    assert perms["LaunchPermissions"] == []


def test_copy_and_deregister_run_in_the_owners_account(publishers, template):
    alice, _bob, _carol = publishers
    mine = AMI.objects.get(ami_id=register(alice, image_in(ACCOUNT_A)).json()["ami_id"])
    (op,), _ = aws_copy.ami_copy_request(ami=mine, user=alice, regions=["us-west-2"])
    assert aws_copy.copy_image_step(operation_id=op.pk) is None
    copy_id = AMIRegion.objects.get(ami=mine, region="us-west-2").image_id
    assert ec2_in(ACCOUNT_A, "us-west-2").describe_images(ImageIds=[copy_id])["Images"][0]["OwnerId"] == ACCOUNT_A
    assert ec2_in(REGISTRY_ACCOUNT, "us-west-2").describe_images(Owners=["self"])["Images"] == []

    mine.status = AMI.Status.DRAFT
    mine.save(update_fields=["status"])
    dereg = aws_retire.ami_deregister_enqueue(ami=mine, actor=alice)
    assert dereg.params["account_id"] == ACCOUNT_A
    aws_retire.deregister_step(operation_id=dereg.pk)
    dereg.refresh_from_db()
    assert dereg.state == "succeeded", dereg.error
    for region, image_id in (("us-east-1", mine.ami_id), ("us-west-2", copy_id)):
        assert ec2_in(ACCOUNT_A, region).describe_images(Owners=["self"], ImageIds=[image_id])["Images"] == []


def test_lifecycle_refuses_to_act_in_an_account_nobody_linked(publishers):
    alice, _bob, _carol = publishers
    mine = AMI.objects.get(ami_id=register(alice, image_in(ACCOUNT_A)).json()["ami_id"])
    AwsAccountLink.objects.filter(account_id=ACCOUNT_A).delete()
    op = aws_retire.ami_deregister_enqueue(ami=mine, actor=alice)
    aws_retire.deregister_step(operation_id=op.pk)
    op.refresh_from_db()
    assert op.state == "failed" and "not linked" in op.error
    assert ec2_in(ACCOUNT_A).describe_images(ImageIds=[mine.ami_id])["Images"]  # untouched


def test_register_service_applies_the_same_rule(publishers):
    """The service itself (the demo seeder, the wizard call it), not only the API."""
    _alice, _bob, carol = publishers
    with pytest.raises(Forbidden) as refused:
        services.ami_register(user=carol, ami_id=image_in(REGISTRY_ACCOUNT), region="us-east-1", name="x",
                              category="ML")
    assert refused.value.code == "claim_required"


def test_wizard_applies_the_same_rule(publishers, template):
    """The submit wizard's first step and last step run the services' ownership checks."""
    alice, _bob, carol = publishers
    with pytest.raises(Forbidden) as refused:
        ami_source_check(user=carol, mode=SOURCE_REGISTER, region="us-east-1", ami_id=image_in(REGISTRY_ACCOUNT))
    assert refused.value.code == "claim_required"
    with pytest.raises(Forbidden):
        ami_source_check(user=carol, mode=SOURCE_CREATE, region="us-east-1", instance_id=instance_in(REGISTRY_ACCOUNT))
    with pytest.raises(Forbidden):
        ami_submit_from_wizard(user=carol, mode=SOURCE_REGISTER, region="us-east-1",
                               ami_id=image_in(REGISTRY_ACCOUNT), name="x", category="ML")
    facts = ami_source_check(user=alice, mode=SOURCE_REGISTER, region="us-east-1", ami_id=image_in(ACCOUNT_A))
    assert facts["architecture"] == "x86_64"


def test_snapshots_live_and_are_restored_in_the_owners_account(publishers, django_capture_on_commit_callbacks):
    """Snapshot, list, restore and delete act in the caller's own account, never the registry's;
    another publisher neither sees nor touches them."""
    alice, bob, _carol = publishers
    instance = instance_in(ACCOUNT_A, tags={"Name": "alice-box"})
    with django_capture_on_commit_callbacks(execute=True):
        made = client_for(alice).post("/api/v1/ami/snapshot/create",
                                      {"instance_id": "alice-box", "region": "us-east-1"}, format="json")
    assert made.status_code == 202, made.json()
    snapshot_id = made.json()["snapshot_id"]
    # A worker followed the snapshot as an operation, in alice's account, until AWS finished it.
    op = Operation.objects.get(pk=made.json()["operation_id"])
    assert (op.kind, op.state, op.params["account_id"], op.created_by) == ("snapshot", "succeeded", ACCOUNT_A, alice)
    seen = client_for(alice).get(f"/api/v1/operations/{op.pk}").json()
    assert seen["state"] == "succeeded" and seen["kind"] == "snapshot"
    assert client_for(bob).get(f"/api/v1/operations/{op.pk}").status_code == 404
    in_a = ec2_in(ACCOUNT_A).describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert in_a["OwnerId"] == ACCOUNT_A and made.json()["instance_id"] == instance
    assert snapshot_id not in {s["SnapshotId"] for s in ec2_in(REGISTRY_ACCOUNT).describe_snapshots(
        OwnerIds=["self"])["Snapshots"]}

    listed = client_for(alice).post("/api/v1/ami/snapshots", {"region": "us-east-1"}, format="json").json()
    assert [s["snapshot_id"] for s in listed["snapshots"]] == [snapshot_id]
    theirs = client_for(bob).post("/api/v1/ami/snapshots", {"region": "us-east-1"}, format="json").json()
    assert snapshot_id not in [s["snapshot_id"] for s in theirs["snapshots"]]
    refused = client_for(bob).post("/api/v1/ami/snapshot/delete", {"snapshot_id": snapshot_id, "region": "us-east-1"},
                                   format="json")
    assert refused.status_code == 404

    restored = client_for(alice).post("/api/v1/ami/snapshot/restore", {
        "snapshot_id": snapshot_id, "region": "us-east-1", "name": "alice-restored"}, format="json")
    assert restored.status_code == 202, restored.json()
    image_id = restored.json()["ami_id"]
    assert ec2_in(ACCOUNT_A).describe_images(ImageIds=[image_id])["Images"][0]["OwnerId"] == ACCOUNT_A
    assert AMI.objects.get(ami_id=image_id).owner_account_id == ACCOUNT_A
    busy = client_for(alice).post("/api/v1/ami/snapshot/delete", {"snapshot_id": snapshot_id, "region": "us-east-1"},
                                  format="json")
    assert busy.status_code == 409  # the restored image is built on it
