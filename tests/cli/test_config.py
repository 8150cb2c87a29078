"""Where settings come from (flag → environment → registry.toml → the CloudWorkstation client's
files → default), where the file lives (XDG_CONFIG_HOME, HOME), and its 0600 mode."""
import json
import stat
import tomllib

import pytest


def go_client(home, *, url=None, region=None, api_key=None):
    folder = home / ".cloudworkstation"
    folder.mkdir(exist_ok=True)
    config = {}
    if url:
        config["daemon"] = {"url": url}
    if region:
        config["aws"] = {"region": region}
    (folder / "config.json").write_text(json.dumps(config))
    if api_key:
        (folder / "state.json").write_text(json.dumps({"config": {"api_key": api_key}}))


def get(cli, key, **env):
    return cli("config", "get", key, "--json", env=env or None).ok().json()


def test_url_precedence_from_default_to_flag(cli, monkeypatch):
    assert get(cli, "url") == {"key": "url", "value": "http://127.0.0.1:8000", "source": "default"}

    go_client(cli.home, url="http://go-client:8947")
    assert get(cli, "url")["value"] == "http://go-client:8947"
    assert get(cli, "url")["source"].endswith("config.json (daemon.url)")
    assert get(cli, "url", CWSD_URL="http://cwsd-env:1")["value"] == "http://cwsd-env:1"

    cli("config", "set", "url", "http://from-file:8000/").ok()  # normalised: no trailing slash
    assert get(cli, "url") == {"key": "url", "value": "http://from-file:8000", "source": str(cli.config_file)}

    assert get(cli, "url", CWS_REGISTRY_URL="http://from-env:9")["value"] == "http://from-env:9"
    flagged = cli("--url", "http://from-flag:7/api/v1", "config", "get", "url", "--json",
                  env={"CWS_REGISTRY_URL": "http://from-env:9"}).ok().json()
    assert flagged == {"key": "url", "value": "http://from-flag:7", "source": "--url"}
    # The option works after the command as well, and the last one given wins.
    assert cli("--url", "http://a:1", "config", "get", "url", "--url", "http://b:2", "--json").ok().json()[
        "value"] == "http://b:2"


def test_region_precedence(cli):
    assert get(cli, "region", AWS_DEFAULT_REGION="ap-south-1") == {
        "key": "region", "value": "ap-south-1", "source": "AWS_DEFAULT_REGION"}
    assert get(cli, "region", AWS_DEFAULT_REGION="ap-south-1", AWS_REGION="eu-north-1")["value"] == "eu-north-1"
    go_client(cli.home, region="eu-west-1")
    assert get(cli, "region", AWS_REGION="eu-north-1")["value"] == "eu-west-1"
    cli("config", "set", "region", "us-west-2").ok()
    assert get(cli, "region", AWS_REGION="eu-north-1")["value"] == "us-west-2"
    cli("config", "unset", "region").ok()
    assert get(cli, "region")["value"] == "eu-west-1"


def test_tokens_belong_to_their_url(cli):
    """A token from the CloudWorkstation client's state.json serves that client's URL only, and
    the environment's token wins over everything."""
    go_client(cli.home, url="http://shared:8000", api_key="go-client-key-0123456789")
    token = get(cli, "token")
    assert token["value"] == "go-c…6789" and token["source"].endswith("state.json (config.api_key)")
    other = cli("--url", "http://elsewhere:8000", "config", "get", "token", "--json").ok().json()
    assert other == {"key": "token", "value": None, "source": "not signed in"}
    env = get(cli, "token", CWS_REGISTRY_TOKEN="environment-token-abcdef")
    assert env == {"key": "token", "value": "envi…cdef", "source": "CWS_REGISTRY_TOKEN"}


def test_config_file_location_and_mode(cli, tmp_path):
    written = cli("config", "set", "output", "json").ok()
    assert json.loads(written.stdout)["config_file"] == str(cli.config_file)
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    assert tomllib.loads(cli.config_file.read_text()) == {"output": "json"}
    # output = json in the file: every command now answers JSON without --json.
    assert json.loads(cli("config", "get", "output").ok().stdout)["value"] == "json"

    xdg = tmp_path / "xdg"
    moved = cli("config", "path", env={"XDG_CONFIG_HOME": str(xdg)}).ok()
    assert moved.stdout.strip() == str(xdg / "cws" / "registry.toml")


def test_human_config_listing(cli):
    cli("config", "set", "region", "eu-west-1").ok()
    listing = cli("config", "get").ok().stdout
    assert "region    eu-west-1" in listing and "not signed in" in listing and str(cli.config_file) in listing


@pytest.mark.parametrize("args, message", [
    (("config", "set", "token", "x"), "Invalid value for '{url|region|output}'"),
    (("config", "set", "output", "yaml"), "output must be one of table, json"),
    (("config", "set", "url", "ftp://x"), "not an http(s) URL"),
])
def test_bad_settings_are_usage_errors(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and message in result.stderr


def test_an_unreadable_config_file_is_a_local_error(cli):
    cli.config_file.parent.mkdir(parents=True)
    cli.config_file.write_text("url = [unclosed")
    result = cli("ami", "browse", "--json")
    assert result.exit_code == 2
    assert result.json()["error"]["message"].startswith(f"cannot read {cli.config_file}")
    assert "Hint: fix or delete the file" in result.stderr
