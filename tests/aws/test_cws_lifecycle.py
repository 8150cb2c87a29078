"""The cws client's lifecycle endpoints on in-process moto (Celery eager): status by any id,
cleanup (dry run and real), delete (409 with reasons, deregister_only), snapshots (owner-scoped),
check-freshness."""
from datetime import timedelta

import pytest
from django.utils import timezone

from amis.models import AMI, Operation
from registry.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _create(user, aws, capture, name="cws-test", **extra):
    with capture(execute=True):
        resp = client_for(user).post("/api/v1/ami/create", {"instance_id": aws.instance("us-east-1"),
                                                            "template_name": "python-ml", "name": name, **extra},
                                     format="json")
    assert resp.status_code == 202, resp.json()
    return resp.json()


def test_status_by_creation_registry_and_ami_id_and_404_for_others(aws, user, other_user, template,
                                                                   django_capture_on_commit_callbacks):
    body = _create(user, aws, django_capture_on_commit_callbacks)
    for ref in (body["creation_id"], body["registry_id"], body["ami_id"]):
        status = client_for(user).get(f"/api/v1/ami/status/{ref}").json()
        assert status["ami_id"] == body["ami_id"] and status["status"] == "completed"
        assert status["estimated_completion_minutes"] == 0 and status["name"] == "cws-test"
    for ref in (body["creation_id"], body["ami_id"], "ami-0123456789abcdef0", "nonsense"):
        assert client_for(other_user).get(f"/api/v1/ami/status/{ref}").status_code == 404


def test_cleanup_dry_run_lists_then_real_run_deregisters_and_audits(aws, user, template,
                                                                   django_capture_on_commit_callbacks):
    old = _create(user, aws, django_capture_on_commit_callbacks, name="old-one")
    _create(user, aws, django_capture_on_commit_callbacks, name="new-one")
    AMI.objects.filter(pk=old["registry_id"]).update(created_at=timezone.now() - timedelta(days=45))
    client = client_for(user)
    dry = client.post("/api/v1/ami/cleanup", {"max_age": "30d", "dry_run": True}, format="json").json()
    assert dry["dry_run"] and [a["ami_id"] for a in dry["removed_amis"]] == [old["ami_id"]]
    assert dry["total_removed"] == 1 and dry["storage_savings_monthly"] > 0
    assert AMI.objects.filter(pk=old["registry_id"]).exists()

    with django_capture_on_commit_callbacks(execute=True):
        real = client.post("/api/v1/ami/cleanup", {"max_age": "30d"}, format="json").json()
    assert real["total_removed"] == 1 and len(real["operations"]) == 1
    assert not AMI.objects.filter(pk=old["registry_id"]).exists()
    assert aws.ec2().describe_images(Owners=["self"], Filters=[{"Name": "image-id", "Values": [old["ami_id"]]}])[
        "Images"] == []
    op = Operation.objects.get(pk=real["operations"][0])
    assert op.state == "succeeded" and op.result["regions"]["us-east-1"]["deleted_snapshots"]
    assert AuditEvent.objects.filter(action="ami.cleanup").count() == 1
    assert client.post("/api/v1/ami/cleanup", {"max_age": "soon"}, format="json").status_code == 400


def test_delete_refuses_with_reasons_and_keeps_snapshots_when_asked(aws, user, other_user, template,
                                                                    django_capture_on_commit_callbacks):
    body = _create(user, aws, django_capture_on_commit_callbacks)
    ami = AMI.objects.get(pk=body["registry_id"])
    AMI.objects.filter(pk=ami.pk).update(status="approved", visibility="public")
    refused = client_for(user).post("/api/v1/ami/delete", {"ami_id": body["ami_id"]}, format="json")
    assert refused.status_code == 409 and "approved public entry" in refused.json()["detail"]
    assert refused.json()["reasons"]
    assert client_for(other_user).post("/api/v1/ami/delete", {"ami_id": body["ami_id"]},
                                       format="json").status_code == 404

    AMI.objects.filter(pk=ami.pk).update(status="draft", visibility="private")
    snapshots = list(ami.root_snapshot_ids)
    with django_capture_on_commit_callbacks(execute=True):
        done = client_for(user).post("/api/v1/ami/delete", {"ami_id": body["ami_id"], "deregister_only": True},
                                     format="json").json()
    # "deleting": the deregistration runs after commit (here: when the captured callbacks run)
    assert done["status"] in ("deleted", "deleting") and done["deregister_only"] and done["deleted_snapshots"] == []
    assert Operation.objects.get(pk=done["operation_id"]).state == "succeeded"
    assert aws.ec2().describe_images(Owners=["self"], Filters=[{"Name": "image-id", "Values": [body["ami_id"]]}])[
        "Images"] == []
    assert {s["SnapshotId"] for s in aws.ec2().describe_snapshots(SnapshotIds=snapshots)["Snapshots"]} == set(snapshots)


def test_snapshots_are_owner_scoped(aws, user, other_user):
    instance_id = aws.instance("us-east-1")
    created = client_for(user).post("/api/v1/ami/snapshot/create", {"instance_id": instance_id}, format="json")
    assert created.status_code == 202, created.json()
    snapshot_id = created.json()["snapshot_id"]
    assert created.json()["volume_size"] > 0 and created.json()["estimated_completion_minutes"] > 0
    mine = client_for(user).post("/api/v1/ami/snapshots", {}, format="json").json()
    assert [s["snapshot_id"] for s in mine["snapshots"]] == [snapshot_id]
    assert client_for(other_user).post("/api/v1/ami/snapshots", {}, format="json").json()["snapshots"] == []
    for path, body in (("restore", {"snapshot_id": snapshot_id, "name": "x"}), ("delete", {"snapshot_id": snapshot_id})):
        assert client_for(other_user).post(f"/api/v1/ami/snapshot/{path}", body, format="json").status_code == 404

    restored = client_for(user).post("/api/v1/ami/snapshot/restore", {"snapshot_id": snapshot_id, "name": "back"},
                                     format="json")
    assert restored.status_code == 202 and restored.json()["ami_id"].startswith("ami-")
    entry = AMI.objects.get(ami_id=restored.json()["ami_id"])
    assert entry.creator == user and entry.status == "draft"
    busy = client_for(user).post("/api/v1/ami/snapshot/delete", {"snapshot_id": snapshot_id}, format="json")
    assert busy.status_code == 409
    assert {"snapshot.create", "snapshot.restore"} <= set(AuditEvent.objects.values_list("action", flat=True))


def test_check_freshness_flags_an_image_older_than_the_ssm_base(aws, make_template_doc):
    ec2 = aws.ec2()
    old = aws.image("us-east-1", name="old-build")
    make_template_doc(slug="fresh-check", base="ubuntu-22.04", ami_config={"ami_mappings": {"us-east-1": old}})
    body = client_for(None).get("/api/v1/ami/check-freshness").json()
    mine = [r for r in body["results"] if r.get("template") == "fresh-check"]
    assert len(mine) == 1 and mine[0]["has_ssm_support"] and mine[0]["current_ami"] == old
    assert mine[0]["distro"] == "Ubuntu" and mine[0]["version"] == "22.04"
    assert body["total_checked"] == body["outdated"] + body["up_to_date"] + body["no_ssm_support"]
    assert set(body) >= {"recommendation", "ssm_supported", "static_only", "check_timestamp"}
    assert ec2  # the emulator answered DescribeImages for both images


@pytest.fixture
def make_template_doc(db):
    from tests.factories import TemplateFactory

    def make(*, slug, base, ami_config):
        return TemplateFactory(slug=slug, name=slug, base=base,
                               document={"name": slug, "base": base, "ami_config": ami_config})
    return make
