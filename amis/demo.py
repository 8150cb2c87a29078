"""Demo catalogue for `make run` (``manage.py seed_demo``): a handful of community AMIs in
various templates, categories, architectures, regions and statuses.

The images must exist in the configured AWS, because registration reads them with
DescribeImages. With the local emulator (``REGISTRY_EMULATOR``, a moto server at
``AWS_ENDPOINT_URL``) they are created there (an instance, then CreateImage), tagged
``cws-demo=<key>``. With real AWS nothing is created: images already tagged ``cws-demo`` in the
account are used, and without them the AMI demo data is skipped (said on stdout).

Idempotent: images are looked up by tag before creating, and an image already registered is
left alone, so running the seeder on every start changes nothing after the first run. Every
write goes through the services (audit log, signals and counters stay consistent). Ratings and
downloads on these entries come from the ratings demo.

``demo_context`` (a context processor that ``registry.settings.demo`` installs) gives the submit
wizard the emulator's running demo instances, so /submit/ offers them.
"""
from __future__ import annotations

from django.conf import settings

from amis import services
from amis.models import AMI
from registry import aws
from registry.aws_accounts import aws_account_link, aws_accounts_verified, claim_for
from registry.demo import DEMO_INSTANCES, DEMO_TAG, demo_role
from registry.errors import ApplicationError
from templates.selectors import template_get

# A syntactically valid placeholder used as the instance's source image when the emulator has
# no stock AMIs (a moto server started with MOTO_EC2_LOAD_DEFAULT_AMIS=false).
PLACEHOLDER_BASE_IMAGE = "ami-0de0000000000000a"

# key, owner (researcher|admin), region, arch, template slug, category, target status, visibility, name, description, tags
DEMO_AMIS = [
    ("pytorch-gpu", "researcher", "us-east-1", "x86_64", "gpu-deep-learning", "Machine Learning", "approved",
     "public", "PyTorch 2.4 GPU Workstation", "CUDA 12.4, cuDNN, PyTorch 2.4 and JupyterLab, ready on first boot.",
     {"framework": "pytorch", "gpu": "nvidia"}),
    ("python-ml-graviton", "researcher", "us-west-2", "arm64", "python-ml-graviton", "Machine Learning",
     "approved", "public", "Python ML on Graviton", "scikit-learn, pandas and XGBoost built for arm64.",
     {"framework": "scikit-learn"}),
    ("genomics", "admin", "eu-west-1", "x86_64", "genomics-pipeline-ami", "Bioinformatics", "approved", "public",
     "Genomics Pipeline", "GATK 4, samtools, bcftools and Nextflow with reference-data helpers.",
     {"pipeline": "nextflow"}),
    ("rstudio", "admin", "us-east-1", "x86_64", "r-rstudio", "Statistics", "approved", "public",
     "RStudio Server for Statistics", "R 4.4 with tidyverse and RStudio Server on port 8787.",
     {"language": "r"}),
    ("spark", "researcher", "us-west-2", "arm64", "python-ml-spark", "Big Data", "pending_review", "public",
     "Spark + Python ML (pending review)", "Apache Spark 3.5 with PySpark notebooks, waiting for a moderator.",
     {"framework": "spark"}),
    # The README's resolve example (python-ml-ami in eu-west-1) is answered by this entry: the
    # template maps no image there and forbids cross-region copies.
    ("python-ml-eu", "researcher", "eu-west-1", "arm64", "python-ml-ami", "Machine Learning", "approved",
     "public", "Python ML on Graviton (Ireland)", "JupyterLab, NumPy, pandas and scikit-learn on arm64, "
     "built from the python-ml-ami template.", {"framework": "scikit-learn"}),
    ("bioconda-draft", "researcher", "us-east-1", "x86_64", "bioinformatics-conda", "Bioinformatics", "draft",
     "private", "Bioconda workstation (draft)", "A draft the researcher has not submitted yet.",
     {"channel": "bioconda"}),
]


def _find_tagged_image(region: str, key: str, role: aws.AccountRole | None = None) -> str | None:
    images = aws.call(region, "ec2", "describe_images", role=role, Owners=["self"],
                      Filters=[{"Name": f"tag:{DEMO_TAG}", "Values": [key]}]).get("Images", [])
    return images[0]["ImageId"] if images else None


def _base_image(region: str, arch: str, role: aws.AccountRole | None = None) -> str:
    """A stock image of ``arch`` when the emulator has them (gives the right architecture)."""
    images = aws.call(region, "ec2", "describe_images", role=role, Owners=["amazon"],
                      Filters=[{"Name": "architecture", "Values": [arch]},
                               {"Name": "root-device-type", "Values": ["ebs"]}]).get("Images", [])
    return images[0]["ImageId"] if images else PLACEHOLDER_BASE_IMAGE


def _create_emulator_image(region: str, arch: str, key: str, name: str, role: aws.AccountRole | None = None) -> str:
    instance_type = "t4g.large" if arch == "arm64" else "t3.large"
    reservation = aws.call(region, "ec2", "run_instances", role=role, ImageId=_base_image(region, arch, role),
                           MinCount=1, MaxCount=1, InstanceType=instance_type)
    instance_id = reservation["Instances"][0]["InstanceId"]
    image = aws.call(region, "ec2", "create_image", role=role, InstanceId=instance_id, Name=f"cws-demo-{key}",
                     Description=name,
                     TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": DEMO_TAG, "Value": key}]}])
    # The builder instance is not needed once the image exists.
    aws.call(region, "ec2", "terminate_instances", role=role, InstanceIds=[instance_id])
    return image["ImageId"]


def _link_demo_accounts(owners: dict) -> dict:
    """Emulator only: link each demo publisher's emulator account (``registry.demo.DEMO_AWS_ACCOUNTS``)
    through the same service as ``POST /me/aws-accounts``; returns {owner key: role}. A link already
    verified is left alone, so re-seeding writes no new audit events."""
    roles = {}
    for owner_key, user in owners.items():
        role = demo_role(owner_key)
        if role.account_id not in aws_accounts_verified(user=user):
            aws_account_link(user=user, role_arn=role.role_arn, external_id=role.external_id)
        roles[owner_key] = role
    return roles


def _claim_for_demo(region: str, image_id: str, user) -> None:
    """Real AWS (no emulator, nothing linked): the demo's own tagged images are claimed for their
    owner with the claim tag, in the registry's account, where seed_emulator's counterpart put them."""
    claim = claim_for(user=user)
    aws.call(region, "ec2", "create_tags", Resources=[image_id], Tags=[{"Key": claim["key"], "Value": claim["value"]}])


def seed(stdout=None, admin=None, researcher=None, moderator=None, **kwargs) -> list[AMI]:
    """Register (and move through the lifecycle) the demo AMIs; returns the entries touched."""
    write = stdout.write if stdout is not None else (lambda msg: None)
    emulator = bool(getattr(settings, "REGISTRY_EMULATOR", False))
    owners = {"researcher": researcher or admin, "admin": admin or researcher}
    done: list[AMI] = []
    created = skipped = 0
    try:
        roles = _link_demo_accounts(owners) if emulator else {}
    except (aws.AwsError, ApplicationError) as exc:
        write(f"amis: the emulator did not verify the demo accounts ({exc}); AMI demo data skipped.")
        return done
    for key, owner_key, region, arch, template_slug, category, target, visibility, name, description, tags in DEMO_AMIS:
        owner = owners[owner_key]
        role = roles.get(owner_key)
        try:
            image_id = _find_tagged_image(region, key, role)
            if image_id is None:
                if not emulator:
                    skipped += 1
                    continue
                image_id = _create_emulator_image(region, arch, key, name, role)
            elif not emulator and not AMI.objects.filter(ami_id=image_id).exists():
                _claim_for_demo(region, image_id, owner)
        except aws.AwsError as exc:
            write(f"amis: AWS not reachable for the demo ({exc.code or 'error'}: {exc.message}); "
                  "AMI demo data skipped.")
            return done
        existing = AMI.objects.filter(ami_id=image_id).first()
        if existing is not None:
            done.append(existing)
            continue
        ami = services.ami_register(user=owner, ami_id=image_id, region=region, name=name, description=description,
                                    template=template_get(template_slug), category=category, tags=tags,
                                    visibility=visibility)
        if target in ("pending_review", "approved"):
            ami = services.ami_submit(ami=ami, user=owner, public=visibility == "public")
        if target == "approved" and moderator is not None:
            ami = services.ami_approve(ami=ami, moderator=moderator)
        created += 1
        done.append(ami)
    if skipped and not done:
        write(f"amis: no demo images (tag {DEMO_TAG}) in the configured AWS and no emulator: AMI demo data skipped.")
    else:
        write(f"amis: {created} demo AMIs registered, {len(done) - created} already present"
              + (f", {skipped} skipped (no tagged image in real AWS)" if skipped else "") + ".")
    return done


def demo_instances() -> list[dict]:
    """The emulator's running demo instances (``registry.demo.DEMO_INSTANCES``); [] outside the demo
    or when the emulator does not answer."""
    if not getattr(settings, "REGISTRY_EMULATOR", False):
        return []
    found = []
    for region in dict.fromkeys(region for _name, region, _arch, _type in DEMO_INSTANCES):
        try:
            reservations = aws.call(region, "ec2", "describe_instances", Filters=[
                {"Name": f"tag:{DEMO_TAG}", "Values": ["instance"]},
                {"Name": "instance-state-name", "Values": ["running"]}]).get("Reservations", [])
        except aws.AwsError:
            continue
        for instance in (i for r in reservations for i in r.get("Instances", [])):
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            found.append({"id": instance["InstanceId"], "name": tags.get("Name", ""), "region": region,
                          "architecture": instance.get("Architecture", ""),
                          "instance_type": instance.get("InstanceType", "")})
    return found


def demo_context(request) -> dict:
    """Context processor of the demo settings: lazy, so only a page that shows the instances asks AWS."""
    return {"demo_instances": demo_instances}
