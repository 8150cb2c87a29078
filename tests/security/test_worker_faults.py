"""A killed worker's operation must not wait for beat: kill -9 a real worker mid-copy, restart only
the worker (no beat, no manual sweep, the production visibility timeout), and the copy completes
exactly once within a minute — one image in the region, one operation, one region row."""
import time

import pytest
import requests
from rest_framework.authtoken.models import Token

from amis.models import AMIRegion, Operation
from tests.aws.conftest import ImageStates, moto_url  # noqa: F401 — fixture
from tests.aws.test_worker import Workers, broker, ec2, tagged, wait_for  # noqa: F401 — fixture
from tests.factories import AMIFactory, UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class RecoveringWorkers(Workers):
    """Workers as deployed: redelivery only after the real visibility timeout (far beyond the
    test), so only the heartbeat + worker-start sweep can bring the copy back; short intervals
    so the test does not wait minutes."""

    def env(self) -> dict:
        env = super().env()
        env.update({"CELERY_VISIBILITY_TIMEOUT": "360", "REGISTRY_POLL_SECONDS": "1",
                    "REGISTRY_OPERATION_HEARTBEAT_STALE_SECONDS": "6", "REGISTRY_OPERATION_SWEEP_SECONDS": "2",
                    "REGISTRY_OPERATION_STALE_SECONDS": "600"})
        return env


@pytest.fixture
def recovering_workers(moto_url, broker, tmp_path):  # noqa: F811
    pool = RecoveringWorkers(moto_url, tmp_path, broker)
    yield pool
    pool.stop_all()


def test_killed_worker_mid_copy_recovers_without_beat_exactly_once(live_server, moto_url,  # noqa: F811
                                                                   recovering_workers, monkeypatch):
    workers = recovering_workers
    states = ImageStates(monkeypatch)  # the moto server runs in this process: copies stay pending
    states.on_copy = "pending"
    user = UserFactory(username="owner")
    source = ec2(moto_url, "us-east-1")
    base = source.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance_id = source.run_instances(ImageId=base, MinCount=1, MaxCount=1,
                                       InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    image_id = source.create_image(InstanceId=instance_id, Name="kill-9-source")["ImageId"]
    ami = AMIFactory(ami_id=image_id, creator=user)

    first = workers.start("w1")
    http = requests.Session()
    http.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    resp = http.post(f"{live_server.url}/api/v1/amis/{ami.pk}/copy", json={"regions": ["eu-west-1"]}, timeout=30)
    assert resp.status_code == 202, resp.text
    op_id = resp.json()["operations"][0]["id"]

    # CopyImage has been called and the task is polling the pending copy: kill -9 the worker.
    started = wait_for(lambda: Operation.objects.filter(pk=op_id, state="running").exclude(image_id="").first(),
                       timeout=30, what="the copy to start", log=lambda: workers.log("w1"))
    workers.kill(first)
    states.set("eu-west-1", started.image_id, "available")
    assert Operation.objects.get(pk=op_id).state == "running"

    workers.start("w2")  # only the worker comes back: no beat, nobody sweeps by hand
    restarted = time.time()
    done = wait_for(lambda: Operation.objects.filter(pk=op_id, state__in=["succeeded", "failed"]).first(),
                    timeout=60, what="the copy to finish on the restarted worker",
                    log=lambda: f"{Operation.objects.filter(pk=op_id).values().first()}\n{workers.log('w2')}")
    assert time.time() - restarted < 60
    assert done.state == "succeeded", done.error
    # Exactly once: one image in the region (the one started before the kill), one operation, one row.
    assert [i["ImageId"] for i in tagged(moto_url, "eu-west-1", ami.pk)] == [started.image_id]
    row = AMIRegion.objects.get(ami=ami, region="eu-west-1")
    assert row.state == AMIRegion.State.AVAILABLE and row.image_id == started.image_id
    assert Operation.objects.filter(ami=ami, kind="copy_image").count() == 1
    assert "stale sweep: re-enqueued 1 operation" in workers.log("w2")
