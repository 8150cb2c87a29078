"""Lineages and channels: ``cws ami lineages``, ``lineage``, ``channel`` (docs/versions.md)."""
from __future__ import annotations

import click

from cws.api import quote_segment
from cws.commands.catalogue import ami_path
from cws.core import State, command, pass_state


@command("lineages", examples=["cws ami lineages", "cws ami lineages --template python-ml --json"])
@click.option("--template", "-t", help="Only the lineages of this template (slug or name).")
@pass_state
def lineages(state: State, template):
    """The lineages (publishers' lines of versioned images) you can see."""
    data = state.api().get("/lineages/", params={"template": template, "page_size": 100})

    def render(d):
        state.out.table(["LINEAGE", "OWNER", "TEMPLATE", "ID"],
                        [(x["name"], x.get("owner") or "—", x.get("template") or "—", x["id"])
                         for x in d.get("results", [])], empty="No lineages yet.")

    state.out.result(data, render)


@command("lineage", examples=["cws ami lineage 3f1c…-uuid", "cws ami lineage 3f1c…-uuid --json"])
@click.argument("lineage_id")
@pass_state
def lineage(state: State, lineage_id):
    """A lineage's channels, versions (newest first) and channel history."""
    data = state.api().get(f"/lineages/{quote_segment(lineage_id)}", what=f"lineage '{lineage_id}'")

    def render(d):
        state.out.line(f"{d['name']} by {d.get('owner') or '(erased)'}" +
                       (f" for {d['template']}" if d.get("template") else ""), style="bold")
        state.out.table(["CHANNEL", "VERSION", "AMI"],
                        [(c["name"] + (" (managed)" if c["managed"] else ""),
                          c.get("version") or ("empty" if c.get("empty") else "hidden"), c.get("ami_id") or "")
                         for c in d.get("channels", [])], title="Channels")
        state.out.table(["VERSION", "STATUS", "AMI", "APPROVED BY", "REGIONS", "CHANNELS"],
                        [(v["version"], v["status"], v["ami_id"], v.get("approved_by") or "—",
                          ", ".join(r["region"] for r in v.get("regions", [])), ", ".join(v.get("channels", [])))
                         for v in d.get("versions", [])], title="Versions", empty="No versions you can see.")
        state.out.table(["WHEN", "CHANNEL", "FROM", "TO", "WHY"],
                        [(m["at"][:16], m["channel"], m["from_version"] or "(empty)", m["to_version"] or "(empty)",
                          m["cause"] + (f": {m['reason']}" if m.get("reason") else ""))
                         for m in d.get("history", [])[:20]], title="Channel history", empty="No moves yet.")

    state.out.result(data, render)


@command("channel", examples=["cws ami channel ami-0123456789abcdef0 stable",
                              "cws ami channel ami-0123456789abcdef0 testing --reason 'release candidate'"])
@click.argument("ami")
@click.argument("channel")
@click.option("--reason", default="", help="Why (kept in the channel's history).")
@pass_state
def channel(state: State, ami, channel, reason):
    """Point CHANNEL of AMI's lineage at AMI (the lineage's owner or a moderator)."""
    data = state.api().post(ami_path(ami, "/channel"), {"channel": channel, "reason": reason}, what=ami)

    def render(d):
        move = d.get("move") or {}
        if d.get("moved"):
            state.out.line(f"{channel}: {move.get('from_version') or '(empty)'} → {move.get('to_version')}",
                           style="green")
        else:
            state.out.line(f"{channel} already points at this version.")

    state.out.result(data, render)
