"""``cws launch``: resolve a template through the registry, launch a workstation with boto3 (your
own AWS credentials; ``AWS_ENDPOINT_URL`` for an emulator) and record the launch, so that your
review of the AMI shows as a verified launch."""
from __future__ import annotations

import re
import time

import click

from cws import aws, copying, provisioning
from cws.api import ApiError, quote_segment
from cws.commands.resolving import STRATEGIES, render_resolution, resolve_template
from cws.core import State, command, complete_template, pass_state, region_option
from cws.errors import CwsError, Refused

DEFAULT_TYPES = {"arm64": "t4g.medium", "x86_64": "t3.medium"}
# Answers whose image may be a registry entry (the launch is then recorded against it).
RECORDABLE = ("direct_mapping", "registry", "dynamic_search", "marketplace", "cross_region")
FAMILY_RE = re.compile(r"^[a-z]+\d+([a-z-]*)$")
# How long `cws launch` waits for EC2 to report the instance running (the launch time it reports).
RUNNING_WAIT_SECONDS, RUNNING_POLL_SECONDS = 600, 2.0


def architecture_of(instance_type: str) -> str:
    """x86_64 or arm64 from the type's name: Graviton families carry a ``g`` after the generation
    (t4g, m7g, c7gn, x2gd, g5g); none of the x86 families do (g4dn's ``g`` is its prefix)."""
    match = FAMILY_RE.match(instance_type.split(".")[0])
    return "arm64" if match and "g" in match.group(1) else "x86_64"


def choose_instance_type(explicit: str | None, template: dict, architecture: str) -> tuple[str, str]:
    """(instance type, why)."""
    if explicit:
        return explicit, "--instance-type"
    doc = template.get("document") if isinstance(template.get("document"), dict) else {}
    by_arch = (doc.get("ami_config") or {}).get("instance_types") if isinstance(doc.get("ami_config"), dict) else None
    if isinstance(by_arch, dict) and isinstance(by_arch.get(architecture), str):
        return by_arch[architecture], f"the template's ami_config.instance_types.{architecture}"
    default = (doc.get("instance_defaults") or {}).get("type") if isinstance(doc.get("instance_defaults"), dict) \
        else None
    if isinstance(default, str) and architecture_of(default) == architecture:
        return default, "the template's instance_defaults.type"
    return DEFAULT_TYPES.get(architecture, "t3.medium"), f"the default for {architecture}"


def base_image_from_ssm(region: str, parameter: str) -> str:
    with aws.translated(f"reading the base image parameter {parameter}"):
        return aws.client("ssm", region).get_parameter(Name=parameter)["Parameter"]["Value"]


def record_launch(state: State, resolution: dict, *, image_id: str, region: str) -> dict | None:
    """``POST /amis/{ami}/downloads`` (client ``cws``) when the image is a registry entry."""
    ref = resolution.get("registry_id") or (image_id if resolution["resolution_method"] in RECORDABLE else "")
    if not ref:
        return None
    try:
        return state.api().post(f"/amis/{quote_segment(ref)}/downloads", {"region": region, "client": "cws"})
    except ApiError as err:
        if err.status != 404:  # 404: not a registry AMI (a template's own mapping), nothing to record
            state.out.warn(f"launched, but the registry did not record it: {err.message}")
        return None


def wait_until_running(region: str, instance_id: str, *, started: float) -> float | None:
    """Seconds from the launch request until EC2 reports the instance ``running`` (None when it
    does not within the wait, or AWS stops answering: a launch time is then not known)."""
    ec2 = aws.client("ec2", region)
    while time.monotonic() - started < RUNNING_WAIT_SECONDS:
        try:
            found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        except Exception:  # noqa: BLE001 — a measurement only: any AWS trouble leaves it unknown
            return None
        state = (found.get("State") or {}).get("Name")
        if state == "running":
            return round(time.monotonic() - started, 2)
        if state in ("shutting-down", "terminated", "stopped", "stopping"):
            return None
        time.sleep(RUNNING_POLL_SECONDS)
    return None


def report_launch(state: State, resolution: dict, *, template: str, region: str, instance_type: str, script: bool,
                  succeeded: bool, error: str = "", seconds: float | None = None) -> None:
    """``POST /launches``: tell the registry's success metrics how this launch went (best effort:
    a registry without the endpoint, or one that refuses the report, never fails the launch)."""
    body = {"region": region, "method": "script" if script else "ami", "template": template,
            "resolution_method": resolution.get("resolution_method") or "", "instance_type": instance_type,
            "succeeded": succeeded, "error": error[:200], "client": "cws"}
    if seconds is not None:
        body["seconds"] = seconds
    if not script and resolution.get("registry_id"):
        body["ami"] = resolution["registry_id"]  # else the template's own image: counted for the template
    try:
        state.api().post("/launches", body)
    except ApiError:
        pass  # an older registry without /launches, or a refused report: the launch itself succeeded


@command("launch", examples=[
    "cws launch python-ml-ami my-ml --region eu-west-1",
    "cws launch python-ml-ami my-ml -r ap-south-1 --show-ami-resolution --dry-run",
    "cws launch r-rstudio stats -r us-east-1 --instance-type r7i.large --ami-strategy ami_required",
    "cws launch python-ml-ami my-ml -r eu-west-1 --yes     # consent to copy the AMI when needed",
])
@click.argument("template", shell_complete=complete_template)
@click.argument("name")
@region_option(help_text="Where to launch (else the configured region, AWS_REGION, AWS_DEFAULT_REGION).")
@click.option("--instance-type", "-i", help="Instance type (default: the template's, for the AMI's architecture).")
@click.option("--ami-strategy", type=click.Choice(STRATEGIES), help="Override the template's AMI strategy.")
@click.option("--arch", "architecture", type=click.Choice(["x86_64", "arm64"]))
@click.option("--show-ami-resolution", is_flag=True, help="Show how the AMI was chosen (tiers tried).")
@click.option("--dry-run", is_flag=True, help="Resolve and show the plan; launch nothing, call no AWS API.")
@click.option("--yes", "-y", is_flag=True, help="Consent to copying the AMI into the region when needed.")
@click.option("--key-name", help="EC2 key pair for SSH.")
@click.option("--subnet-id", help="Subnet to launch into.")
@click.option("--security-group-id", "security_groups", multiple=True, help="Security group (repeatable).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until EC2 reports the instance running (and report that launch time to the registry).")
@pass_state
def launch(state: State, template, name, region, instance_type, ami_strategy, architecture, show_ami_resolution,
           dry_run, yes, key_name, subnet_id, security_groups, wait):
    """Launch workstation NAME from TEMPLATE: from the AMI the registry resolves, or from the base
    OS with the template's provisioning script as user data when no AMI answers."""
    region = state.require_region(region, why="where to launch")
    resolution = resolve_template(state, template, region=region, architecture=architecture, strategy=ami_strategy)
    if show_ami_resolution and not state.json_mode:
        render_resolution(state.out, resolution)
    template_doc = state.api().get(f"/templates/{quote_segment(template)}", what=f"template '{template}'")
    method = resolution["resolution_method"]
    image_id = resolution.get("ami_id") or ""
    user_data = None
    copy_plan = copy_result = None

    if method == "cross_region":
        copy_plan = copying.plan(state, resolution)
        if not dry_run:
            if not state.confirm(copying.question(copy_plan), yes=yes):
                raise Refused(f"not launched: the AMI is in {copy_plan['source_region']} and must be copied to "
                              f"{region} first", hint=f"run again with --yes to copy it, or launch in "
                                                      f"{copy_plan['source_region']}")
            copy_result = copying.perform(state, copy_plan, wait=True)
            image_id = copy_result["ami_id"]
            if not image_id:  # the registry has a copy under way there already, started by someone else
                raise Refused(f"a copy of the AMI into {region} is already under way",
                              hint=f"launch when it is available: `cws ami resolve {template} --region {region}` "
                                   "shows it")
    elif method == "fallback_script":
        user_data = provisioning.script(template_doc)
        if not image_id and resolution.get("base_image_parameter") and not dry_run:
            image_id = base_image_from_ssm(region, resolution["base_image_parameter"])
        if not image_id and not dry_run:
            raise Refused(f"no base image for template '{template}' in {region}: {resolution.get('warning')}")

    arch = resolution.get("ami_architecture") or architecture or "x86_64"
    itype, itype_why = choose_instance_type(instance_type, template_doc, arch)
    tags = {"Name": name, "cws:template": template_doc.get("slug") or template, "cws:resolution": method}
    if resolution.get("registry_id"):
        tags["cws:registry-id"] = resolution["registry_id"]
    plan = {"name": name, "region": region, "image_id": image_id or None, "instance_type": itype,
            "instance_type_from": itype_why, "architecture": arch, "resolution_method": method,
            "user_data": user_data, "tags": tags, "copy": copy_plan if dry_run else copy_result}

    if dry_run:
        def render_plan(p):
            image = p["image_id"] or (f"the copy of {copy_plan['source_ami_id']} (after your consent)" if copy_plan
                                      else f"the base image from {resolution.get('base_image_parameter')}")
            state.out.line(f"Would launch {name} in {region} from {image} on {itype} ({itype_why}).", style="bold")
            if copy_plan:
                state.out.line(copying.question(copy_plan).replace("?", " — asked before launching."))
            if user_data:
                state.out.line(f"User data: the template's provisioning script, {len(user_data.splitlines())} lines "
                               f"(--json shows it).")
            state.out.line("Dry run: nothing launched, nothing recorded.", style="dim")

        state.out.result({**plan, "dry_run": True, "resolution": resolution}, render_plan)
        return

    kwargs = {"ImageId": image_id, "InstanceType": itype, "MinCount": 1, "MaxCount": 1,
              "TagSpecifications": [{"ResourceType": "instance",
                                     "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]}
    if user_data:
        kwargs["UserData"] = user_data
    if key_name:
        kwargs["KeyName"] = key_name
    if subnet_id:
        kwargs["SubnetId"] = subnet_id
    if security_groups:
        kwargs["SecurityGroupIds"] = list(security_groups)
    started = time.monotonic()
    try:
        with aws.translated(f"launching {name} from {image_id}"):
            instance = aws.client("ec2", region).run_instances(**kwargs)["Instances"][0]
    except CwsError as err:
        report_launch(state, resolution, template=template, region=region, instance_type=itype,
                      script=bool(user_data), succeeded=False, error=err.message)
        raise
    download = record_launch(state, resolution, image_id=image_id, region=region)
    # From an AMI the workstation is ready once EC2 reports it running: that is the launch time the
    # registry's success metrics measure. A scripted launch keeps provisioning after that, out of
    # the client's sight, so its time is not reported.
    seconds = None if user_data or not wait else wait_until_running(region, instance["InstanceId"], started=started)
    report_launch(state, resolution, template=template, region=region, instance_type=itype, script=bool(user_data),
                  succeeded=True, seconds=seconds)
    ssh_user = ((template_doc.get("document") or {}).get("ami_config") or {}).get("ssh_user") or "ec2-user"
    result = {**plan, "user_data": bool(user_data), "instance_id": instance["InstanceId"], "launch_seconds": seconds,
              "state": instance.get("State", {}).get("Name"), "private_ip": instance.get("PrivateIpAddress"),
              "public_ip": instance.get("PublicIpAddress"), "ssh_user": ssh_user, "download": download,
              "resolution": resolution}

    def render(r):
        how = "with the template's provisioning script (first boot takes a few minutes)" if user_data else \
            f"({method})"
        state.out.line(f"Launched {name}: {r['instance_id']} ({itype}) in {region} from {image_id} {how}.",
                       style="green")
        if r.get("launch_seconds") is not None:
            state.out.line(f"Running after {r['launch_seconds']:.0f} s.", style="dim")
        if download:
            state.out.line("Launch recorded with the registry: your review of this AMI will show as a verified "
                           "launch.", style="dim")
        if r.get("public_ip"):
            state.out.line(f"Connect: ssh {ssh_user}@{r['public_ip']}")

    state.out.result(result, render)

