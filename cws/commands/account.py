"""Account and settings: ``cws login``, ``logout``, ``whoami``, ``config``, ``completion``."""
from __future__ import annotations

import sys

import click
from click.shell_completion import get_completion_class

from cws import config
from cws.api import FeatureMissing, Registry
from cws.core import CONTEXT_SETTINGS, State, command, common_options, examples_epilog, pass_state
from cws.errors import LocalError
from cws.output import yes_no


def _claim(api: Registry) -> dict | None:
    """The caller's claim tag, or None when the registry has no claim tags yet."""
    try:
        return api.get("/me/claim", feature="claim tags")
    except FeatureMissing:
        return None


@command("login", examples=[
    "cws login                                  # asks for username and password",
    "cws login --url https://registry.example.org",
    "cws login --token \"$CWS_TOKEN\"              # CI: a token instead of a password",
    "printf '%s' \"$PASSWORD\" | cws login --username alice --password-stdin",
])
@click.option("--username", "-u", help="Registry username (asked when missing).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of asking.")
@click.option("--token", help="Use this API token instead of a password (it is checked with the registry).")
@pass_state
def login(state: State, username: str | None, password_stdin: bool, token: str | None):
    """Sign in to the registry and keep the token in the config file (mode 0600).

    The URL is --url, else CWS_REGISTRY_URL, else the configured one; a --url given here is
    also remembered as the default.
    """
    settings = state.settings
    url = settings.url.value
    if not token:
        if not username:
            if password_stdin:
                raise LocalError("--password-stdin needs --username", hint="or pass --token for a token")
            username = click.prompt("Username", default=settings.username or None)
        password = (sys.stdin.readline().rstrip("\n") if password_stdin
                    else click.prompt("Password", hide_input=True))
        anonymous = Registry(url, notify=state.out.note)
        try:
            token = anonymous.post("/auth/token", {"username": username, "password": password})["token"]
        finally:
            anonymous.close()
    api = Registry(url, token=token, notify=state.out.note)
    try:
        me = api.get("/me")
    finally:
        api.close()
    path = config.save_login(url=url, token=token, username=me.get("username", username or ""),
                             remember_url=settings.url.source == "--url")
    state.out.result({"url": url, "username": me.get("username"), "is_moderator": me.get("is_moderator", False),
                      "config_file": str(path)},
                     lambda _: state.out.line(f"Signed in to {url} as {me.get('username')}. Token saved in {path}."))


@command("logout", examples=["cws logout", "cws logout --url https://registry.example.org"])
@pass_state
def logout(state: State):
    """Forget the token stored for the registry URL (other registries' tokens stay)."""
    settings = state.settings
    url = settings.url.value
    removed = config.forget_login(url=url)
    remaining = None
    if settings.token.source == "CWS_REGISTRY_TOKEN":
        remaining = "CWS_REGISTRY_TOKEN is still set and still signs you in"
    elif settings.token.source.endswith("(config.api_key)"):
        remaining = f"the CloudWorkstation client's key ({settings.token.source}) is left alone"

    def render(_):
        state.out.line(f"Signed out of {url}." if removed else f"No token was stored for {url}.")
        if remaining:
            state.out.warn(remaining)

    state.out.result({"url": url, "removed": removed, "still_signed_in_by": remaining}, render)


@command("whoami", examples=["cws whoami", "cws whoami --json"])
@pass_state
def whoami(state: State):
    """Show who the registry thinks you are."""
    api = state.api()
    me = api.get("/me")
    me["claim"] = _claim(api)
    me["url"] = state.settings.url.value
    me["token_source"] = state.settings.token.source

    def render(data):
        state.out.fields([
            ("user", f"{data.get('username')} <{data.get('email') or 'no email'}>"),
            ("registry", data["url"]),
            ("moderator", yes_no(data.get("is_moderator"))),
            ("communities", ", ".join(data.get("communities") or []) or "none"),
            ("default region", data.get("default_region") or state.settings.region.value),
            ("claim tag", f"{data['claim']['key']}={data['claim']['value']}" if data.get("claim") else None),
            ("token from", data["token_source"]),
        ])

    state.out.result(me, render)


# --- config ---------------------------------------------------------------------------------------

@click.group("config", context_settings=CONTEXT_SETTINGS, epilog=examples_epilog([
    "cws config get", "cws config get url", "cws config set region eu-west-1", "cws config set output json",
    "cws config unset region", "cws config path"]))
@common_options
def config_group():
    """Read and change the client's settings (url, region, output)."""


@command("get", examples=["cws config get", "cws config get region --json"])
@click.argument("key", required=False, type=click.Choice(["url", "token", "region", "output"]))
@pass_state
def config_get(state: State, key: str | None):
    """Show the settings in effect and where each comes from."""
    data = state.settings.as_dict()
    if key:
        state.out.result({"key": key, **data[key]},
                         lambda d: state.out.line(str(d["value"]) if d["value"] is not None else ""))
        return

    def render(d):
        state.out.table(["SETTING", "VALUE", "FROM"],
                        [(k, d[k]["value"] or "", d[k]["source"]) for k in ("url", "token", "region", "output")])
        state.out.line(f"config file: {d['config_file']}", style="dim")

    state.out.result(data, render)


@command("set", examples=["cws config set url http://127.0.0.1:8000", "cws config set region us-west-2"])
@click.argument("key", type=click.Choice(list(config.SETTABLE)))
@click.argument("value")
@pass_state
def config_set(state: State, key: str, value: str):
    """Store one setting in the config file."""
    path = config.set_value(key, value)
    stored = config.read_file(path)[key]
    state.out.result({"key": key, "value": stored, "config_file": str(path)},
                     lambda d: state.out.line(f"{key} = {stored}  ({path})"))


@command("unset", examples=["cws config unset region"])
@click.argument("key", type=click.Choice(list(config.SETTABLE)))
@pass_state
def config_unset(state: State, key: str):
    """Remove one setting from the config file (the next layer then applies)."""
    path = config.unset_value(key)
    state.out.result({"key": key, "config_file": str(path)}, lambda d: state.out.line(f"{key} unset ({path})"))


@command("path", examples=["cws config path"])
@pass_state
def config_where(state: State):
    """Print the config file's path."""
    path = config.config_path()
    state.out.result({"config_file": str(path), "exists": path.exists()}, lambda d: state.out.line(str(path)))


config_group.add_command(config_get)
config_group.add_command(config_set)
config_group.add_command(config_unset)
config_group.add_command(config_where)


# --- completion -------------------------------------------------------------------------------

@click.command("completion", context_settings=CONTEXT_SETTINGS, epilog=examples_epilog([
    "cws completion bash > ~/.local/share/bash-completion/completions/cws",
    "cws completion zsh > \"${fpath[1]}/_cws\"",
    "cws completion fish > ~/.config/fish/completions/cws.fish",
    "eval \"$(cws completion bash)\"        # this shell only"]))
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str):
    """Print the shell completion script (commands, options, template names)."""
    root = ctx.find_root()
    cls = get_completion_class(shell)
    click.echo(cls(root.command, {}, root.info_name or "cws", "_CWS_COMPLETE").source())
