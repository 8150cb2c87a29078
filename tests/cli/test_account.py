"""``cws login``, ``whoami``, ``logout`` against the live registry."""
import json
import stat
import tomllib

import pytest
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_whoami_logout(live, cli, make_user):
    make_user("alice", password="alice-password-123")

    login = cli("login", input="alice\nalice-password-123\n").ok()
    assert f"Signed in to {live} as alice. Token saved in {cli.config_file}." in login.stdout
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    stored = tomllib.loads(cli.config_file.read_text())
    assert stored["url"] == live
    assert stored["auth"][live] == {"token": Token.objects.get(user__username="alice").key, "username": "alice"}

    me = cli("whoami", "--json").ok().json()
    assert me["username"] == "alice" and me["is_moderator"] is False and me["url"] == live
    assert me["communities"] == ["cloudworkstation"]
    # The claim tag that proves control of an image or instance (GET /me/claim).
    assert me["claim"]["key"] == "cws-registry-claim" and len(me["claim"]["value"]) >= 16
    human = cli("whoami").ok().stdout
    assert "alice <alice@example.org>" in human and "moderator" in human

    out = cli("logout", "--json").ok().json()
    assert out == {"url": live, "removed": True, "still_signed_in_by": None}
    assert live not in tomllib.loads(cli.config_file.read_text()).get("auth", {})
    no_login = cli("whoami")
    assert no_login.exit_code == 1
    assert "Error: Authentication credentials were not provided." in no_login.stderr
    assert "Hint: run `cws login`" in no_login.stderr


def test_login_with_a_token_and_with_password_stdin(live, cli, make_user):
    user = make_user("ci-bot", password="bot-password-123")
    token = Token.objects.create(user=user).key
    assert json.loads(cli("login", "--token", token, "--json").ok().stdout)["username"] == "ci-bot"
    cli("logout").ok()
    cli("login", "--username", "ci-bot", "--password-stdin", input="bot-password-123\n").ok()
    assert cli("whoami", "--json").ok().json()["username"] == "ci-bot"


def test_bad_credentials_and_bad_tokens(live, cli, make_user):
    make_user("alice", password="alice-password-123")
    wrong = cli("login", "-u", "alice", "--password-stdin", input="nope\n")
    assert wrong.exit_code == 1
    assert "Error: Unable to log in with the provided credentials." in wrong.stderr
    assert not cli.config_file.exists()  # nothing stored for a failed login

    forged = cli("login", "--token", "0" * 40)
    assert forged.exit_code == 1 and "the registry refused your token: Invalid token." in forged.stderr

    stale = cli("whoami", env={"CWS_REGISTRY_TOKEN": "f" * 40})
    assert stale.exit_code == 1 and "Hint: run `cws login`" in stale.stderr


def test_a_token_is_never_sent_to_another_registry(live, cli, make_user, live_server):
    """A token stored for one URL is not offered to another: there the client is anonymous."""
    make_user("alice", password="alice-password-123")
    cli("login", "-u", "alice", "--password-stdin", input="alice-password-123\n").ok()
    other = live.replace("localhost", "127.0.0.1") if "localhost" in live else live.replace("127.0.0.1", "localhost")
    result = cli("--url", other, "whoami")
    assert result.exit_code == 1 and "Authentication credentials were not provided." in result.stderr


def test_one_login_serves_both_clients(live, cli, make_user):
    """The CloudWorkstation client's config.json (daemon.url) and state.json (api_key) suffice."""
    user = make_user("shared", password="x-password-123")
    key = Token.objects.create(user=user).key
    folder = cli.home / ".cloudworkstation"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"daemon": {"url": live}, "aws": {"region": "eu-west-1"}}))
    (folder / "state.json").write_text(json.dumps({"config": {"api_key": key}}))
    me = cli("whoami", "--json", env={"CWS_REGISTRY_URL": None}).ok().json()
    assert me["username"] == "shared" and me["token_source"].endswith("state.json (config.api_key)")
    assert cli("logout", "--json", env={"CWS_REGISTRY_URL": None}).ok().json()["still_signed_in_by"].startswith(
        "the CloudWorkstation client's key")


def test_the_program_itself_in_a_process_of_its_own(live, cli, make_user, tmp_path):
    """`python -m cws` (what the console script runs): a real process, real stdout and exit code."""
    import os
    import subprocess
    import sys

    make_user("alice", password="alice-password-123")
    env = {**os.environ, "HOME": str(cli.home), "CWS_REGISTRY_URL": live}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    login = subprocess.run([sys.executable, "-m", "cws", "login", "-u", "alice", "--password-stdin"],
                           input="alice-password-123\n", capture_output=True, text=True, env=env, timeout=60)
    assert login.returncode == 0, login.stderr
    me = subprocess.run([sys.executable, "-m", "cws", "whoami", "--json"], capture_output=True, text=True, env=env,
                        timeout=60)
    assert me.returncode == 0 and json.loads(me.stdout)["username"] == "alice"
    bad = subprocess.run([sys.executable, "-m", "cws", "ami", "rate", "ami-0123456789abcdef0", "9"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "9 is not in the range 1<=x<=5" in bad.stderr and bad.stdout == ""
