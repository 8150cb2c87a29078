"""Publishing: ``cws ami register``, ``submit``, ``share``, ``unshare``, ``shares``, ``deprecate``,
``revoke``, ``approve``, ``reject``, ``copy``."""
from __future__ import annotations

from pathlib import Path

import click

from cws import aws, signing
from cws.api import ApiError, FeatureMissing
from cws.commands.catalogue import ami_path
from cws.core import State, command, csv_list, pass_state, region_option, tag_pairs
from cws.errors import LocalError, Refused
from cws.progress import OperationsTracker, watch

# Codes/words with which a registry refuses an image that is not provably the caller's; it then
# wants the caller's claim tag on the image (API.md, GET /me/claim).
CLAIM_CODES = frozenset({"claim_required", "not_owner", "not_your_image", "ownership_required", "unowned_image"})


def _needs_claim(err: ApiError) -> bool:
    return err.code in CLAIM_CODES or "claim" in err.message.lower()


def add_claim_tag(state: State, ami_id: str, region: str, *, yes: bool) -> dict:
    """Tag the image with the caller's claim tag, with the caller's own AWS credentials."""
    claim = state.api().get("/me/claim", feature="claim tags")
    key, value = claim["key"], claim["value"]
    if not state.confirm(f"Tag {ami_id} in {region} with {key}={value} using your AWS credentials?", yes=yes):
        raise Refused(f"{ami_id} needs your claim tag ({key}={value}) to be registered as yours",
                      hint=f"run again with --claim --yes, or: aws ec2 create-tags --region {region} "
                           f"--resources {ami_id} --tags Key={key},Value={value}")
    with aws.translated(f"tagging {ami_id}"):
        aws.client("ec2", region).create_tags(Resources=[ami_id], Tags=[{"Key": key, "Value": value}])
    state.out.note(f"tagged {ami_id} with {key}={value}")
    return claim


@command("register", examples=[
    "cws ami register ami-0123456789abcdef0 --region us-east-1 --template python-ml-ami --name 'ML box'",
    "cws ami register ami-0123456789abcdef0 -r eu-west-1 --category Bioinformatics --tag pipeline=nextflow",
    "cws ami register ami-0123456789abcdef0 -r us-east-1 --name X --template T --claim --yes",
])
@click.argument("ami_id")
@region_option(help_text="Region the image is in (else the configured region).")
@click.option("--name", "-n", help="Display name (default: the AMI id; edit it later on the AMI page).")
@click.option("--template", "-t", help="Template slug or name the image is built for.")
@click.option("--category", "-c", help="Category (default: the template's).")
@click.option("--description", "-d", default="", help="Description.")
@click.option("--version", "version_", metavar="VERSION", default="", help="Version label (SemVer with --lineage).")
@click.option("--lineage", "-l", default=None, help="One of your lineages (created on first use): the image becomes "
                                                    "its version VERSION.")
@click.option("--tag", "tags", multiple=True, callback=tag_pairs, metavar="KEY=VALUE", help="Tag (repeatable).")
@click.option("--visibility", type=click.Choice(["private", "community", "public"]), default="private",
              show_default=True, help="Who may see it once approved (submit --public changes it).")
@click.option("--claim", is_flag=True, help="Put your claim tag on the image first (your AWS credentials).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before tagging the image.")
@pass_state
def register(state: State, ami_id, region, name, template, category, description, version_, lineage, tags, visibility,
             claim, yes):
    """Register an existing AWS image in the registry (as a draft you can then submit)."""
    region = state.require_region(region, why="the region the image is in")
    body = {"ami_id": ami_id, "region": region, "name": name or ami_id, "description": description,
            "template": template, "category": category or "", "version": version_, "tags": tags,
            **({"lineage": lineage} if lineage else {}),
            "visibility": visibility}
    api = state.api(region=region)
    if claim:
        add_claim_tag(state, ami_id, region, yes=yes)
    try:
        entry = api.post("/amis/", body)
    except ApiError as err:
        if claim or not _needs_claim(err):
            raise
        state.out.note(f"the registry says: {err.message}")
        try:
            add_claim_tag(state, ami_id, region, yes=yes)
        except FeatureMissing:
            raise err from None
        entry = api.post("/amis/", body)

    def render(a):
        state.out.line(f"Registered {a['name']} ({a['ami_id']}, {a['source_region']}) as a {a['status']}: "
                       f"registry id {a['id']}.")
        state.out.line(f"Next: cws ami submit {a['id']} --public", style="dim")

    state.out.result(entry, render)


@command("submit", examples=[
    "cws ami submit ami-0123456789abcdef0 --public",
    "cws ami submit 6a0e…-uuid --private --sign ~/.ssh/publisher_ed25519",
])
@click.argument("ami")
@click.option("--public/--private", "public", default=None,
              help="Make it public (anonymous browse) or keep it private once approved (default: unchanged).")
@click.option("--description", "-d", help="Replace the description on the way.")
@click.option("--sign", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign the image's manifest with this Ed25519 private key (PEM or OpenSSH).")
@pass_state
def submit(state: State, ami, public, description, key_file):
    """Submit a draft (or a fixed rejected entry) for a moderator's review."""
    api = state.api()
    body: dict = {}
    if public is not None:
        body["public"] = public
    if description is not None:
        body["description"] = description
    if key_file is not None:
        key = signing.load_private_key(key_file)
        manifest = api.get(ami_path(ami, "/manifest"), what=ami, feature="signatures")
        m = manifest["manifest"]
        state.out.note(f"signing the manifest of {m.get('ami_id')} ({m.get('region')}, created "
                       f"{m.get('creation_date')}, snapshots {', '.join(m.get('root_snapshot_ids') or [])})")
        body["signature"] = signing.sign_canonical(key, manifest["canonical"])
    entry = api.post(ami_path(ami, "/submit"), body, what=ami)

    def render(a):
        signed = "; signature valid" if a.get("signature_valid") else ""
        state.out.line(f"Submitted {a['name']} ({a['ami_id']}) for review: {a['status']}, "
                       f"visibility {a['visibility']}{signed}.")

    state.out.result(entry, render)


def _organization(ref: str, *, kind: str) -> str:
    """An organization/OU ARN. Full ARNs pass as they are; a bare ``o-…``/``ou-…`` id is turned
    into its ARN with the caller's own AWS credentials (DescribeOrganization knows the
    management account), because AWS launch permissions name organizations by ARN."""
    if ref.startswith("arn:"):
        return ref
    with aws.translated("looking up your AWS organization"):
        org = aws.client("organizations", "us-east-1").describe_organization()["Organization"]
    if kind == "organization":
        if ref != org["Id"]:
            raise LocalError(f"{ref} is not your AWS organization ({org['Id']})",
                             hint="give the organization's ARN (arn:aws:organizations::<management account>:"
                                  "organization/o-…)")
        return org["Arn"]
    return f"arn:aws:organizations::{org['MasterAccountId']}:ou/{org['Id']}/{ref}"


GRANTEE_OPTIONS = (("account", "account"), ("org", "organization"), ("ou", "organizational_unit"),
                   ("user", "user"), ("community", "community"))


def grantee_options(func):
    for flag, _ in reversed(GRANTEE_OPTIONS):
        helps = {"account": "12-digit AWS account id.", "org": "AWS organization (o-… or its ARN).",
                 "ou": "AWS organizational unit (ou-… or its ARN).", "user": "Registry username.",
                 "community": "Community slug (e.g. cloudworkstation)."}
        func = click.option(f"--{flag}", f"grantee_{flag}", metavar="ID" if flag != "user" else "NAME",
                            help=helps[flag])(func)
    return func


def _one_grantee(values: dict, *, required: bool) -> tuple[str, str] | None:
    given = [(gtype, values[f"grantee_{flag}"]) for flag, gtype in GRANTEE_OPTIONS if values.get(f"grantee_{flag}")]
    if len(given) > 1:
        raise click.UsageError("give one of --account, --org, --ou, --user, --community")
    if not given:
        if required:
            raise click.UsageError("say whom to share with: --account, --org, --ou, --user or --community")
        return None
    gtype, grantee = given[0]
    if gtype in ("organization", "organizational_unit"):
        grantee = _organization(grantee, kind=gtype)
    return gtype, grantee


@command("share", examples=[
    "cws ami share ami-0123456789abcdef0 --account 123456789012",
    "cws ami share ami-0123456789abcdef0 --org o-a1b2c3d4e5",
    "cws ami share ami-0123456789abcdef0 --ou ou-ab12-34cd56ef",
    "cws ami share ami-0123456789abcdef0 --user alice",
    "cws ami share ami-0123456789abcdef0 --community cloudworkstation --permission launch_and_copy",
])
@click.argument("ami")
@grantee_options
@click.option("--permission", type=click.Choice(["launch", "launch_and_copy"]), default="launch", show_default=True)
@pass_state
def share(state: State, ami, permission, **grantees):
    """Share an AMI with an AWS account, organization or OU, a registry user, or a community.

    AWS launch permissions follow in the background (sync state pending → synced).
    """
    gtype, grantee = _one_grantee(grantees, required=True)
    grant = state.api().post(ami_path(ami, "/shares/"),
                             {"grantee_type": gtype, "grantee": grantee, "permission": permission}, what=ami)
    state.out.result(grant, lambda g: state.out.line(
        f"Shared {ami} with {g['grantee_type']} {g['grantee']} ({g['permission']}); grant {g['id']}, "
        f"AWS sync {g['sync_state']}."))


@command("shares", examples=["cws ami shares ami-0123456789abcdef0"])
@click.argument("ami")
@pass_state
def shares(state: State, ami):
    """The grants of an AMI (owner or moderator)."""
    grants = state.api().get(ami_path(ami, "/shares/"), what=ami)
    items = grants.get("results", grants) if isinstance(grants, dict) else grants
    state.out.result(items, lambda g: state.out.table(
        ["ID", "TYPE", "GRANTEE", "PERMISSION", "AWS SYNC", "CREATED"],
        [(s["id"], s["grantee_type"], s["grantee"], s["permission"], s["sync_state"], str(s["created_at"])[:19])
         for s in g], empty="Not shared with anyone."))


@command("unshare", examples=[
    "cws ami unshare ami-0123456789abcdef0 17                 # by grant id (see cws ami shares)",
    "cws ami unshare ami-0123456789abcdef0 --account 123456789012",
])
@click.argument("ami")
@click.argument("share_id", required=False, type=int)
@grantee_options
@pass_state
def unshare(state: State, ami, share_id, **grantees):
    """Withdraw a grant (by its id, or by naming the grantee)."""
    api = state.api()
    wanted = _one_grantee(grantees, required=share_id is None)
    if share_id is not None and wanted is not None:
        raise click.UsageError("give a grant id or a grantee, not both")
    if share_id is None:
        grants = api.get(ami_path(ami, "/shares/"), what=ami)
        grants = grants.get("results", grants) if isinstance(grants, dict) else grants
        match = [g for g in grants if (g["grantee_type"], g["grantee"]) == wanted]
        if not match:
            raise Refused(f"{ami} is not shared with {wanted[0]} {wanted[1]}", hint=f"cws ami shares {ami}")
        share_id = match[0]["id"]
    api.delete(ami_path(ami, f"/shares/{share_id}"), what=f"grant {share_id} of {ami}")
    state.out.result({"ami": ami, "share_id": share_id, "removed": True},
                     lambda d: state.out.line(f"Withdrew grant {share_id} of {ami}; AWS permissions are removed "
                                              "in the background."))


def _transition(state: State, ami: str, action: str, body: dict, verb: str):
    entry = state.api().post(ami_path(ami, f"/{action}"), body, what=ami)
    state.out.result(entry, lambda a: state.out.line(f"{verb} {a['name']} ({a['ami_id']}): status {a['status']}."))


@command("deprecate", examples=[
    "cws ami deprecate ami-0123456789abcdef0 --reason 'CUDA 11 is end of life'",
    "cws ami deprecate ami-0123456789abcdef0 --reason 'superseded' --replacement ami-0fedcba9876543210",
])
@click.argument("ami")
@click.option("--reason", required=True, help="Why (shown on the AMI page).")
@click.option("--replacement", help="The AMI that replaces it (registry id or AMI id).")
@pass_state
def deprecate(state: State, ami, reason, replacement):
    """Deprecate an approved AMI (owner or moderator): still listed, last in search, with a warning."""
    body = {"reason": reason, **({"replacement": replacement} if replacement else {})}
    _transition(state, ami, "deprecate", body, "Deprecated")


@command("revoke", examples=["cws ami revoke ami-0123456789abcdef0 --reason 'ships a vulnerable OpenSSL'"])
@click.argument("ami")
@click.option("--reason", required=True, help="Why (audited, shown to the owner).")
@pass_state
def revoke(state: State, ami, reason):
    """Revoke an AMI (moderators): never resolved again, grants withdrawn."""
    _transition(state, ami, "revoke", {"reason": reason}, "Revoked")


@command("approve", examples=["cws ami approve ami-0123456789abcdef0"])
@click.argument("ami")
@pass_state
def approve(state: State, ami):
    """Approve an AMI pending review (moderators)."""
    _transition(state, ami, "approve", {}, "Approved")


@command("reject", examples=["cws ami reject ami-0123456789abcdef0 --reason 'no description of the software'"])
@click.argument("ami")
@click.option("--reason", required=True, help="What the owner must fix.")
@pass_state
def reject(state: State, ami, reason):
    """Reject an AMI pending review, with a reason (moderators)."""
    _transition(state, ami, "reject", {"reason": reason}, "Rejected")


@command("copy", examples=[
    "cws ami copy ami-0123456789abcdef0 --regions us-west-2,eu-west-1",
    "cws ami copy ami-0123456789abcdef0 --regions ap-south-1 --no-wait --json",
])
@click.argument("ami")
@click.option("--regions", multiple=True, required=True, callback=csv_list, metavar="A,B",
              help="Regions to copy to (comma-separated or repeated); regions it is in already are skipped.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the copies until they end.")
@pass_state
def copy(state: State, ami, regions, wait):
    """Copy an AMI to more regions (owner or moderator), following each copy live."""
    api = state.api()
    answer = api.post(ami_path(ami, "/copy"), {"regions": regions}, what=ami)
    operations = answer.get("operations", [])
    if answer.get("skipped"):
        state.out.note(f"already there (skipped): {', '.join(answer['skipped'])}")
    if not wait or not operations:
        state.out.result(answer, lambda a: state.out.line(
            f"Copying {ami} to {', '.join(o['region'] for o in operations) or 'no new region'}"
            + (f"; follow with: cws ami operations --ami {ami}" if operations else ".")))
        return
    tracker = OperationsTracker(api, [o["id"] for o in operations])
    parts = watch(tracker, state.out, resume_hint=f"cws ami operations --ami {ami}")
    final = {**answer, **tracker.final(parts)}
    failed = [p for p in parts if p.state == "failed"]
    state.out.result(final, lambda f: state.out.line(
        f"Copied {ami} to {', '.join(p.region for p in parts if p.state == 'completed')}." if not failed else
        "Copy failed in " + ", ".join(f"{p.region} ({p.error})" for p in failed)))
    if failed:
        raise click.exceptions.Exit(1)
