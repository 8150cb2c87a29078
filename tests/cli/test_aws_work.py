"""``cws ami create``, ``create-multi``, ``status``, ``list``, ``operations``: the live progress
display followed to the end while AWS (the emulator) keeps images pending for a while, as AWS
does for minutes; a failure; Ctrl-C; and a creation carried out by a real Celery worker."""
import re
import threading
import time
import types

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

import cws.progress
from amis.models import AMI, AMIRegion, Operation
from tests.aws.conftest import ImageStates
from tests.aws.test_worker import Workers, broker  # noqa: F401 — the real-broker fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")


class SlowAws:
    """Images stay ``pending`` for ``hold`` seconds after they appear, then become available (or
    ``final``) — CreateImage and CopyImage as AWS runs them, which moto answers at once."""

    def __init__(self, monkeypatch, *, hold=1.5, final="available"):
        self.states = ImageStates(monkeypatch)
        self.states.on_create = self.states.on_copy = "pending"
        self.hold, self.final, self.seen, self.stop = hold, final, {}, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.wait(0.1):
            for region in REGIONS:
                for image in list(ec2_backends[DEFAULT_ACCOUNT_ID][region].amis.values()):
                    if image.state != "pending":
                        continue
                    first = self.seen.setdefault(image.id, time.monotonic())
                    if time.monotonic() - first >= self.hold:
                        image.state = self.final

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)


def region_lines(stdout: str, region: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(region)]


def test_create_multi_progress_followed_to_completion(registry, cli, monkeypatch):
    registry.sign_in("researcher")
    instance = registry.demo_instance()
    with SlowAws(monkeypatch):
        result = cli("ami", "create-multi", "python-ml-ami", instance, "--regions", "us-east-1,us-west-2,eu-west-1",
                     "--name", "cli-progress-1").ok()
    out = result.stdout
    assert out.startswith(f"Creating an AMI from {instance} (template python-ml-ami) in us-east-1, us-west-2, "
                          "eu-west-1 — creation ")
    for region in REGIONS:  # each region went through the work and ended completed
        lines = region_lines(out, region)
        assert any(re.search(r"in_progress\s+50%", line) for line in lines), out
        assert re.search(rf"^{region}\s+completed\s+100%\s+ami-[0-9a-f]{{17}}$", lines[-1]), out
    first_copy = min(out.index(line) for line in region_lines(out, "us-west-2") if "in_progress" in line)
    assert out.index(region_lines(out, "us-east-1")[-1]) < first_copy  # copies start once the image exists
    creation_id = re.search(r"creation ([0-9a-f-]{36})", out).group(1)
    ami = AMI.objects.get(pk=Operation.objects.get(pk=creation_id).ami_id)
    assert {r.region: r.state for r in ami.regions.all()} == {r: "available" for r in REGIONS}
    assert f"Done: {ami.ami_id} available in 3 region(s)" in out
    assert f"next: cws ami submit {ami.pk} --public" in out

    # The same creation, by its id, its registry id or its AMI id.
    for ref in (creation_id, str(ami.pk), ami.ami_id):
        status = cli("ami", "status", ref, "--json").ok().json()
        assert (status["creation_id"], status["status"], status["progress"]) == (creation_id, "completed", 100)
    # The caller's own AMIs of that template: the new one beside what the demo seeded for them.
    mine = cli("ami", "list", "--template", "python-ml-ami", "--json").ok().json()
    owned = AMI.objects.filter(creator=ami.creator, template__slug="python-ml-ami")
    assert "cli-progress-1" in [a["name"] for a in mine]
    assert sorted(a["name"] for a in mine) == sorted(owned.values_list("name", flat=True))
    ops = cli("ami", "operations", "--ami", ami.ami_id, "--json").ok().json()["results"]
    assert sorted((o["kind"], o["region"], o["state"]) for o in ops) == [
        ("copy_image", "eu-west-1", "succeeded"), ("copy_image", "us-west-2", "succeeded"),
        ("create_image", "us-east-1", "succeeded")]


def test_progress_bars_on_a_terminal(registry, cli, monkeypatch):
    """With a terminal (TTY_COMPATIBLE=1 tells rich it is one) the display is a bar per region."""
    registry.sign_in("researcher")
    pytorch = AMI.objects.get(name="PyTorch 2.4 GPU Workstation")
    with SlowAws(monkeypatch, hold=0.8):
        result = cli("ami", "copy", pytorch.ami_id, "--regions", "us-west-2,eu-west-1",
                     env={"TTY_COMPATIBLE": "1"}).ok()
    assert "\x1b[" in result.stdout  # drawn with escape sequences, redrawn in place
    final_frame = result.stdout.split("\x1b[2K")[-3:]  # the last redraw: one line per region
    assert any("us-west-2" in part and "100%" in part for part in final_frame), result.stdout
    assert any("eu-west-1" in part and "100%" in part for part in final_frame), result.stdout
    assert "Copied " + pytorch.ami_id + " to us-west-2, eu-west-1." in result.stdout
    rows = dict(AMIRegion.objects.filter(ami=pytorch).values_list("region", "state"))
    assert rows == {"us-east-1": "available", "us-west-2": "available", "eu-west-1": "available"}


def test_a_failed_creation_exits_1_with_the_reason(registry, cli, monkeypatch):
    registry.sign_in("researcher")
    instance = registry.demo_instance()
    with SlowAws(monkeypatch, hold=0.3, final="failed"):
        result = cli("ami", "create", instance, "--name", "cli-fails", "--template", "python-ml-ami",
                     "--region", "us-east-1", "--regions", "us-west-2", "--json")
    assert result.exit_code == 1
    final = result.json()
    assert final["status"] == "failed" and "failed" in final["message"]
    # The copy never started: watching ends with the creation all the same.
    assert {r: v["status"] for r, v in final["region_results"].items()} == {"us-east-1": "failed",
                                                                          "us-west-2": "pending"}


def test_ctrl_c_stops_watching_not_the_work(registry, cli, monkeypatch):
    registry.sign_in("researcher")
    instance = registry.demo_instance()

    def interrupt(seconds):
        raise KeyboardInterrupt

    with SlowAws(monkeypatch, hold=1.0):
        monkeypatch.setattr(cws.progress, "time", types.SimpleNamespace(sleep=interrupt))
        stopped = cli("ami", "create", instance, "-n", "cli-ctrl-c", "-t", "python-ml-ami", "-r", "us-east-1")
        assert stopped.exit_code == 130
        assert "Error: stopped watching; the work goes on in the registry" in stopped.stderr
        creation_id = re.search(r"creation ([0-9a-f-]{36})", stopped.stdout).group(1)
        assert f"Hint: follow it again with `cws ami status {creation_id} --wait`" in stopped.stderr
        monkeypatch.setattr(cws.progress, "time", time)
        resumed = cli("ami", "status", creation_id, "--wait").ok()
    assert re.search(r"^us-east-1\s+completed\s+100%", region_lines(resumed.stdout, "us-east-1")[-1])


def test_creation_refusals_and_no_wait(registry, cli):
    registry.sign_in("researcher")
    missing = cli("ami", "create", "i-0123456789abcdef0", "--template", "python-ml-ami", "-r", "us-east-1")
    assert missing.exit_code == 1 and "instance i-0123456789abcdef0 not found (by id) in us-east-1" in missing.stderr
    no_template = cli("ami", "create", "i-0123456789abcdef0")
    assert no_template.exit_code == 2 and "Missing option '--template'" in no_template.stderr
    started = cli("ami", "create", registry.demo_instance(), "-t", "python-ml-ami", "-r", "us-east-1", "--no-wait",
                  "--json").ok().json()
    assert started["creation_id"] and started["target_regions"] == ["us-east-1"]
    registry.sign_in(None)
    anonymous = cli("ami", "list")
    assert anonymous.exit_code == 1 and "Hint: run `cws login`" in anonymous.stderr
    unknown = cli("ami", "status", "ami-0123456789abcdef0")
    assert unknown.exit_code == 1


@pytest.mark.worker
def test_create_multi_through_a_real_worker(registry, cli, broker, tmp_path):  # noqa: F811 — fixture
    """The registry as deployed: the web process queues, a Celery worker on the real broker does
    the AWS work; the client follows it to the end."""
    workers = Workers(registry.moto, tmp_path, broker)
    try:
        workers.start("w1")
        registry.sign_in("researcher")
        result = cli("ami", "create-multi", "python-ml-ami", registry.demo_instance(), "--regions",
                     "us-east-1,eu-west-1", "--name", "cli-worker-1", "--json")
        assert result.exit_code == 0, result.stderr + workers.log("w1")
    finally:
        workers.stop_all()
    final = result.json()
    assert final["status"] == "completed" and set(final["region_results"]) == {"us-east-1", "eu-west-1"}
    ami = AMI.objects.get(ami_id=final["ami_id"])
    for region, row in ((r.region, r) for r in ami.regions.all()):
        assert row.state == "available" and final["region_results"][region]["ami_id"] == row.image_id
        assert registry.ec2(region).describe_images(ImageIds=[row.image_id])["Images"][0]["State"] == "available"
