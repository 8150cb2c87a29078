"""The real CloudWorkstation ``cws`` Go client (built from ``compat/cws-client`` with its
``build.sh``), run as a subprocess against the registry served by pytest-django's live server,
with the demo data and emulator of ``tests/cli/conftest.py``.

``CWS_CLIENT_BIN`` names an already built binary; otherwise the client is built once per session
from ``CWS_CLIENT_SRC`` (default: ``compat/cws-client`` in the shared folder beside the checkout).
A client that cannot be built fails the tests with the build's output: never a skip.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.aws.test_worker import Workers, broker  # noqa: F401 — the real-broker fixture
from tests.cli.conftest import cli, emulator, registry  # noqa: F401 — fixtures

ROOT = Path(__file__).resolve().parents[2]


def _client_source() -> Path | None:
    if os.environ.get("CWS_CLIENT_SRC"):
        return Path(os.environ["CWS_CLIENT_SRC"])
    for up in (ROOT.parent, ROOT.parent.parent, Path("/work")):
        candidate = up / "shared" / "compat" / "cws-client"
        if (candidate / "build.sh").exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def cws_binary(tmp_path_factory) -> Path:
    given = os.environ.get("CWS_CLIENT_BIN")
    if given:
        if not os.access(given, os.X_OK):
            pytest.fail(f"CWS_CLIENT_BIN={given} is not an executable file")
        return Path(given)
    source = _client_source()
    if source is None:
        pytest.fail("cannot build the real cws client: compat/cws-client (with build.sh) not found beside the "
                    "checkout; set CWS_CLIENT_SRC to it, or CWS_CLIENT_BIN to a built binary")
    out = tmp_path_factory.mktemp("cws-client") / "cws"
    build = subprocess.run(["bash", str(source / "build.sh"), str(out)], capture_output=True, text=True, timeout=900)
    if build.returncode != 0 or not out.exists():
        pytest.fail(f"building the real cws client failed (exit {build.returncode}):\n{build.stdout}\n{build.stderr}")
    return out


@dataclass
class Result:
    code: int
    out: str
    err: str

    def ok(self) -> Result:
        assert self.code == 0, f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"
        assert "Error:" not in self.err, self.err
        return self

    def value(self, label: str) -> str:
        """The value printed after ``label:`` (e.g. ``AMI ID``)."""
        for line in self.out.splitlines():
            if f"{label}:" in line:
                return line.split(f"{label}:", 1)[1].strip()
        raise AssertionError(f"no '{label}:' line in:\n{self.out}")


class RealClient:
    """``client("ami", "resolve", "python-ml-ami")`` → Result; its own HOME with config.json/state.json."""

    def __init__(self, binary: Path, home: Path, url: str):
        self.binary, self.home, self.url = binary, home, url
        (home / ".cloudworkstation").mkdir(parents=True, exist_ok=True)

    def configure(self, *, region: str, api_key: str) -> None:
        (self.home / ".cloudworkstation" / "config.json").write_text(json.dumps(
            {"daemon": {"url": self.url}, "aws": {"region": region}}))
        (self.home / ".cloudworkstation" / "state.json").write_text(json.dumps({"config": {"api_key": api_key}}))

    def __call__(self, *args: str, stdin: str = "") -> Result:
        # A clean environment: the client reads AWS_REGION / AWS_DEFAULT_REGION / CWSD_URL too.
        env = {"HOME": str(self.home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CWS_NO_AUTO_START": "1"}
        proc = subprocess.run([str(self.binary), *args], capture_output=True, text=True, env=env, input=stdin,
                              timeout=180)
        return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def real_cws(cws_binary, registry, tmp_path) -> RealClient:  # noqa: F811 — fixture
    client = RealClient(cws_binary, tmp_path / "cws-home", registry.url)
    client.configure(region="us-east-1", api_key=registry.token("researcher"))
    return client
