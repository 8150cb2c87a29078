"""The ``cws`` command line: the root group, the ``ami`` group, error reporting and exit codes."""
from __future__ import annotations

import os
import sys
import traceback

import click

from cws import __version__
from cws.commands import account, aws_work, catalogue, launching, publishing, resolving, versions
from cws.core import CONTEXT_SETTINGS, State, common_options, examples_epilog
from cws.errors import LOCAL, CwsError


class CwsGroup(click.Group):
    """The root group: turns every ``CwsError`` into its message and exit code (never a traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CwsError as err:
            _report(ctx, err)
            ctx.exit(err.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 — a bug must still read as a message and exit 2
            if os.environ.get("CWS_DEBUG"):
                raise
            _report(ctx, CwsError(f"unexpected error: {type(exc).__name__}: {exc}",
                                  hint="set CWS_DEBUG=1 to see the traceback, and please report it"))
            ctx.exit(LOCAL)
        finally:
            state = ctx.find_object(State)
            if state is not None:
                state.close()


def _report(ctx: click.Context, err: CwsError) -> None:
    state = ctx.find_object(State) or State()
    try:
        state.out.error(err)
    except Exception:  # noqa: BLE001 — reporting must not fail; fall back to plain stderr
        sys.stderr.write(f"Error: {err.message}\n")
        if os.environ.get("CWS_DEBUG"):
            traceback.print_exc()


@click.group(cls=CwsGroup, context_settings=CONTEXT_SETTINGS, epilog=examples_epilog([
    "cws login",
    "cws ami browse pytorch --region us-east-1",
    "cws ami info ami-0123456789abcdef0",
    "cws launch python-ml-ami my-ml --region eu-west-1 --show-ami-resolution",
    "cws ami create-multi python-ml-ami i-0123456789abcdef0 --regions us-east-1,us-west-2",
    "cws --url http://127.0.0.1:8000 ami resolve python-ml-ami --region eu-west-1 --json",
]) + "\n\n\bExit codes: 0 done · 1 the registry or AWS said no, or the work failed · 2 usage or local "
    "problem (e.g. no server at the URL).")
@click.version_option(__version__, "--version", "-V", prog_name="cws")
@common_options
@click.pass_context
def cli(ctx: click.Context):
    """cws — the Community AMI Registry's command-line client.

    Browse, rate and share community AMIs, create them from your instances in several regions,
    resolve which AMI a template launches from, and launch workstations.
    """
    ctx.ensure_object(State)


@cli.group("ami", cls=click.Group, context_settings=CONTEXT_SETTINGS, epilog=examples_epilog([
    "cws ami browse --category 'Machine Learning' --verified",
    "cws ami rate ami-0123456789abcdef0 5 --review 'works great'",
    "cws ami resolve python-ml-ami --region eu-west-1",
]))
@common_options
def ami():
    """Community AMIs: catalogue, publishing, AWS work and the resolver."""


for module_commands in (
        (catalogue.browse, catalogue.info, catalogue.rate, catalogue.reviews, catalogue.diff),
        (publishing.register, publishing.submit, publishing.share, publishing.unshare, publishing.shares,
         publishing.deprecate, publishing.revoke, publishing.approve, publishing.reject, publishing.copy),
        (aws_work.create, aws_work.create_multi, aws_work.status, aws_work.list_mine, aws_work.operations),
        (resolving.resolve, resolving.preview, resolving.test, resolving.costs),
        (versions.lineages, versions.lineage, versions.channel)):
    for cmd in module_commands:
        ami.add_command(cmd)

for cmd in (account.login, account.logout, account.whoami, account.config_group, account.completion,
            launching.launch):
    cli.add_command(cmd)


def main() -> None:
    """Console-script entry point (``cws``)."""
    cli(prog_name="cws", complete_var="_CWS_COMPLETE")
