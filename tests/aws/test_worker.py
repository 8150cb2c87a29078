"""End to end with a real Celery worker (subprocess) on the real Redis broker, a moto server, and
the API served over HTTP (live_server): create with multi_region → poll /ami/status → three
regions in AWS and in the database. Then a worker killed with SIGKILL in the middle of a copy:
another worker finishes it, exactly once."""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
import redis
import requests
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from amis import operations
from amis.models import AMI, AMIRegion, Operation
from registry.celery import app as celery_app
from tests.aws.conftest import ImageStates
from tests.aws.worker_settings import prefixed
from tests.factories import AMIFactory, TemplateFactory, UserFactory, link_moto_account

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("REGISTRY_TEST_BROKER_URL", "redis://127.0.0.1:6379/6")


@pytest.fixture
def broker():
    """Tasks go to the real broker for the duration of the test (the suite is eager otherwise),
    on queues private to this test (``<prefix>default``, ``<prefix>aws``)."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    # The app reads Django settings with the CELERY_ namespace: set the namespaced keys.
    conf = celery_app.conf
    changes = {"CELERY_TASK_ALWAYS_EAGER": False, "CELERY_BROKER_URL": BROKER, **prefixed(prefix)}
    saved = {key: conf[key] for key in changes}
    conf.update(changes)
    _reset_connections()
    yield prefix
    conf.update(saved)
    _reset_connections()
    client = redis.Redis.from_url(BROKER)
    client.delete(f"{prefix}default", f"{prefix}aws")


def _reset_connections():
    # Celery caches its connection and producer pools (and kombu keeps a global registry of
    # them), its queues and its router: drop them all so the next send uses the settings now.
    from kombu import pools

    pools.reset()
    celery_app._pool = None
    amqp = celery_app.amqp
    amqp._producer_pool = None
    amqp._rtable = None
    for cached in ("queues", "default_queue", "router"):
        amqp.__dict__.pop(cached, None)


class Workers:
    def __init__(self, moto_url: str, tmp_path: Path, prefix: str):
        self.moto_url, self.tmp_path, self.prefix, self.procs = moto_url, tmp_path, prefix, []

    def env(self) -> dict:
        db = settings.DATABASES["default"]
        env = dict(os.environ)
        env.update({
            "DJANGO_SETTINGS_MODULE": "tests.aws.worker_settings", "REGISTRY_TEST_QUEUE_PREFIX": self.prefix,
            # The worker must use pytest's test database (test_<name>), where the live server writes.
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
                            f"{db['PORT'] or 5432}/{connection.settings_dict['NAME']}",
            "CELERY_BROKER_URL": BROKER, "AWS_ENDPOINT_URL": self.moto_url,
            "REGISTRY_POLL_SECONDS": "1", "CELERY_VISIBILITY_TIMEOUT": "4",
        })
        return env

    def start(self, name: str) -> subprocess.Popen:
        log = (self.tmp_path / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "registry", "worker", "-Q",
             f"{self.prefix}default,{self.prefix}aws", "-c", "2",
             "-n", f"{name}@%h", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if "ready." in self.log(name):
                return proc
            assert proc.poll() is None, self.log(name)
            time.sleep(0.2)
        raise AssertionError(f"worker {name} did not start:\n{self.log(name)}")

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text()

    def kill(self, proc: subprocess.Popen) -> None:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole worker: main process and pool children
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:  # the test is over: no need for a warm shutdown
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # Wait for PostgreSQL to notice the workers' sessions are gone (the test DB is dropped later).
        name = connection.settings_dict["NAME"]
        with connection.cursor() as cursor:
            for _ in range(50):
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                               " AND application_name NOT LIKE 'pytest%%'", [name])
                if cursor.fetchone()[0] == 0:
                    break
                time.sleep(0.1)


@pytest.fixture
def workers(moto_url, broker, tmp_path):
    pool = Workers(moto_url, tmp_path, broker)
    yield pool
    pool.stop_all()


def wait_for(predicate, *, timeout: float, what: str, log=lambda: ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{log()}")


def ec2(moto_url, region):
    return boto3.client("ec2", region_name=region, endpoint_url=moto_url)


def tagged(moto_url, region, registry_id):
    return ec2(moto_url, region).describe_images(Owners=["self"], Filters=[
        {"Name": "tag:RegistryId", "Values": [str(registry_id)]}])["Images"]


def test_create_multi_region_through_a_real_worker(live_server, moto_url, workers):
    user = UserFactory(username="researcher")
    link_moto_account(user)
    token = Token.objects.create(user=user).key
    TemplateFactory(slug="python-ml", name="Python ML")
    base = ec2(moto_url, "us-east-1").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance_id = ec2(moto_url, "us-east-1").run_instances(ImageId=base, MinCount=1, MaxCount=1,
                                                           InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"

    resp = http.post(f"{live_server.url}/api/v1/ami/create", json={
        "instance_id": instance_id, "template_name": "python-ml", "multi_region": ["us-west-2", "eu-west-1"]},
        timeout=30)
    assert resp.status_code == 202, resp.text
    creation_id = resp.json()["creation_id"]
    # Nothing runs in the web process: without a worker the creation stays pending.
    time.sleep(1)
    assert http.get(f"{live_server.url}/api/v1/ami/status/{creation_id}", timeout=10).json()["status"] == "pending"
    workers.start("w1")

    def completed():
        body = http.get(f"{live_server.url}/api/v1/ami/status/{creation_id}", timeout=10).json()
        assert body["status"] != "failed", body
        return body if body["status"] == "completed" else None

    status = wait_for(completed, timeout=40, what="the creation to complete", log=lambda: workers.log("w1"))
    assert status["progress"] == 100 and set(status["region_results"]) == {"us-east-1", "us-west-2", "eu-west-1"}

    ami = AMI.objects.get(ami_id=status["ami_id"])
    rows = {r.region: r for r in ami.regions.all()}
    assert set(rows) == {"us-east-1", "us-west-2", "eu-west-1"}
    assert all(r.state == AMIRegion.State.AVAILABLE for r in rows.values())
    for region, row in rows.items():  # in AWS: exactly one image per region, the one the DB names
        assert [i["ImageId"] for i in tagged(moto_url, region, ami.pk)] == [row.image_id]
        assert status["region_results"][region]["ami_id"] == row.image_id


def test_worker_killed_mid_copy_completes_once(live_server, moto_url, workers, monkeypatch):
    states = ImageStates(monkeypatch)  # the moto server runs in this process: copies stay pending
    states.on_copy = "pending"
    user = UserFactory(username="owner")
    link_moto_account(user)
    source = ec2(moto_url, "us-east-1")
    base = source.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance_id = source.run_instances(ImageId=base, MinCount=1, MaxCount=1,
                                       InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    image_id = source.create_image(InstanceId=instance_id, Name="kill-test-source")["ImageId"]
    ami = AMIFactory(ami_id=image_id, creator=user)

    first = workers.start("w1")
    http = requests.Session()
    http.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    resp = http.post(f"{live_server.url}/api/v1/amis/{ami.pk}/copy", json={"regions": ["eu-west-1"]}, timeout=30)
    assert resp.status_code == 202, resp.text
    op_id = resp.json()["operations"][0]["id"]

    # The copy task has run CopyImage and is now polling the pending copy: kill the worker.
    started = wait_for(lambda: Operation.objects.filter(pk=op_id, state="running").exclude(image_id="").first(),
                       timeout=30, what="the copy to start", log=lambda: workers.log("w1"))
    workers.kill(first)
    killed_at = time.time()
    states.set("eu-west-1", started.image_id, "available")

    workers.start("w2")
    # Recovery: the broker redelivers the dead worker's unacknowledged message once its visibility
    # timeout passed (4 s here) — when kombu's restore gets its Redis mutex, which a killed worker
    # may still hold — and the beat sweep re-enqueues operations idle past a threshold. Run the
    # sweep as beat would: whichever comes first, the copy must complete exactly once.
    time.sleep(max(0.0, killed_at + 3.5 - time.time()))
    operations.operations_refresh_stale(older_than_seconds=3)
    done = wait_for(lambda: Operation.objects.filter(pk=op_id, state__in=["succeeded", "failed"]).first(),
                    timeout=30, what="the copy to finish on the second worker",
                    log=lambda: f"{Operation.objects.filter(pk=op_id).values().first()}\n{workers.log('w2')}")
    assert done.state == "succeeded", done.error
    assert [i["ImageId"] for i in tagged(moto_url, "eu-west-1", ami.pk)] == [started.image_id]
    row = AMIRegion.objects.get(ami=ami, region="eu-west-1")
    assert row.state == AMIRegion.State.AVAILABLE and row.image_id == started.image_id
    assert Operation.objects.filter(ami=ami, kind="copy_image").count() == 1
