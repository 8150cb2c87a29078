"""AWS work done by the registry: ``cws ami create``, ``create-multi``, ``status``, ``list``,
``operations``. Creation and copies run as Operations in the registry's workers; these commands
start them and follow them live."""
from __future__ import annotations

import re

import click

from cws.api import ApiError, Registry, quote_segment
from cws.core import State, command, complete_template, csv_list, pass_state, region_option, tag_pairs
from cws.errors import Refused
from cws.output import Output
from cws.progress import CreationTracker, watch

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def creation_options(func):
    for decorator in reversed([
        click.option("--description", "-d", default="", help="Description of the AMI."),
        click.option("--version", "version_", metavar="VERSION", default="", help="Version label."),
        click.option("--tag", "tags", multiple=True, callback=tag_pairs, metavar="KEY=VALUE",
                     help="Tag for the image (repeatable)."),
        click.option("--public", is_flag=True, help="Make the image public in AWS once a moderator approves it."),
        click.option("--share-with", multiple=True, callback=csv_list, metavar="ACCOUNT",
                     help="AWS account ids to give launch permission (comma-separated or repeated)."),
        click.option("--community", help="Community to share it with."),
        click.option("--reboot", is_flag=True, help="Reboot the instance for a consistent file system (default: no "
                                                    "reboot)."),
        click.option("--wait/--no-wait", default=True, show_default=True,
                     help="Follow the creation until it ends (Ctrl-C stops watching, not the work)."),
    ]):
        func = decorator(func)
    return func


def _start_creation(state: State, *, instance: str, template: str, name: str, source_region: str | None,
                    copy_to: list[str], description: str, version_: str, tags: dict, public: bool,
                    share_with: list[str], community: str | None, reboot: bool, wait: bool):
    api = state.api(region=source_region)
    body = {"instance_id": instance, "template_name": template, "name": name or "", "description": description,
            "version": version_, "tags": tags, "public": public, "share_with": share_with,
            "multi_region": [r for r in copy_to if r != source_region], "no_reboot": not reboot}
    if community:
        body["community"] = community
    if source_region:
        body["region"] = source_region
    started = api.post("/ami/create", body, what=instance)
    creation_id = started["creation_id"]
    if not wait:
        state.out.result(started, lambda s: (
            state.out.line(f"Creating an AMI from {instance} in {', '.join(s['target_regions'])}: "
                           f"creation {creation_id} ({s['status']}, about {s['estimated_completion_minutes']} min)."),
            state.out.line(f"Follow it with: cws ami status {creation_id} --wait", style="dim")))
        return
    if not state.json_mode:
        state.out.line(f"Creating an AMI from {instance} (template {started['template_name']}) in "
                       f"{', '.join(started['target_regions'])} — creation {creation_id}, about "
                       f"{started['estimated_completion_minutes']} min.")
    follow_creation(state, api, creation_id, started=started)


def follow_creation(state: State, api: Registry, creation_id: str, *, started: dict | None = None) -> None:
    """Watch a creation to its end, print the outcome; exit 1 when it failed."""
    tracker = CreationTracker(api, creation_id)
    parts = watch(tracker, state.out, resume_hint=f"cws ami status {creation_id} --wait")
    final = tracker.final(parts)
    if started:
        final["started"] = started
    _render_outcome(state.out, final)
    if final.get("status") == "failed":
        raise click.exceptions.Exit(1)


def _render_outcome(out: Output, status: dict) -> None:
    def render(s):
        regions = s.get("region_results") or {}
        if s.get("status") == "completed":
            out.line(f"Done: {s.get('ami_id')} available in {len(regions)} region(s): "
                     + ", ".join(f"{r} {v.get('ami_id')}" for r, v in regions.items()) + ".", style="green")
            if s.get("registry_id"):
                out.line(f"Registry entry {s['registry_id']} is a draft; next: cws ami submit {s['registry_id']} "
                         "--public", style="dim")
        elif s.get("status") == "failed":
            out.line(f"Failed: {s.get('message')}", style="bold red")
        else:
            out.line(f"{s.get('status')} ({s.get('progress')}%): {s.get('message')}")

    out.result(status, render)


@command("create", examples=[
    "cws ami create i-0123456789abcdef0 --name ml-2025-06 --template python-ml-ami",
    "cws ami create i-0123456789abcdef0 -n ml --template python-ml-ami --regions us-west-2,eu-west-1",
    "cws ami create i-0123456789abcdef0 -n ml -t python-ml-ami --no-wait --json | jq -r .creation_id",
])
@click.argument("instance")
@click.option("--name", "-n", default="", help="AMI name (default: cws-<template>-<time>).")
@click.option("--template", "-t", required=True, shell_complete=complete_template,
              help="Template the image is built for (slug or name).")
@click.option("--regions", multiple=True, callback=csv_list, metavar="A,B",
              help="Regions to copy the new image to (comma-separated or repeated).")
@region_option(help_text="Region of the instance (else the configured region).")
@creation_options
@pass_state
def create(state: State, instance, name, template, regions, region, **options):
    """Create a community AMI from one of your running instances (then copy it to --regions)."""
    _start_creation(state, instance=instance, template=template, name=name, source_region=state.region(region),
                    copy_to=regions, **options)


@command("create-multi", examples=[
    "cws ami create-multi python-ml-ami i-0123456789abcdef0 --regions us-east-1,us-west-2,eu-west-1",
    "cws ami create-multi r-rstudio i-0123456789abcdef0 --regions us-east-1,ap-south-1 --name rstudio-4.4",
])
@click.argument("template", shell_complete=complete_template)
@click.argument("instance")
@click.option("--regions", multiple=True, required=True, callback=csv_list, metavar="A,B",
              help="Every region the AMI should be in; the instance's own region is one of them.")
@click.option("--name", "-n", default="", help="AMI name (default: cws-<template>-<time>).")
@region_option(help_text="Region of the instance (default: the first of --regions).")
@creation_options
@pass_state
def create_multi(state: State, template, instance, regions, name, region, **options):
    """Create an AMI from an instance and copy it to several regions, with a progress bar per region."""
    source = region or regions[0]
    _start_creation(state, instance=instance, template=template, name=name, source_region=source, copy_to=regions,
                    **options)


def _creation_id(api: Registry, ref: str) -> str:
    """``ami status`` takes a creation (operation) id, a registry id or an AWS AMI id. Registries
    that accept only operation ids answer 404 for the others; then the newest create operation
    of that AMI is looked up in ``/operations/?ami=``, which accepts every kind of id."""
    try:
        return api.get(f"/ami/status/{quote_segment(ref)}", what=ref).get("creation_id") or ref
    except ApiError as err:
        if err.status != 404 or not (ref.startswith("ami-") or UUID_RE.match(ref)):
            raise
        try:
            ops = api.get("/operations/", params={"ami": ref, "page_size": 100}).get("results", [])
        except ApiError:
            raise err from None
        creates = [op for op in ops if op.get("kind") == "create_image"] or ops
        if not creates:
            raise Refused(f"no creation or copy recorded for {ref}",
                          hint="the registry keeps operations for AMIs it created or copied") from None
        return creates[0]["id"]


@command("status", examples=[
    "cws ami status 9b2f…-creation-id",
    "cws ami status ami-0123456789abcdef0 --wait",
    "cws ami status 9b2f… --json | jq .progress",
])
@click.argument("ref", metavar="ID")
@click.option("--wait", is_flag=True, help="Follow it live until it ends.")
@pass_state
def status(state: State, ref, wait):
    """Status of an AMI creation: the creation id, the registry id or an AWS AMI id."""
    api = state.api()
    creation_id = _creation_id(api, ref)
    if wait:
        follow_creation(state, api, creation_id)
        return
    tracker = CreationTracker(api, creation_id)
    parts = tracker.poll()

    def render(s):
        state.out.fields([("creation", s["creation_id"]), ("ami", s.get("ami_id") or "(not yet)"),
                          ("registry id", s.get("registry_id")), ("status", f"{s['status']} ({s['progress']}%)"),
                          ("message", s.get("message")),
                          ("elapsed", f"{s.get('elapsed_time_minutes', 0):.1f} min")])
        state.out.table(["REGION", "STATE", "PROGRESS", "AMI", "ERROR"],
                        [(p.region, p.state, f"{p.progress}%", p.ami_id, p.error) for p in parts])

    body = tracker.final(parts)
    state.out.result(body, render)
    if body.get("status") == "failed":
        raise click.exceptions.Exit(1)


@command("list", examples=["cws ami list", "cws ami list --template python-ml-ami --region eu-west-1 --json"])
@click.option("--template", "-t", shell_complete=complete_template, help="Only AMIs of this template.")
@click.option("--region", "-r", help="Only AMIs with a copy in this region.")
@pass_state
def list_mine(state: State, template, region):
    """Your own AMIs, newest first (every status)."""
    body = state.api().get("/ami/list", params={"template": template, "region": region})
    amis = body.get("user_amis", [])
    state.out.result(amis, lambda items: state.out.table(
        ["NAME", "AMI", "TEMPLATE", "STATUS", "VISIBILITY", "REGIONS", "CREATED"],
        [(a["name"], a["ami_id"], a.get("template") or "—", a["status"], a["visibility"],
          ", ".join(f"{r['region']}{'' if r['state'] == 'available' else ' (' + r['state'] + ')'}"
                   for r in a.get("regions") or []), str(a["created_at"])[:10]) for a in items],
        optional=("CREATED", "VISIBILITY", "TEMPLATE"),
        empty="You have no AMIs yet: cws ami create <instance> --template T, or cws ami register."))


@command("operations", examples=["cws ami operations", "cws ami operations --ami ami-0123456789abcdef0 --json"])
@click.option("--ami", help="Only the operations of this AMI (registry id or any AMI id).")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@pass_state
def operations(state: State, ami, page):
    """Your asynchronous AWS work (creations, copies, share syncs, scans), newest first."""
    body = state.api().get("/operations/", params={"ami": ami, "page": page}, what=ami or "")
    state.out.result(body, lambda b: state.out.table(
        ["ID", "KIND", "STATE", "PROGRESS", "REGION", "AMI", "CREATED", "MESSAGE"],
        [(o["id"], o["kind"], o["state"], f"{o.get('progress', 0)}%", o.get("region", ""), o.get("ami_id", ""),
          str(o.get("created_at", ""))[:19], o.get("error") or o.get("message") or "") for o in b.get("results", [])],
        optional=("CREATED", "AMI", "PROGRESS"), empty="No operations."))
