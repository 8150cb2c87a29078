"""What every command shares: the per-invocation state (settings, output, API client), the
``--url``/``--json`` options every command accepts, help epilogs with examples, completion."""
from __future__ import annotations

import functools
import sys
from collections.abc import Sequence

import click

from cws import config
from cws.api import Registry
from cws.errors import LocalError
from cws.output import Output

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class State:
    """Options gathered from every level of the command line, and what they resolve to."""

    def __init__(self):
        self.url_flag: str | None = None
        self.json_flag = False
        self._settings: config.Settings | None = None
        self._out: Output | None = None
        self._apis: dict = {}

    @property
    def settings(self) -> config.Settings:
        if self._settings is None:
            self._settings = config.load(url=self.url_flag, json_flag=self.json_flag)
        return self._settings

    @property
    def out(self) -> Output:
        if self._out is None:
            try:
                json_mode = self.settings.output.value == "json"
            except LocalError:
                json_mode = self.json_flag  # an unreadable config file must still be reported
            self._out = Output(json_mode=json_mode)
        return self._out

    @property
    def json_mode(self) -> bool:
        return self.out.json_mode

    def region(self, flag: str | None = None) -> str | None:
        return flag or self.settings.region.value

    def require_region(self, flag: str | None = None, *, why: str = "") -> str:
        region = self.region(flag)
        if not region:
            raise LocalError(f"no AWS region given{f' ({why})' if why else ''}",
                             hint="pass --region, or set one: `cws config set region us-east-1`")
        return region

    def api(self, *, region: str | None = None) -> Registry:
        region = region or self.settings.region.value
        if region not in self._apis:
            self._apis[region] = Registry(self.settings.url.value, token=self.settings.token.value, region=region,
                                          notify=self.out.note)
        return self._apis[region]

    def close(self) -> None:
        for api in self._apis.values():
            api.close()

    @property
    def interactive(self) -> bool:
        """May we ask a question? Not in JSON mode, and only with a person on stdin."""
        return not self.json_mode and sys.stdin.isatty()

    def confirm(self, question: str, *, yes: bool) -> bool:
        """``--yes`` consents; without it ask a person, and take silence (no terminal) as no."""
        if yes:
            return True
        if not self.interactive:
            return False
        return click.confirm(question, default=False, err=True)


pass_state = click.make_pass_decorator(State, ensure=True)


def _store(attribute: str):
    def callback(ctx: click.Context, param: click.Parameter, value):
        if value not in (None, False):
            setattr(ctx.ensure_object(State), attribute, value)
        return value

    return callback


def common_options(func):
    """``--url`` and ``--json``, accepted by every command and group (the last one given wins)."""
    func = click.option("--json", "json_flag", is_flag=True, expose_value=False, callback=_store("json_flag"),
                        help="Print machine-readable JSON on stdout (errors too, under \"error\").")(func)
    func = click.option("--url", metavar="URL", expose_value=False, callback=_store("url_flag"),
                        help="Registry URL for this command (else CWS_REGISTRY_URL, then the config file).")(func)
    return func


def examples_epilog(examples: Sequence[str]) -> str:
    # "\b" keeps click from re-wrapping the block.
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in examples)


def command(name: str | None = None, *, examples: Sequence[str], **kwargs):
    """A command with the common options and an "Examples:" epilog in its --help."""
    def decorate(func):
        func = common_options(func)
        cmd = click.command(name, epilog=examples_epilog(examples), context_settings=CONTEXT_SETTINGS,
                            **kwargs)(func)
        # --url/--json last in --help: the command's own options are what its reader looks for.
        common = [p for p in cmd.params if p.name in ("url_flag", "json_flag")]
        cmd.params = [p for p in cmd.params if p not in common] + common
        return cmd

    return decorate


def csv_list(ctx, param, value) -> list[str]:
    """``--regions a,b --regions c`` → [a, b, c] (order kept, duplicates dropped)."""
    items: list[str] = []
    for chunk in value or ():
        for item in str(chunk).split(","):
            item = item.strip()
            if item and item not in items:
                items.append(item)
    return items


def tag_pairs(ctx, param, value) -> dict:
    """``--tag k=v`` (repeatable) → {k: v}."""
    tags = {}
    for item in value or ():
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"'{item}' is not KEY=VALUE", ctx=ctx, param=param)
        tags[key.strip()] = val.strip()
    return tags


@functools.lru_cache(maxsize=8)
def _template_slugs(url: str, token: str | None) -> tuple[str, ...]:
    api = Registry(url, token=token, timeout=2.0, retries=0)
    try:
        body = api.get("/templates/", params={"page_size": 100})
        return tuple(t.get("slug", "") for t in body.get("results", []))
    finally:
        api.close()


def complete_template(ctx: click.Context, param, incomplete: str):
    """Shell completion of template slugs, asked of the registry (silent when it is away)."""
    try:
        settings = (ctx.find_object(State) or State()).settings
        return [s for s in _template_slugs(settings.url.value, settings.token.value) if s.startswith(incomplete)]
    except Exception:  # noqa: BLE001 — completion must never print an error into the shell
        return []


REGION_OPTION_HELP = "AWS region (else the config's region, then AWS_REGION / AWS_DEFAULT_REGION)."


def region_option(func=None, *, help_text: str = REGION_OPTION_HELP):
    def decorate(f):
        return click.option("--region", "-r", metavar="REGION", help=help_text)(f)

    return decorate(func) if func is not None else decorate
