"""The client is a distribution of its own: it never imports Django or the registry's apps,
``pip install ./`` builds a wheel of ``cws`` only, and every command documents itself."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import pytest

from cws.cli import cli as root

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = ("django", "rest_framework", "drf_spectacular", "celery", "registry", "templates", "amis",
                   "ratings", "sharing", "resolver", "psycopg")

# Runs in a fresh interpreter: refuses to import any server package, imports every cws module,
# runs --help of every command, and reports what got imported.
IMPORT_EVERYTHING = f"""
import importlib, importlib.abc, pkgutil, sys

BLOCKED = {SERVER_PACKAGES!r}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the client imported {{name}}")
        return None

sys.meta_path.insert(0, Refuse())
import cws
modules = [m.name for m in pkgutil.walk_packages(cws.__path__, "cws.")]
for name in modules:
    importlib.import_module(name)

from click.testing import CliRunner
from cws.cli import cli

def walk(command, path):
    yield path
    for name, sub in getattr(command, "commands", {{}}).items():
        yield from walk(sub, path + [name])

for path in walk(cli, []):
    result = CliRunner().invoke(cli, path + ["--help"])
    assert result.exit_code == 0, (path, result.output)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
print(len(modules), "modules")
"""


def test_the_client_never_imports_django_or_the_apps():
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"})
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) >= 12  # every module of the package was imported


def _leaves(command: click.Command, path=()):
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, (*path, name))


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in _leaves(root)])
def test_every_command_has_examples_url_and_json(path):
    command = dict((" ".join(p), c) for p, c in _leaves(root))[path]
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    if path != "completion":  # prints a shell script: neither a registry nor JSON is involved
        assert {"--url", "--json"} <= options, path
    assert "Examples:" in (command.epilog or ""), path
    assert f"cws {path}" in command.epilog, path


def test_completion_script_names_the_program(cli):
    result = cli("completion", "bash").ok()
    assert "_CWS_COMPLETE" in result.stdout and "complete " in result.stdout


@pytest.mark.slow
def test_pip_install_builds_a_wheel_of_the_client_only(tmp_path):
    """What `pip install ./` installs: the cws package, its console script and dependencies."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("cws_registry_client-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"cws"}, packages
    assert "cws/commands/launching.py" in names
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "cws = cws.cli:main" in entry_points
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    requires = {line.split(":", 1)[1].strip().split("<")[0].split(">")[0] for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")}
    assert {"httpx", "click", "rich", "tomli-w", "boto3", "cryptography"} <= requires
    assert not any(r.lower().startswith("django") for r in requires)
