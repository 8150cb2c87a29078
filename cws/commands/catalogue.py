"""The catalogue: ``cws ami browse``, ``info``, ``rate``, ``reviews``, ``diff``."""
from __future__ import annotations

import shlex

import click
from rich.text import Text

from cws.api import FeatureMissing, quote_segment
from cws.core import State, command, pass_state
from cws.output import stars, yes_no

# Friendly sort names → the registry's `ordering` values.
SORTS = {"best": "best", "rating": "-rating_avg", "downloads": "-download_count", "newest": "-created_at",
         "name": "name"}


def ami_path(ref: str, suffix: str = "") -> str:
    return f"/amis/{quote_segment(ref)}{suffix}"


def badges(ami: dict) -> Text:
    text = Text()
    if ami.get("verified"):
        text.append("verified ", style="green")
    scan = ami.get("scan_status") or "not_scanned"
    text.append({"passed": "scan ok", "failed": "scan FAILED", "pending": "scan pending"}.get(scan, "unscanned"),
                style={"passed": "green", "failed": "bold red"}.get(scan, "dim"))
    if ami.get("status") not in (None, "approved"):
        text.append(f" {ami['status']}", style="yellow")
    return text


def regions_of(ami: dict) -> str:
    return ", ".join(r["region"] for r in ami.get("regions") or [] if r.get("state") == "available") or "—"


@command("browse", examples=[
    "cws ami browse                               # best first",
    "cws ami browse pytorch --arch x86_64 --region us-east-1",
    "cws ami browse --category 'Machine Learning' --verified --min-rating 4 --sort rating",
    "cws ami browse --template python-ml-ami --facets",
    "cws ami browse genomics --json | jq '.results[].ami_id'",
])
@click.argument("query", required=False)
@click.option("--category", "-c", help="Category (case-insensitive).")
@click.option("--arch", "architecture", type=click.Choice(["x86_64", "arm64"]), help="CPU architecture.")
@click.option("--region", "-r", help="Only AMIs with an available copy in this region.")
@click.option("--template", "-t", help="Template slug or name.")
@click.option("--creator", help="Creator's username.")
@click.option("--status", type=click.Choice(["draft", "pending_review", "approved", "rejected", "deprecated",
                                             "revoked"]), help="Narrow what you can see by status.")
@click.option("--verified", is_flag=True, help="Only verified AMIs.")
@click.option("--min-rating", type=click.FloatRange(0, 5), help="Minimum average rating (0-5).")
@click.option("--sort", type=click.Choice(list(SORTS)), default=None,
              help="best (default; relevance first with a query), rating, downloads, newest, name.")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 100), default=25, show_default=True)
@click.option("--facets", is_flag=True, help="Also show counts per category, architecture, region, template.")
@pass_state
def browse(state: State, query, category, architecture, region, template, creator, status, verified, min_rating,
           sort, page, page_size, facets):
    """Search the catalogue: community AMIs you can see, best first."""
    params = {"q": query, "category": category, "architecture": architecture, "region": region,
              "template": template, "creator": creator, "status": status, "verified": "true" if verified else None,
              "min_rating": min_rating, "ordering": SORTS[sort] if sort else None, "page": page,
              "page_size": page_size}
    body = state.api().get("/amis/", params=params, what=f"page {page}")

    def render(data):
        results = data.get("results", [])
        state.out.table(
            ["NAME", "AMI", "TEMPLATE", "ARCH", "REGIONS", "RATING", "DOWNLOADS", "BADGES"],
            [(Text(a["name"], style="bold"), a["ami_id"], a.get("template") or "—", a["architecture"],
              regions_of(a), stars(a.get("rating_avg"), a.get("rating_count")), a.get("download_count", 0),
              badges(a)) for a in results], optional=("DOWNLOADS", "TEMPLATE", "BADGES"),
            empty="No AMIs match." + (" Try fewer filters." if any(v for k, v in params.items()
                                                                   if k not in ("page", "page_size")) else ""))
        count = data.get("count", len(results))
        if results:
            first = (page - 1) * page_size + 1
            more = f" — next: --page {page + 1}" if data.get("next") else ""
            state.out.line(f"{first}–{first + len(results) - 1} of {count}{more}", style="dim")
        if facets:
            for facet, counts in (data.get("facets") or {}).items():
                if counts:
                    state.out.line(f"{facet}: " + ", ".join(f"{k} ({v})" for k, v in counts.items()))

    state.out.result(body, render)


def launch_commands(ami: dict) -> list[str]:
    region = ami.get("source_region", "")
    out = []
    if ami.get("template"):
        out.append(f"cws launch {shlex.quote(ami['template'])} my-workstation --region {region}")
    itype = "t4g.medium" if ami.get("architecture") == "arm64" else "t3.medium"
    for copy in ami.get("regions") or []:
        if copy.get("state") == "available":
            out.append(f"aws ec2 run-instances --region {copy['region']} --image-id {copy['ami_id']} "
                       f"--instance-type {itype}")
    return out


@command("info", examples=["cws ami info ami-0123456789abcdef0", "cws ami info 3f1c…-uuid --json"])
@click.argument("ami")
@pass_state
def info(state: State, ami: str):
    """Everything the AMI page shows: regions, ratings, reviews, scan, signature, how to launch.

    AMI is the registry id or any AWS AMI id of the entry (any regional copy's id works).
    """
    api = state.api()
    entry = api.get(ami_path(ami), what=ami)
    reviews = api.get(ami_path(ami, "/ratings/"), params={"page_size": 5}).get("results", [])
    try:
        scan = api.get(ami_path(ami, "/scan"), feature="security scans")
    except FeatureMissing:
        scan = None
    data = {"ami": entry, "reviews": reviews, "scan": scan, "launch_commands": launch_commands(entry)}

    def render(d):
        a = d["ami"]
        state.out.line(a["name"], style="bold")
        if a.get("description"):
            state.out.line(a["description"])
        state.out.fields([
            ("registry id", a["id"]), ("ami id", f"{a['ami_id']} ({a['source_region']})"),
            ("template", a.get("template") or "—"), ("version", a.get("version")),
            ("category", a.get("category")), ("architecture", a.get("architecture")),
            ("platform", a.get("platform")), ("size", f"{a['size_gb']} GB" if a.get("size_gb") else None),
            ("status", a["status"] + (f" — {a['status_reason']}" if a.get("status_reason") else "")),
            ("visibility", a.get("visibility")), ("creator", a.get("creator") or "deleted user"),
            ("replacement", a.get("replacement")),
            ("rating", stars(a.get("rating_avg"), a.get("rating_count"))),
            ("downloads", a.get("download_count", 0)),
            ("verified", yes_no(a.get("verified"))),
            ("signature", {True: "valid", False: "INVALID", None: "none"}.get(a.get("signature_valid"))),
            ("scan", f"{a.get('scan_status')}" + (f" (score {a['security_score']})"
                                                  if a.get("security_score") is not None else "")),
            ("tags", ", ".join(f"{k}={v}" if v else k for k, v in (a.get("tags") or {}).items()) or None),
        ])
        state.out.table(["REGION", "AMI", "STATE", "FROM", "LAST TESTED"],
                        [(r["region"], r["ami_id"], r["state"], r.get("source") or "", r.get("last_tested") or "—")
                         for r in a.get("regions") or []], title="Regions")
        histogram = a.get("rating_histogram") or {}
        if any(histogram.values()):
            top = max(histogram.values()) or 1
            state.out.line("Ratings", style="bold")
            for star in ("5", "4", "3", "2", "1"):
                n = histogram.get(star, 0)
                state.out.line(f"  {star}★ {'█' * round(20 * n / top):<20} {n}")
        if d["reviews"]:
            state.out.line("Latest reviews", style="bold")
            for r in d["reviews"]:
                mark = " (verified launch)" if r.get("verified_launch") else ""
                state.out.line(f"  {'★' * r['rating']}{'☆' * (5 - r['rating'])}  {r['user']}{mark}, "
                               f"{str(r['created_at'])[:10]}")
                if r.get("review"):
                    state.out.line(f"    {r['review']}")
        findings = ((d.get("scan") or {}).get("latest") or {}).get("findings") or []
        if findings:
            state.out.table(["SEVERITY", "FINDING", "MESSAGE"],
                            [(f["severity"], f["id"], f["message"]) for f in findings], title="Scan findings")
        if a.get("shares") is not None:
            state.out.line(f"Shared with {len(a['shares'])} grantee(s): cws ami shares {a['ami_id']}", style="dim")
        if d["launch_commands"]:
            state.out.line("Launch", style="bold")
            for line in d["launch_commands"]:
                state.out.line(f"  {line}")

    state.out.result(data, render)


@command("rate", examples=[
    "cws ami rate ami-0123456789abcdef0 5",
    "cws ami rate ami-0123456789abcdef0 4 --review 'Boots in 40 s; CUDA works.'",
    "cws ami rate ami-0123456789abcdef0 3 --review-file review.md",
])
@click.argument("ami")
@click.argument("stars_given", metavar="<1-5>", type=click.IntRange(1, 5))
@click.option("--review", help="Review text.")
@click.option("--review-file", type=click.File("r"), help="Read the review from a file ('-' for stdin).")
@pass_state
def rate(state: State, ami: str, stars_given: int, review: str | None, review_file):
    """Rate an AMI 1-5 stars, optionally with a review (a second rating replaces yours)."""
    if review is not None and review_file is not None:
        raise click.UsageError("give --review or --review-file, not both")
    text = review_file.read() if review_file is not None else (review or "")
    body = {"rating": stars_given}
    if text:
        body["review"] = text
    result = state.api().post(ami_path(ami, "/ratings/"), body, what=ami)

    def render(r):
        state.out.line(f"Rated {ami} {'★' * r['rating']}{'☆' * (5 - r['rating'])} as {r['user']}"
                       + (" (verified launch)" if r.get("verified_launch") else "") + ".")

    state.out.result(result, render)


@command("reviews", examples=["cws ami reviews ami-0123456789abcdef0", "cws ami reviews ami-0123… --page 2 --json"])
@click.argument("ami")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--sort", type=click.Choice(["newest", "oldest", "highest", "lowest"]), default="newest",
              show_default=True)
@pass_state
def reviews(state: State, ami: str, page: int, sort: str):
    """The reviews of an AMI (hidden ones are not shown)."""
    ordering = {"newest": "-created_at", "oldest": "created_at", "highest": "-rating", "lowest": "rating"}[sort]
    body = state.api().get(ami_path(ami, "/ratings/"), params={"page": page, "ordering": ordering}, what=ami)

    def render(d):
        state.out.table(["STARS", "USER", "DATE", "REVIEW"],
                        [("★" * r["rating"], r["user"] + (" ✓" if r.get("verified_launch") else ""),
                          str(r["created_at"])[:10], r.get("review") or "") for r in d.get("results", [])],
                        empty="No reviews yet.")
        if d.get("results"):
            state.out.line(f"{d.get('count')} review(s); ✓ = the reviewer launched it.", style="dim")

    state.out.result(body, render)


@command("diff", examples=[
    "cws ami diff ami-0123456789abcdef0 ami-0fedcba9876543210",
    "cws ami diff ami-0123456789abcdef0 ami-0fedcba9876543210 --json | jq '.changed'",
])
@click.argument("older")
@click.argument("newer")
@pass_state
def diff(state: State, older: str, newer: str):
    """What changed from image OLDER to image NEWER: packages added, removed and changed, kernel,
    driver, CUDA, Python… and the scan score. Each is the registry id or any AWS AMI id."""
    body = state.api().get("/amis/diff", params={"a": older, "b": newer}, what=f"{older} or {newer}")

    def render(d):
        a, b = d["a"], d["b"]
        state.out.line(f"{a['name']} {a.get('version') or ''} ({a['ami_id']}) → "
                       f"{b['name']} {b.get('version') or ''} ({b['ami_id']})"
                       + (" — consecutive versions" if d.get("consecutive") else ""), style="bold")
        facts = [(key, f"{v['a'] or '—'} → {v['b'] or '—'}" if v["changed"] else (v["a"] or None))
                 for key, v in d.items() if isinstance(v, dict) and set(v) == {"a", "b", "changed"}]
        score = d.get("scan_score") or {}
        if score.get("a") is not None or score.get("b") is not None:
            delta = f" ({score['delta']:+})" if score.get("delta") is not None else ""
            facts.append(("scan score", f"{score.get('a')} → {score.get('b')}{delta}"))
        state.out.fields(facts)
        rows = ([(Text("+", style="green"), p["name"], p["kind"], "", p.get("version") or "") for p in d["added"]]
                + [(Text("-", style="red"), p["name"], p["kind"], p.get("version") or "", "") for p in d["removed"]]
                + [(Text("~", style="yellow"), c["name"], c["kind"], c["from"] or "", c["to"] or "")
                   for c in d["changed"]])
        state.out.table(["", "PACKAGE", "KIND", "FROM", "TO"], rows, empty="Same packages.")
        state.out.line(f"{len(d['added'])} added, {len(d['removed'])} removed, {len(d['changed'])} changed, "
                       f"{d.get('unchanged', 0)} unchanged", style="dim")

    state.out.result(body, render)
