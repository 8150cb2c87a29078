"""Where the client's settings come from, and where they are kept.

The client's own file is ``$XDG_CONFIG_HOME/cws/registry.toml`` (``~/.config/cws/registry.toml``
when XDG_CONFIG_HOME is unset), written with mode 0600 because it holds API tokens::

    url = "http://127.0.0.1:8000"
    region = "eu-west-1"
    output = "table"

    [auth."http://127.0.0.1:8000"]
    token = "…"
    username = "researcher"

Tokens are kept per registry URL and only ever sent to the URL they were issued by, so pointing
the client at another server with ``--url`` never leaks a token to it.

Precedence, highest first (``cws config get`` shows which layer answered):

* url:    ``--url`` → ``CWS_REGISTRY_URL`` → registry.toml → the CloudWorkstation client's
          ``~/.cloudworkstation/config.json`` (``daemon.url``; ``CWSD_URL`` overrides it, as in
          that client) → ``http://127.0.0.1:8000``;
* token:  ``CWS_REGISTRY_TOKEN`` → registry.toml (for that URL) → ``~/.cloudworkstation/state.json``
          (``config.api_key``, when the URL is the CloudWorkstation client's URL);
* region: ``--region`` → registry.toml → config.json ``aws.region`` → ``AWS_REGION`` →
          ``AWS_DEFAULT_REGION`` → none (the registry then uses your account's default region);
* output: ``--json`` → registry.toml ``output`` → ``table``.

Reading the CloudWorkstation client's files means one login serves both clients.
"""
from __future__ import annotations

import json
import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from cws.errors import LocalError

DEFAULT_URL = "http://127.0.0.1:8000"
FILE_NAME = "registry.toml"
OUTPUT_FORMATS = ("table", "json")
# Keys `cws config set` accepts (tokens are set by `cws login`, never typed on a command line).
SETTABLE = ("url", "region", "output")


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    if url and "://" not in url:
        url = f"http://{url}"
    return url


def config_dir(env: os._Environ | dict | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(_home(env)) / ".config")
    return Path(base) / "cws"


def config_path(env=None) -> Path:
    return config_dir(env) / FILE_NAME


def go_client_dir(env=None) -> Path:
    """The real CloudWorkstation client keeps its files in ``~/.cloudworkstation``."""
    return Path(_home(os.environ if env is None else env)) / ".cloudworkstation"


def _home(env) -> str:
    return env.get("HOME") or str(Path.home())


# --- the client's own file ----------------------------------------------------------------------

def read_file(path: Path | None = None) -> dict:
    path = path or config_path()
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LocalError(f"cannot read {path}: {exc}",
                         hint="fix or delete the file, then run `cws login` again") from None


def write_file(values: dict, path: Path | None = None) -> Path:
    """Write the config atomically with mode 0600 (it holds tokens): a temporary file in the same
    directory, created 0600, then renamed over the old one."""
    path = path or config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".registry-", suffix=".toml")
        try:
            with os.fdopen(fd, "wb") as handle:
                tomli_w.dump(_drop_empty(values), handle)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise LocalError(f"cannot write {path}: {exc}") from None
    return path


def _drop_empty(values: dict) -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _drop_empty(value)
            if value:
                out[key] = value
        elif value not in (None, ""):
            out[key] = value
    return out


# --- the CloudWorkstation client's files --------------------------------------------------------

def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # absent or unreadable: that client's files are optional for us
    return data if isinstance(data, dict) else {}


def _dig(data: dict, *keys) -> str:
    for key in keys:
        if not isinstance(data, dict):
            return ""
        data = data.get(key)
    return data.strip() if isinstance(data, str) else ""


@dataclass
class GoClient:
    url: str = ""
    url_source: str = ""
    region: str = ""
    api_key: str = ""

    @classmethod
    def load(cls, env) -> GoClient:
        folder = go_client_dir(env)
        config = _read_json(folder / "config.json")
        state = _read_json(folder / "state.json")
        url, source = _dig(config, "daemon", "url"), f"{folder / 'config.json'} (daemon.url)"
        if env.get("CWSD_URL"):
            url, source = env["CWSD_URL"], "CWSD_URL (CloudWorkstation client)"
        return cls(url=normalise_url(url) if url else "", url_source=source if url else "",
                   region=_dig(config, "aws", "region"), api_key=_dig(state, "config", "api_key"))


# --- resolved settings --------------------------------------------------------------------------

@dataclass
class Value:
    value: str | None
    source: str


@dataclass
class Settings:
    url: Value
    token: Value
    region: Value
    output: Value
    username: str = ""
    path: Path = field(default_factory=config_path)
    file: dict = field(default_factory=dict)

    def as_dict(self, *, show_token: bool = False) -> dict:
        token = self.token.value
        if token and not show_token:
            token = f"{token[:4]}…{token[-4:]}" if len(token) > 12 else "…"
        return {
            "url": {"value": self.url.value, "source": self.url.source},
            "token": {"value": token, "source": self.token.source},
            "region": {"value": self.region.value, "source": self.region.source},
            "output": {"value": self.output.value, "source": self.output.source},
            "username": self.username or None,
            "config_file": str(self.path),
        }


def load(*, url: str | None = None, region: str | None = None, json_flag: bool = False,
         env=None) -> Settings:
    """Resolve every setting through the precedence above."""
    env = os.environ if env is None else env
    path = config_path(env)
    file = read_file(path)
    go = GoClient.load(env)
    file_label = str(path)

    if url:
        chosen_url = Value(normalise_url(url), "--url")
    elif env.get("CWS_REGISTRY_URL"):
        chosen_url = Value(normalise_url(env["CWS_REGISTRY_URL"]), "CWS_REGISTRY_URL")
    elif isinstance(file.get("url"), str) and file["url"].strip():
        chosen_url = Value(normalise_url(file["url"]), file_label)
    elif go.url:
        chosen_url = Value(go.url, go.url_source)
    else:
        chosen_url = Value(DEFAULT_URL, "default")

    auth = file.get("auth") if isinstance(file.get("auth"), dict) else {}
    entry = auth.get(chosen_url.value) if isinstance(auth.get(chosen_url.value), dict) else {}
    username = entry.get("username", "") if isinstance(entry.get("username"), str) else ""
    if env.get("CWS_REGISTRY_TOKEN"):
        token = Value(env["CWS_REGISTRY_TOKEN"].strip(), "CWS_REGISTRY_TOKEN")
    elif isinstance(entry.get("token"), str) and entry["token"]:
        token = Value(entry["token"], f"{file_label} [auth.\"{chosen_url.value}\"]")
    elif go.api_key and go.url and go.url == chosen_url.value:
        token = Value(go.api_key, f"{go_client_dir(env) / 'state.json'} (config.api_key)")
    else:
        token = Value(None, "not signed in")

    if region:
        chosen_region = Value(region, "--region")
    elif isinstance(file.get("region"), str) and file["region"].strip():
        chosen_region = Value(file["region"].strip(), file_label)
    elif go.region:
        chosen_region = Value(go.region, f"{go_client_dir(env) / 'config.json'} (aws.region)")
    elif env.get("AWS_REGION"):
        chosen_region = Value(env["AWS_REGION"], "AWS_REGION")
    elif env.get("AWS_DEFAULT_REGION"):
        chosen_region = Value(env["AWS_DEFAULT_REGION"], "AWS_DEFAULT_REGION")
    else:
        chosen_region = Value(None, "not set (the registry chooses)")

    if json_flag:
        output = Value("json", "--json")
    elif file.get("output") in OUTPUT_FORMATS:
        output = Value(file["output"], file_label)
    else:
        output = Value("table", "default")
    return Settings(url=chosen_url, token=token, region=chosen_region, output=output, username=username,
                    path=path, file=file)


def set_value(key: str, value: str, env=None) -> Path:
    """``cws config set``: validate and store one key in registry.toml."""
    if key not in SETTABLE:
        raise LocalError(f"unknown setting '{key}': choose one of {', '.join(SETTABLE)}",
                         hint="tokens are stored by `cws login`")
    value = value.strip()
    if key == "url":
        value = normalise_url(value)
        if not value.startswith(("http://", "https://")):
            raise LocalError(f"not an http(s) URL: {value}")
    if key == "output" and value not in OUTPUT_FORMATS:
        raise LocalError(f"output must be one of {', '.join(OUTPUT_FORMATS)}")
    path = config_path(env)
    data = read_file(path)
    data[key] = value
    return write_file(data, path)


def unset_value(key: str, env=None) -> Path:
    if key not in SETTABLE:
        raise LocalError(f"unknown setting '{key}': choose one of {', '.join(SETTABLE)}")
    path = config_path(env)
    data = read_file(path)
    data.pop(key, None)
    return write_file(data, path)


def save_login(*, url: str, token: str, username: str, remember_url: bool, env=None) -> Path:
    path = config_path(env)
    data = read_file(path)
    auth = data.get("auth") if isinstance(data.get("auth"), dict) else {}
    auth[url] = {"token": token, "username": username}
    data["auth"] = auth
    if remember_url or not data.get("url"):
        data["url"] = url
    return write_file(data, path)


def forget_login(*, url: str, env=None) -> bool:
    """Remove the stored token for ``url``; True when there was one."""
    path = config_path(env)
    data = read_file(path)
    auth = data.get("auth") if isinstance(data.get("auth"), dict) else {}
    if url not in auth:
        return False
    del auth[url]
    data["auth"] = auth
    write_file(data, path)
    return True
