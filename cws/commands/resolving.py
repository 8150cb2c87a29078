"""The resolver: ``cws ami resolve``, ``preview``, ``test``, ``costs``."""
from __future__ import annotations

import click
from rich.text import Text

from cws import copying
from cws.api import quote_segment
from cws.core import State, command, complete_template, csv_list, pass_state, region_option
from cws.output import Output

STRATEGIES = ["ami_preferred", "ami_required", "ami_fallback"]
OUTCOME_STYLE = {"found": "green", "not_found": "dim", "skipped": "dim", "refused": "yellow",
                 "unavailable": "yellow", "error": "red", "would_answer": "green"}


def resolve_options(func):
    func = click.option("--strategy", "-s", type=click.Choice(STRATEGIES),
                        help="Override the template's strategy.")(func)
    func = click.option("--arch", "architecture", type=click.Choice(["x86_64", "arm64"]),
                        help="CPU architecture (default: the template's preference).")(func)
    func = click.option("--channel", help="A channel of the template's lineages (latest, stable, ...); "
                                          "TEMPLATE@CHANNEL works too.")(func)
    func = click.option("--version", "version_", metavar="CONSTRAINT",
                        help="Version constraint, e.g. '~> 1.4' or '>= 1.2, < 2'.")(func)
    return region_option(func)


def resolve_template(state: State, template: str, *, region: str | None, architecture: str | None,
                     strategy: str | None, details: bool = False, channel: str | None = None,
                     version_: str | None = None) -> dict:
    params = {"region": state.region(region), "architecture": architecture, "strategy": strategy,
              "details": "true" if details else None, "channel": channel, "version": version_}
    return state.api(region=state.region(region)).get(f"/ami/resolve/{quote_segment(template)}", params=params,
                                                      what=f"template '{template}'")


def tried_table(out: Output, tried: list[dict], *, title: str = "Tiers tried") -> None:
    out.table(["TIER", "OUTCOME", "REASON"],
              [(t.get("tier", "") + (f" [{t['region']}]" if t.get("region") else ""),
                Text(t.get("outcome", ""), style=OUTCOME_STYLE.get(t.get("outcome"), "")), t.get("reason", ""))
               for t in tried], title=title)


def render_resolution(out: Output, r: dict, *, details: bool = False) -> None:
    where = f" (in {r['source_region']})" if r.get("source_region") and r["source_region"] != r["target_region"] else ""
    ami = r.get("ami_id") or "no AMI"
    out.line(f"{r['template_name']} in {r['target_region']}: {r['resolution_method']} → {ami}{where}", style="bold")
    out.fields([
        ("ami name", r.get("ami_name")), ("architecture", r.get("ami_architecture")),
        ("registry id", r.get("registry_id")), ("strategy", r.get("strategy")),
        ("channel", r.get("channel")), ("version", r.get("version")),
        ("launch time", f"~{r.get('launch_time_estimate_seconds', 0)} s"),
        ("cost", f"${float(r.get('estimated_cost') or 0):.4f} per launch, saves "
                 f"${float(r.get('cost_savings') or 0):.4f} against script provisioning"),
        ("base image", r.get("base_image_parameter")),
        ("cached", "yes" if r.get("cached") else None),
    ])
    if r.get("warning"):
        out.line(f"warning: {r['warning']}", style="yellow")
    if r.get("consent_required") and r.get("copy"):
        c = r["copy"]
        out.line(f"needs a copy: {c['source_ami_id']} from {c['source_region']}, about "
                 f"${float(c['estimated_cost']):.2f} and {c['estimated_minutes']} min", style="yellow")
    tried_table(out, r.get("tried") or [])
    if details:
        checks = r.get("region_checks") or []
        if checks:
            out.table(["REGION", "OUTCOME", "DETAIL"],
                      [(c.get("region", ""), c.get("outcome", c.get("status", "")),
                        c.get("reason", c.get("ami_id", ""))) for c in checks], title="Region checks")
        if r.get("cost_analysis"):
            render_costs(out, r["cost_analysis"])


@command("resolve", examples=[
    "cws ami resolve python-ml-ami --region eu-west-1",
    "cws ami resolve python-ml-ami -r ap-south-1 --arch x86_64 --strategy ami_required --details",
    "cws ami resolve python-ml-ami -r eu-west-1 --yes        # consent to copy when needed",
    "cws ami resolve python-ml-ami -r eu-west-1 --json | jq -r .ami_id",
])
@click.argument("template", shell_complete=complete_template)
@resolve_options
@click.option("--details", is_flag=True, help="Also show per-region checks and the cost analysis.")
@click.option("--yes", "-y", is_flag=True, help="Consent to a copy when the answer needs one.")
@click.option("--no-copy", is_flag=True, help="Never offer to copy.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow a copy you consented to.")
@pass_state
def resolve(state: State, template, region, architecture, strategy, details, yes, no_copy, wait, channel=None,
            version_=None):
    """Which AMI template TEMPLATE launches from in a region, and which tiers were tried.

    When the answer is an AMI in a nearby region, it asks before copying it (--yes consents).
    """
    r = resolve_template(state, template, region=region, architecture=architecture, strategy=strategy,
                         details=details, channel=channel, version_=version_)
    if not state.json_mode:
        render_resolution(state.out, r, details=details)
    copy_result = None
    if r.get("consent_required") and not no_copy:
        p = copying.plan(state, r)
        if state.confirm(copying.question(p), yes=yes):
            copy_result = copying.perform(state, p, wait=wait)
            if not state.json_mode:
                state.out.line(f"Copy {'done' if copy_result.get('ami_id') and wait else 'started'}: "
                               f"{copy_result.get('ami_id') or '(id pending)'} in {p['target_region']}.",
                               style="green")
        elif not state.json_mode:
            state.out.line("Not copied. Run again with --yes to copy it, or launch it where it is "
                           f"(--region {p['source_region']}).", style="dim")
    if state.json_mode:
        state.out.json({**r, "copy_started": copy_result})


@command("preview", examples=["cws ami preview python-ml-ami --region eu-west-1",
                              "cws ami preview r-rstudio -r us-west-2 --strategy ami_required --json"])
@click.argument("template", shell_complete=complete_template)
@resolve_options
@pass_state
def preview(state: State, template, region, architecture, strategy, channel=None, version_=None):
    """Dry run of a resolution: which tier would answer, without asking AWS."""
    params = {"region": state.region(region), "architecture": architecture, "strategy": strategy,
              "channel": channel, "version": version_}
    p = state.api(region=state.region(region)).get(f"/ami/preview/{quote_segment(template)}", params=params,
                                                   what=f"template '{template}'")

    def render(x):
        state.out.line(f"{x['template_name']} in {x['target_region']}: would answer with {x['resolution_method']}"
                       + (f" → {x['ami_id']}" if x.get("ami_id") else ""), style="bold")
        state.out.fields([("strategy", x.get("strategy")), ("architectures", ", ".join(x.get("architectures") or [])),
                          ("source region", x.get("source_region")), ("registry id", x.get("registry_id")),
                          ("needs consent", "yes" if x.get("consent_required") else None),
                          ("may answer first", ", ".join(x.get("may_answer_first") or []) or None),
                          ("launch time", f"~{x['launch_time_estimate_seconds']} s"
                           if x.get("launch_time_estimate_seconds") is not None else None),
                          ("AWS calls", x.get("aws_calls"))])
        tried_table(state.out, x.get("tried") or [], title="Tiers")

    state.out.result(p, render)


@command("test", examples=[
    "cws ami test python-ml-ami",
    "cws ami test python-ml-ami --regions us-east-1,eu-west-1,ap-south-1",
    "cws ami test python-ml-ami --all-regions --json | jq .overall_status",
])
@click.argument("template", shell_complete=complete_template)
@click.option("--regions", multiple=True, callback=csv_list, metavar="A,B",
              help="Regions to test (default: us-east-1, us-west-2, eu-west-1, ap-south-1).")
@click.option("--all-regions", is_flag=True, help="Every commercial region.")
@click.option("--arch", "architecture", type=click.Choice(["x86_64", "arm64"]))
@click.option("--strategy", "-s", type=click.Choice(STRATEGIES))
@pass_state
def test(state: State, template, regions, all_regions, architecture, strategy):
    """Resolve a template in many regions at once; exit 1 unless every region passed."""
    if regions and all_regions:
        raise click.UsageError("give --regions or --all-regions, not both")
    body = {"template_name": template, "all_regions": all_regions}
    if regions:
        body["regions"] = regions
    if architecture:
        body["architecture"] = architecture
    if strategy:
        body["strategy"] = strategy
    result = state.api().post("/ami/test", body, what=f"template '{template}'")

    def render(t):
        rows = []
        for region, r in sorted(t.get("region_results", {}).items()):
            style = "green" if r.get("status") == "passed" else "bold red"
            rows.append((region, Text(r.get("status", ""), style=style), r.get("resolution_method", ""),
                         r.get("ami_id") or "—", f"{float(r.get('test_duration_ms') or 0):.0f} ms",
                         r.get("error") or ""))
        state.out.table(["REGION", "STATUS", "METHOD", "AMI", "TIME", "ERROR"], rows)
        state.out.line(f"{t['template_name']}: {t['overall_status']} — {t['available_regions']} of "
                       f"{t['total_regions']} region(s) have an answer", style="bold")

    state.out.result(result, render)
    if result.get("overall_status") != "passed":
        raise click.exceptions.Exit(1)


def render_costs(out: Output, c: dict) -> None:
    out.line(f"{c['template_name']} in {c['region']} on {c.get('instance_type') or 'the default instance type'}"
             + (f" (${float(c['hourly_price']):.4f}/hour)" if c.get("hourly_price") else ""), style="bold")
    out.table(["", "AMI", "SCRIPT"], [
        ("instance per hour", f"${float(c['ami_launch_cost']):.4f}", f"${float(c['script_launch_cost']):.4f}"),
        ("setup", f"${float(c['ami_setup_cost']):.4f}", f"${float(c['script_setup_cost']):.4f}"),
        ("storage per month", f"${float(c['ami_storage_cost']):.4f}", "—"),
        ("setup time", f"{max(0, int(c['script_setup_time']) - int(c['time_savings']))} min",
         f"{c['script_setup_time']} min"),
    ])
    out.fields([("savings (1 h session)", f"${float(c['cost_savings_1h']):.4f}"),
                ("savings (8 h session)", f"${float(c['cost_savings_8h']):.4f}"),
                ("time saved per launch", f"{c['time_savings']} min"),
                ("break-even", f"{float(c.get('break_even_launches_per_month') or 0):.1f} launches per month "
                               f"(one every {float(c['break_even_point']):.1f} hours)"),
                ("recommendation", c["recommendation"]), ("why", c.get("reasoning"))])
    advice = c.get("instance_advice")
    if advice:  # registries before the instance advice answer without it
        render_instance_advice(out, advice)


def render_instance_advice(out: Output, a: dict) -> None:
    """Which instance type and architecture: the cheapest per architecture, the recommendation."""
    recommended = (a.get("recommended") or {}).get("instance_type")
    rows = [(arch, c["instance_type"], f"{c['vcpus']}", f"{float(c['memory_gib']):g} GiB", "yes" if c["gpus"] else "",
             f"${float(c['hourly_price']):.4f}", "← recommended" if c["instance_type"] == recommended else "")
            for arch, c in sorted((a.get("by_architecture") or {}).items())]
    out.table(["ARCH", "INSTANCE", "VCPUS", "MEMORY", "GPU", "PER HOUR", ""], rows, title="Instance advice",
              empty="No priced instance type meets the template's needs.")
    if a.get("arm64_saving_percent") is not None:
        out.line(f"arm64 saves {float(a['arm64_saving_percent']):g} % against x86_64 for this template.")
    out.line(a.get("reasoning") or "", style="dim")


@command("costs", examples=["cws ami costs python-ml-ami", "cws ami costs python-ml-ami -r eu-west-1 "
                                                           "--instance-type m7g.large --json"])
@click.argument("template", shell_complete=complete_template)
@region_option
@click.option("--instance-type", "-i", help="Instance type (default: the template's).")
@click.option("--arch", "architecture", type=click.Choice(["x86_64", "arm64"]))
@pass_state
def costs(state: State, template, region, instance_type, architecture):
    """What launching from the AMI costs against provisioning by script."""
    params = {"region": state.region(region), "instance_type": instance_type, "architecture": architecture}
    c = state.api(region=state.region(region)).get(f"/ami/costs/{quote_segment(template)}", params=params,
                                                   what=f"template '{template}'")
    state.out.result(c, lambda x: render_costs(state.out, x))
