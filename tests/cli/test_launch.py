"""``cws launch``: resolution through the live registry, the instance launched in the AWS emulator
with boto3 (AWS_ENDPOINT_URL), the launch recorded so reviews show as verified launches."""
import base64

import pytest

from amis.models import AMI, Download, Launch

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def instances_named(registry, name, region="us-east-1", ec2=None):
    found = (ec2 or registry.ec2)(region).describe_instances(Filters=[{"Name": "tag:Name", "Values": [name]}])
    return [i for r in found["Reservations"] for i in r["Instances"]]


def test_launch_from_a_registry_ami_records_a_verified_launch(registry, cli):
    rstudio = AMI.objects.get(name="RStudio Server for Statistics")
    registry.sign_in("demo-reviewer-chen")  # no launch recorded yet, and not the owner
    ec2 = registry.act_in_account_of("admin")  # where the admin's image is (see act_in_account_of)
    before = rstudio.download_count
    shown = cli("launch", "r-rstudio", "cli-stats-1", "--region", "us-east-1", "--show-ami-resolution").ok()
    assert "R Research (RStudio Server) in us-east-1: registry → " + rstudio.ami_id in shown.stdout
    assert "TIER" in shown.stdout and "Launch recorded with the registry" in shown.stdout
    (instance,) = instances_named(registry, "cli-stats-1", ec2=ec2)
    assert instance["ImageId"] == rstudio.ami_id and instance["InstanceType"] == "r6i.large"
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags == {"Name": "cli-stats-1", "cws:template": "r-rstudio", "cws:resolution": "registry",
                    "cws:registry-id": str(rstudio.pk)}
    rstudio.refresh_from_db()
    assert rstudio.download_count == before + 1
    assert Download.objects.filter(ami=rstudio, user__username="demo-reviewer-chen", client="cws",
                                   region="us-east-1").count() == 1
    # Reported for the success metrics too: from an AMI, the registry entry, the instance type.
    # With the time until EC2 reported the instance running (the dashboard's launch-time metric).
    (reported,) = Launch.objects.filter(ami=rstudio, method="ami", region="us-east-1", instance_type="r6i.large",
                                        resolution_method="registry", succeeded=True, client="cws")
    assert reported.seconds is not None and 0 <= reported.seconds < 60
    assert "Running after" in shown.stdout
    review = cli("ami", "rate", rstudio.ami_id, "5", "--review", "Launched it from the CLI.", "--json").ok().json()
    assert review["verified_launch"] is True

    as_json = cli("launch", "r-rstudio", "cli-stats-2", "-r", "us-east-1", "-i", "m7i.large", "--json").ok().json()
    assert as_json["instance_type"] == "m7i.large" and as_json["instance_type_from"] == "--instance-type"
    assert as_json["download"]["client"] == "cws" and as_json["resolution"]["resolution_method"] == "registry"
    unwaited = cli("launch", "r-rstudio", "cli-stats-3", "-r", "us-east-1", "--no-wait", "--json").ok().json()
    assert unwaited["launch_seconds"] is None


def test_launch_by_script_when_no_ami_answers(registry, cli):
    registry.sign_in(None)  # resolving and launching need no registry account
    launched = cli("launch", "bioinformatics-conda", "cli-bio-1", "-r", "us-east-1", "--json").ok().json()
    assert launched["resolution_method"] == "fallback_script" and launched["download"] is None
    # Provisioning continues after boot, out of the client's sight: no launch time is claimed.
    (scripted,) = Launch.objects.filter(method="script", template__slug="bioinformatics-conda", ami=None)
    assert scripted.seconds is None and launched["launch_seconds"] is None
    (instance,) = instances_named(registry, "cli-bio-1")
    assert instance["ImageId"] == launched["resolution"]["ami_id"]  # the base OS image from SSM
    user_data = registry.ec2().describe_instance_attribute(InstanceId=instance["InstanceId"],
                                                           Attribute="userData")["UserData"]["Value"]
    text = base64.b64decode(user_data).decode()
    assert text.startswith("#!/bin/bash\n# CloudWorkstation template 'Bioinformatics (Bioconda)'")
    assert "/opt/conda/bin/conda install -y -c conda-forge" in text and "samtools" in text

    dry = cli("launch", "bioinformatics-conda", "cli-bio-dry", "-r", "us-east-1", "--dry-run", "--json").ok().json()
    assert dry["dry_run"] is True and dry["user_data"] == text and dry["image_id"] == instance["ImageId"]
    assert instances_named(registry, "cli-bio-dry") == []
    human = cli("launch", "bioinformatics-conda", "cli-bio-dry", "-r", "us-east-1", "--dry-run").ok().stdout
    assert "Would launch cli-bio-dry in us-east-1 from ami-" in human
    assert "Dry run: nothing launched, nothing recorded." in human


def test_launch_that_needs_a_copy(registry, cli):
    genomics = AMI.objects.get(name="Genomics Pipeline")
    registry.without_template_mappings("genomics-pipeline-ami")
    registry.sign_in("researcher")
    ec2 = registry.act_in_account_of("admin")  # where the admin's image is (see act_in_account_of)
    refused = cli("launch", "genomics-pipeline-ami", "cli-gen-1", "-r", "eu-west-2")
    assert refused.exit_code == 1
    assert "not launched: the AMI is in eu-west-1 and must be copied to eu-west-2 first" in refused.stderr
    assert instances_named(registry, "cli-gen-1", "eu-west-2", ec2=ec2) == []

    launched = cli("launch", "genomics-pipeline-ami", "cli-gen-1", "-r", "eu-west-2", "--yes", "--json").ok().json()
    assert launched["copy"]["by"] == "your_account"
    (instance,) = instances_named(registry, "cli-gen-1", "eu-west-2", ec2=ec2)
    assert instance["ImageId"] == launched["copy"]["ami_id"] != genomics.ami_id
    assert Download.objects.filter(ami=genomics, region="eu-west-2", client="cws").count() == 1


def test_launch_errors(registry, cli):
    unknown = cli("launch", "no-such-template", "x", "-r", "us-east-1")
    assert unknown.exit_code == 1 and "template 'no-such-template'" in unknown.stderr
    no_region = cli("launch", "r-rstudio", "x", env={"AWS_DEFAULT_REGION": None})
    assert no_region.exit_code == 2 and "no AWS region given (where to launch)" in no_region.stderr
    no_credentials = cli("launch", "r-rstudio", "x", "-r", "us-east-1", env={
        "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"})
    assert no_credentials.exit_code == 2
    assert "no AWS credentials found" in no_credentials.stderr and "Traceback" not in no_credentials.stderr
