"""Operations API: detail, list (own / moderator / ?ami=), cws status shape, /ami/list; the beat
sweep that re-enqueues stale operations; the one-chain-per-operation guard."""
from datetime import timedelta

import pytest
from django.utils import timezone

from amis import operations
from amis.models import AMI, AMIRegion, Operation
from tests.conftest import client_for
from tests.factories import AMIFactory, TemplateFactory

pytestmark = pytest.mark.django_db


def test_operation_detail_and_list_visibility(user, other_user, moderator):
    ami = AMIFactory(creator=user)
    mine = Operation.objects.create(kind="copy_image", ami=ami, region="eu-west-1", created_by=user,
                                    image_id="ami-0123456789abcdef0")
    Operation.objects.create(kind="validate", created_by=other_user)

    body = client_for(user).get(f"/api/v1/operations/{mine.pk}").json()
    assert body["id"] == str(mine.pk) and body["kind"] == "copy_image" and body["state"] == "queued"
    assert body["ami_id"] == "ami-0123456789abcdef0" and body["registry_id"] == str(ami.pk)
    assert body["progress"] == 0 and body["region"] == "eu-west-1" and body["started_at"] is None
    assert client_for(other_user).get(f"/api/v1/operations/{mine.pk}").status_code == 404
    assert client_for(user).get("/api/v1/operations/not-a-uuid").status_code == 404
    assert client_for(None).get(f"/api/v1/operations/{mine.pk}").status_code == 401
    assert client_for(moderator).get(f"/api/v1/operations/{mine.pk}").status_code == 200

    listing = client_for(user).get("/api/v1/operations/").json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == str(mine.pk)
    assert client_for(moderator).get("/api/v1/operations/").json()["count"] == 2
    by_ami = client_for(user).get(f"/api/v1/operations/?ami={ami.ami_id}").json()
    assert [o["id"] for o in by_ami["results"]] == [str(mine.pk)]
    private = AMIFactory(creator=moderator, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE)
    assert client_for(user).get(f"/api/v1/operations/?ami={private.pk}").status_code == 404


def test_status_progress_over_create_and_copies(user):
    create = Operation.objects.create(kind="create_image", region="us-east-1", created_by=user, state="succeeded",
                                      progress=100, image_id="ami-0123456789abcdef0",
                                      params={"multi_region": ["us-west-2", "eu-west-1"], "registry_id": "x"})
    Operation.objects.create(kind="copy_image", parent=create, region="us-west-2", created_by=user,
                             state="running", progress=50, image_id="ami-0123456789abcdef1")
    body = client_for(user).get(f"/api/v1/ami/status/{create.pk}").json()
    assert body["status"] == "in_progress" and body["progress"] == 50  # (100 + 50 + 0) / 3
    assert body["ami_id"] == "ami-0123456789abcdef0" and body["creation_id"] == str(create.pk)
    assert body["region_results"] == {
        "us-east-1": {"region": "us-east-1", "ami_id": "ami-0123456789abcdef0", "status": "completed", "error": ""},
        "us-west-2": {"region": "us-west-2", "ami_id": "ami-0123456789abcdef1", "status": "in_progress",
                      "error": ""},
        "eu-west-1": {"region": "eu-west-1", "ami_id": "", "status": "pending", "error": ""}}
    assert body["elapsed_time_minutes"] >= 0

    Operation.objects.create(kind="copy_image", parent=create, region="eu-west-1", created_by=user,
                             state="failed", error="AccessDenied")
    body = client_for(user).get(f"/api/v1/ami/status/{create.pk}").json()
    assert body["status"] == "failed" and "eu-west-1: AccessDenied" in body["message"]
    assert client_for(user).get("/api/v1/ami/status/00000000-0000-0000-0000-000000000000").status_code == 404


def test_ami_list_returns_only_the_callers_amis(user, other_user):
    tmpl = TemplateFactory(slug="r-research", name="R Research")
    mine = AMIFactory(creator=user, template=tmpl, status=AMI.Status.DRAFT)
    AMIRegion.objects.create(ami=mine, region="eu-west-1", image_id="ami-0000000000000aaaa", state="available")
    AMIFactory(creator=user)
    AMIFactory(creator=other_user)
    body = client_for(user).get("/api/v1/ami/list").json()
    assert len(body["user_amis"]) == 2
    assert {"id", "ami_id", "status", "regions", "template"} <= set(body["user_amis"][0])
    assert [a["id"] for a in client_for(user).get("/api/v1/ami/list?template=r-research").json()["user_amis"]] == [
        str(mine.pk)]
    assert [a["id"] for a in client_for(user).get("/api/v1/ami/list?region=eu-west-1").json()["user_amis"]] == [
        str(mine.pk)]
    assert client_for(None).get("/api/v1/ami/list").status_code == 401


def test_refresh_stale_reenqueues_only_stuck_operations(user, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(operations, "operation_enqueue",
                        lambda *, operation_id, kind, countdown=None: sent.append((str(operation_id), kind)))
    old = timezone.now() - timedelta(hours=1)
    stuck = Operation.objects.create(kind="copy_image", state="running", created_by=user)
    queued = Operation.objects.create(kind="validate", state="queued", created_by=user)
    fresh = Operation.objects.create(kind="copy_image", state="running", created_by=user)
    done = Operation.objects.create(kind="copy_image", state="succeeded", created_by=user)
    Operation.objects.filter(pk__in=[stuck.pk, queued.pk, done.pk]).update(updated_at=old)

    with django_capture_on_commit_callbacks(execute=True):
        picked = operations.operations_refresh_stale(older_than_seconds=600)
    assert sorted(picked) == sorted([str(stuck.pk), str(queued.pk)])
    assert sorted(sent) == sorted([(str(stuck.pk), "copy_image"), (str(queued.pk), "validate")])
    assert fresh.pk not in picked
    # Claimed rows were touched: an overlapping run right after picks nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert operations.operations_refresh_stale(older_than_seconds=600) == []


def test_only_the_current_task_chain_runs(user):
    op = Operation.objects.create(kind="copy_image", state="running", created_by=user, celery_task_id="chain-2")
    assert operations.operation_is_current(operation_id=op.pk, task_id="chain-2")
    assert not operations.operation_is_current(operation_id=op.pk, task_id="chain-1")
    # A message redelivered after its worker died runs even if it wrote the next id before dying.
    assert operations.operation_is_current(operation_id=op.pk, task_id="chain-1", redelivered=True)
    Operation.objects.filter(pk=op.pk).update(state="succeeded")
    assert not operations.operation_is_current(operation_id=op.pk, task_id="chain-2")


def test_schema_describes_the_endpoints(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    for path in ("/api/v1/ami/create", "/api/v1/ami/status/{creation_id}", "/api/v1/ami/list",
                 "/api/v1/amis/{ami}/copy", "/api/v1/operations/", "/api/v1/operations/{operation_id}"):
        assert path in schema["paths"], path
    create = schema["paths"]["/api/v1/ami/create"]["post"]
    assert "202" in create["responses"] and "requestBody" in create
