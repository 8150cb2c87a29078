"""Fixtures for the command-line client's tests.

``cli``: runs ``cws`` through its real entry point (Click's test runner, in this process) with a
private HOME, so config files never touch the developer's. ``registry``: the API served over
HTTP by pytest-django's live server, AWS answered by a moto server on a free port that both the
server and the client reach through ``AWS_ENDPOINT_URL``, and the demo data ``make run`` loads
(``seed_emulator`` + ``seed_demo``), so these tests and docs/cli.md see the same catalogue.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from django.core.management import call_command
from django.test import override_settings
from rest_framework.authtoken.models import Token

from cws.cli import cli as cws_cli
from registry import aws as aws_gateway
from templates.demo import example_mapped_images
from tests.demo.emulator import launcher_module

GOLDEN = Path(__file__).parent / "golden"
# Environment a developer's shell may carry that would change what the client does.
CLIENT_ENV = ("CWS_REGISTRY_URL", "CWS_REGISTRY_TOKEN", "CWSD_URL", "AWS_REGION", "NO_COLOR", "FORCE_COLOR",
              "TTY_COMPATIBLE", "COLUMNS", "XDG_CONFIG_HOME", "CWS_DEBUG", "CWS_MAX_RETRY_WAIT")


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    def ok(self) -> Run:
        assert self.exit_code == 0, f"exit {self.exit_code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        return self


class Cli:
    """``cli("ami", "browse", "--json")`` → Run. ``env`` adds variables for one run."""

    def __init__(self, home: Path):
        self.home = home

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None) -> Run:
        result = CliRunner().invoke(cws_cli, list(args), input=input, env=env, prog_name="cws",
                                    catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    @property
    def config_file(self) -> Path:
        return self.home / ".config" / "cws" / "registry.toml"


@pytest.fixture
def cli(tmp_path, monkeypatch) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CWS_POLL_INTERVAL", "0.1")
    monkeypatch.setenv("CWS_RETRIES", "1")
    return Cli(home)


class Demo:
    """The live registry with the demo catalogue, and handles the tests need."""

    def __init__(self, url: str, moto: str, monkeypatch):
        self.url, self.moto, self.monkeypatch = url, moto, monkeypatch
        from django.contrib.auth import get_user_model

        self.users = {u.username: u for u in get_user_model().objects.all()}

    def token(self, username: str) -> str:
        return Token.objects.get_or_create(user=self.users[username])[0].key

    def sign_in(self, username: str | None) -> None:
        """Make the client act as ``username`` (None: anonymous) through CWS_REGISTRY_TOKEN."""
        if username is None:
            self.monkeypatch.delenv("CWS_REGISTRY_TOKEN", raising=False)
        else:
            self.monkeypatch.setenv("CWS_REGISTRY_TOKEN", self.token(username))

    def without_template_mappings(self, slug: str) -> None:
        """Drop a template's direct image mappings, so the registry's own AMIs are what answers.

        The demo installs every mapped image in the emulator, and a direct mapping comes before
        the registry in each region's tier order; journeys about copying a registry AMI across
        regions need a template that only the registry serves."""
        from templates.models import Template

        template = Template.objects.get(slug=slug)
        template.document.get("ami_config", {}).pop("ami_mappings", None)
        template.save(update_fields=["document"])

    def act_in_account_of(self, owner: str):
        """The client's own AWS credentials act in the demo ``owner``'s emulator account; returns an
        EC2 client factory for that account.

        moto keeps every account's images apart, public ones included, so a researcher launching
        or copying another publisher's image from their own account cannot be emulated: here the
        client acts in the account where the image is (in AWS it would be public or shared)."""
        import cws.aws as cws_aws
        from registry.demo import DEMO_AWS_ACCOUNTS

        creds = boto3.client("sts", region_name="us-east-1", endpoint_url=self.moto).assume_role(
            RoleArn=f"arn:aws:iam::{DEMO_AWS_ACCOUNTS[owner]}:role/cws-test-launcher",
            RoleSessionName="cws-test")["Credentials"]
        keys = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"]}
        self.monkeypatch.setattr(cws_aws, "client", lambda service, region: boto3.session.Session(**keys).client(
            service, region_name=region, endpoint_url=self.moto, config=cws_aws._RETRIES))
        return lambda region="us-east-1": boto3.client("ec2", region_name=region, endpoint_url=self.moto, **keys)

    def ec2(self, region: str = "us-east-1"):
        return boto3.client("ec2", region_name=region, endpoint_url=self.moto)

    def demo_instance(self, name: str = "cws-demo-instance", region: str = "us-east-1") -> str:
        found = self.ec2(region).describe_instances(Filters=[
            {"Name": "tag:Name", "Values": [name]}, {"Name": "instance-state-name", "Values": ["running"]}])
        return found["Reservations"][0]["Instances"][0]["InstanceId"]

    def new_image(self, region: str = "us-east-1", name: str = "cli-test-image") -> str:
        ec2 = self.ec2(region)
        base = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}])
        instance = ec2.run_instances(ImageId=base["Images"][0]["ImageId"], MinCount=1, MaxCount=1,
                                     InstanceType="t3.micro")["Instances"][0]["InstanceId"]
        return ec2.create_image(InstanceId=instance, Name=name)["ImageId"]


@pytest.fixture(scope="session")
def emulator():
    """One moto server for the session, seeded once as `make run` seeds it (a running instance
    per architecture, the demo images). Seeding costs tens of seconds — moto loads its stock
    images per region — and nothing in these tests needs a pristine AWS, so tests share it and
    tell their own resources apart by name."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    _seed(url)
    yield url
    server.stop()


def _seed(url: str) -> None:
    # The images the shipped templates map exist before seeding, as in `make run`: the moto server
    # runs in this process, so the launcher's installer puts them into its EC2 backends.
    launcher_module().install_images(example_mapped_images())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", url)
        aws_gateway.clear_client_cache()
        call_command("seed_emulator", stdout=io.StringIO())
    aws_gateway.clear_client_cache()


def _seeded(url: str) -> bool:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=url)
    return bool(ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["cws-demo-instance"]}])["Reservations"])


@pytest.fixture
def registry(live_server, emulator, cli, monkeypatch, settings) -> Demo:
    # moto keeps one state per process: a test elsewhere that resets it (mock_aws, /moto-api/reset)
    # empties this server too; seed again then.
    if not _seeded(emulator):
        _seed(emulator)
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator)
    settings.REGISTRY_POLL_SECONDS = 1
    # The CLI is tested against the demo catalogue, seeded as `make run` seeds it (DEBUG on).
    with override_settings(DEBUG=True, REGISTRY_EMULATOR=True):
        call_command("seed_demo", stdout=io.StringIO())
    monkeypatch.setenv("CWS_REGISTRY_URL", live_server.url)
    return Demo(live_server.url, emulator, monkeypatch)


@pytest.fixture
def live(live_server, cli, monkeypatch) -> str:
    """The API over HTTP without AWS or demo data (tests make their own rows)."""
    monkeypatch.setenv("CWS_REGISTRY_URL", live_server.url)
    return live_server.url


# --- golden snapshots ------------------------------------------------------------------------------

_VOLATILE = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\bami-[0-9a-f]{17}\b"), "ami-<id>"),
    (re.compile(r"\bi-[0-9a-f]{17}\b"), "i-<id>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(T[0-9:.]+Z?)?\b"), "<date>"),
    (re.compile(r"http://(localhost|127\.0\.0\.1):\d+"), "http://<registry>"),
    (re.compile(r"\b\d+ ms\b"), "<n> ms"),
]


def normalise(text: str) -> str:
    """Human output with what changes from run to run (ids, dates, ports) replaced, trailing
    blanks dropped, and column padding squeezed (ids of other lengths shift the columns)."""
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    lines = [re.sub(r" {3,}", "   ", line.rstrip()) for line in text.splitlines()]
    lines = [re.sub(r"─{3,}", "───", line) for line in lines]
    return "\n".join(lines).strip() + "\n"


def assert_golden(name: str, text: str) -> None:
    """Compare with tests/cli/golden/<name>.txt; ``CWS_UPDATE_GOLDEN=1`` rewrites the file."""
    import os

    path = GOLDEN / f"{name}.txt"
    actual = normalise(text)
    if os.environ.get("CWS_UPDATE_GOLDEN") == "1" or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual)
        if os.environ.get("CWS_UPDATE_GOLDEN") != "1":
            pytest.fail(f"golden file {path} was missing and has been written: check it and commit it")
    assert actual == path.read_text(), f"human output of {name} changed (CWS_UPDATE_GOLDEN=1 to accept)"
