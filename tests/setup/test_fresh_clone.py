"""`make run` on a fresh machine, the way a new user meets it: a `git clone` of the committed HEAD
into an empty folder (no `.venv`), the documented command, and the site answers; the banner, the
README's API examples run as printed (only the port changed), a worker when Redis is there, eager
tasks and SQLite without it, a service that does not start stops `make run` naming its log, and
nothing `make run` started is left running once it is stopped.

It reuses the machine's PostgreSQL (a database of its own, dropped at the end), Redis (the test
broker database) and pip's download cache; ports are free ones.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
REDIS = os.environ.get("REGISTRY_TEST_BROKER_URL", "redis://127.0.0.1:6379/6")
FIRST_START_SECONDS = 900  # a venv from the package index, migrations, the demo data, on a busy machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user_environment(home: Path) -> dict:
    """The environment of a user's shell: none of the test run's settings, no virtualenv."""
    drop = ("AWS_", "CELERY_", "DJANGO_", "REGISTRY_", "MOTO_", "DATABASE_", "REDIS_", "PYTEST", "VIRTUAL_ENV",
            "COV_", "COVERAGE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "/.venv/" not in p + "/")
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    env["HOME"] = str(home)  # no ~/.aws/credentials: the demo must choose its emulator
    return env


class MakeRun:
    """One `make run` in the clone, in a session of its own, output in a file."""

    def __init__(self, clone: Path, home: Path, **env):
        self.clone, self.port = clone, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = clone.parent / f"make-run-{self.port}.log"
        environment = {**user_environment(home), "RUN_ADDR": f"127.0.0.1:{self.port}",
                       "MOTO_PORT": str(free_port()), **env}
        self.proc = subprocess.Popen(["make", "run"], cwd=clone, env=environment, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_banner(self, timeout: float) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = self.output()
            if re.search(r"^ Community AMI Registry — .*\n(.*\n)*?={10,}$", out, re.MULTILINE):
                return out
            assert self.proc.poll() is None, f"make run exited ({self.proc.returncode}):\n{out[-6000:]}"
            time.sleep(1)
        raise AssertionError(f"make run did not print its banner within {timeout} s:\n{self.output()[-6000:]}")

    def wait_for_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"make run did not stop within {timeout} s:\n{self.output()[-4000:]}") from None

    def stop(self) -> None:
        """Stop it as Ctrl-C in its terminal would, and check that nothing it started is left."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.wait_for_exit(60)
        deadline = time.time() + 20
        while (left := processes_under(self.clone)) and time.time() < deadline:
            time.sleep(0.5)
        for pid in left:  # make sure a failing test leaves nothing behind either
            os.kill(pid, signal.SIGKILL)
        assert not left, f"left running after make run stopped: {left}"


def processes_under(folder: Path) -> list[int]:
    """Processes whose working directory is in ``folder`` (everything make run starts runs there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if Path(os.readlink(entry / "cwd")).is_relative_to(folder):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def readme_api_block(readme: str, base_url: str, instance_id: str) -> str:
    """The README's "Try the API" block as a script, only the address and the instance id filled in;
    each command's output is followed by a marker line."""
    block = readme[readme.index("Try the API against the demo"):]
    block = block[block.index("```bash\n") + 8:]
    block = block[:block.index("\n```")]
    commands, current = [], ""
    for line in block.splitlines():
        current += line + "\n"
        if not line.rstrip().endswith("\\"):
            commands.append(current)
            current = ""
    assert any(c.startswith("INSTANCE=i-…") for c in commands), "the README names the instance to use"
    script = ["set -euo pipefail"]
    for command in commands:
        if command.startswith("INSTANCE="):
            command = f"INSTANCE={instance_id}\n"
        script.append(command.replace("localhost:8000", base_url.removeprefix("http://")).rstrip("\n")
                      + ("" if "=" in command.split(" ")[0] else "\necho; echo '@@@'"))
    return "\n".join(script)


def run_readme_examples(run: MakeRun, banner: str) -> dict:
    instance_id = re.search(r"^   instance:  (i-[0-9a-f]+)  \(cws-demo-instance, x86_64, us-east-1\)", banner,
                            re.MULTILINE).group(1)
    script = readme_api_block((run.clone / "README.md").read_text(), run.url, instance_id)
    done = subprocess.run(["bash", "-c", script], cwd=run.clone, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    outputs = [json.loads(part) for part in done.stdout.split("@@@") if part.strip()]
    amis, resolved, validated, created = outputs
    assert any("PyTorch" in a["name"] for a in amis["results"]), amis
    assert resolved["resolution_method"] == "registry" and resolved["ami_id"].startswith("ami-"), resolved
    assert validated["valid"] is True, validated
    assert created["ami_id"] is not None and created["instance_id"] == instance_id, created
    return created


def signed_in(base_url: str, username="researcher", password="researcher-demo-password") -> requests.Session:
    session = requests.Session()
    session.get(f"{base_url}/accounts/login/", timeout=10)
    resp = session.post(f"{base_url}/accounts/login/", timeout=10, headers={"Referer": f"{base_url}/accounts/login/"},
                        data={"username": username, "password": password,
                              "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    assert resp.ok and "sessionid" in session.cookies, resp.text[:500]
    return session


def token(base_url: str) -> str:
    return requests.post(f"{base_url}/api/v1/auth/token", timeout=10,
                         json={"username": "researcher", "password": "researcher-demo-password"}).json()["token"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fresh-clone")
    path = folder / "registry"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(path)], check=True, timeout=120)
    assert not (path / ".venv").exists()
    (folder / "home").mkdir()
    yield path
    for pid in processes_under(path):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def database_url():
    """A PostgreSQL database of its own on the machine's server (make run creates it)."""
    db = settings.DATABASES["default"]
    server = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    name = f"registry_fresh_{uuid.uuid4().hex[:8]}"
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_fresh_clone_make_run_with_postgresql_redis_and_a_worker(clone, database_url):
    run = MakeRun(clone, clone.parent / "home", DATABASE_URL=database_url, REDIS_URL=REDIS)
    try:
        started = time.time()
        banner = run.wait_for_banner(FIRST_START_SECONDS)
        print(f"fresh clone: make run answered after {time.time() - started:.0f} s")
        assert (clone / ".venv" / "bin" / "moto_server").exists()  # the demo's emulator was installed
        for line in ("   sign in:   admin / admin-demo-password  (superuser and moderator)",
                     "   sign in:   researcher / researcher-demo-password  (researcher)",
                     "   sign in:   moderator / moderator-demo-password  (moderator)",
                     f"   tasks:     a Celery worker on {REDIS} (log: .demo/worker.log)"):
            assert line in banner
        assert "No hostname was supplied" not in banner and "Traceback" not in banner
        assert requests.get(f"{run.url}/healthz", timeout=10).json()["broker_mode"] == "broker"

        created = run_readme_examples(run, banner)
        # Queued for the worker, which then does the work: the progress page moves on its own.
        assert created["status"] not in ("completed", "failed"), created
        headers = {"Authorization": f"Token {token(run.url)}"}
        deadline = time.time() + 120
        while (status := requests.get(f"{run.url}/api/v1/ami/status/{created['creation_id']}", headers=headers,
                                      timeout=10).json())["status"] != "completed":
            assert status["status"] not in ("failed", "error") and time.time() < deadline, status
            time.sleep(1)
        worker_log = (clone / ".demo" / "worker.log").read_text()
        assert re.search(r"Task amis\.create_image\[.*\] succeeded", worker_log), worker_log[-3000:]

        browser = signed_in(run.url)
        progress = browser.get(f"{run.url}/operations/{created['creation_id']}/progress/", timeout=30).text
        assert "— done" in progress and 'id="tasks-eager"' not in progress
        submit = browser.get(f"{run.url}/submit/", timeout=30).text
        assert created["instance_id"] in submit and "Use this instance" in submit
        missing = requests.get(f"{run.url}/no-such-page/", timeout=10)
        assert missing.status_code == 404 and "<title>Page not found — Community AMI Registry</title>" in missing.text
    finally:
        run.stop()
    assert "Traceback" not in run.output()


def test_fresh_clone_make_run_with_sqlite_and_no_redis(clone):
    run = MakeRun(clone, clone.parent / "home", DATABASE_URL="sqlite:///db.sqlite3", REDIS_URL="")
    try:
        banner = run.wait_for_banner(FIRST_START_SECONDS)
        assert "   tasks:     run instantly inside the web process (no Redis, so no worker)" in banner
        assert "cache: no Redis — using the in-process cache" in banner
        assert (clone / "db.sqlite3").exists()
        assert requests.get(f"{run.url}/healthz", timeout=10).json()["broker_mode"] == "eager"
        created = run_readme_examples(run, banner)
        assert created["status"] == "completed", created  # ran inside the request
        progress = signed_in(run.url).get(f"{run.url}/operations/{created['creation_id']}/progress/", timeout=30).text
        assert 'id="tasks-eager"' in progress and "runs tasks instantly" in progress
    finally:
        run.stop()
    assert "No hostname was supplied" not in run.output() and "Traceback" not in run.output()


def test_a_service_that_does_not_start_stops_make_run_naming_its_log(clone):
    home = clone.parent / "home"
    # The emulator cannot listen on a port another program holds (bound, so it cannot be seen
    # by connecting to it).
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        run = MakeRun(clone, home, DATABASE_URL="sqlite:///db.sqlite3", REDIS_URL="",
                      MOTO_PORT=str(held.getsockname()[1]))
        assert run.wait_for_exit(120) != 0
    out = run.output()
    assert "ERROR: the AWS emulator stopped before it answered (log: .demo/emulator.log)" in out
    assert "last lines of .demo/emulator.log:" in out and "Address already in use" in out
    run.stop()
    # The worker refuses a concurrency that is not a number.
    run = MakeRun(clone, home, DATABASE_URL="sqlite:///db.sqlite3", REDIS_URL=REDIS, WORKER_CONCURRENCY="many")
    assert run.wait_for_exit(180) != 0
    out = run.output()
    assert "ERROR: the Celery worker stopped before it answered (log: .demo/worker.log)" in out
    assert "last lines of .demo/worker.log:" in out
    run.stop()
    # The web address is taken; a port that is no port.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = "127.0.0.1:%d" % taken.getsockname()[1]
        run = MakeRun(clone, home, DATABASE_URL="sqlite:///db.sqlite3", REDIS_URL="", RUN_ADDR=address)
        assert run.wait_for_exit(60) != 0
    assert f"ERROR: {address} is in use" in run.output()
    run.stop()
    run = MakeRun(clone, home, DATABASE_URL="sqlite:///db.sqlite3", REDIS_URL="", MOTO_PORT="70000")
    assert run.wait_for_exit(60) != 0 and "ERROR: MOTO_PORT=70000 is not a TCP port" in run.output()
    run.stop()
