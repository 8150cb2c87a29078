"""``cws ami resolve``, ``preview``, ``test``, ``costs`` against the live registry and the AWS
emulator, including consent to copy (by the registry for the AMI's owner, into the caller's own
account for everyone else)."""
import pytest

from amis.models import AMI, AMIRegion
from cws.core import State
from tests.cli.conftest import assert_golden

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_resolve_answers_and_explains(registry, cli):
    rstudio = AMI.objects.get(name="RStudio Server for Statistics")
    answer = cli("ami", "resolve", "r-rstudio", "--region", "us-east-1", "--json").ok().json()
    assert (answer["resolution_method"], answer["ami_id"], answer["registry_id"]) == (
        "registry", rstudio.ami_id, str(rstudio.pk))
    assert [t["tier"] for t in answer["tried"]] == ["direct_mapping", "registry"]
    assert answer["copy_started"] is None

    detailed = cli("ami", "resolve", "r-rstudio", "-r", "us-east-1", "--details", "--json").ok().json()
    assert detailed["cost_analysis"]["template_name"] == "R Research (RStudio Server)"
    human = cli("ami", "resolve", "r-rstudio", "-r", "us-east-1", "--details").ok().stdout
    assert "R Research (RStudio Server) in us-east-1: registry → " + rstudio.ami_id in human
    assert "break-even" in human

    # The configured region is used when --region is absent.
    cli("config", "set", "region", "us-east-1").ok()
    assert cli("ami", "resolve", "r-rstudio", "--json").ok().json()["target_region"] == "us-east-1"


def test_resolve_refusals(registry, cli):
    refused = cli("ami", "resolve", "python-ml-ami", "-r", "ap-south-1", "--strategy", "ami_required")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: no AMI available for template 'Python ML (AMI Optimized)' in "
                                     "ap-south-1 (strategy ami_required forbids script provisioning)")
    assert "  registry: not_found — no approved community AMI" in refused.stderr
    assert "  fallback_script: skipped — strategy ami_required forbids script provisioning" in refused.stderr
    as_json = cli("ami", "resolve", "python-ml-ami", "-r", "ap-south-1", "--strategy", "ami_required", "--json")
    error = as_json.json()["error"]
    assert error["code"] == "no_ami_available" and error["status_code"] == 422
    assert "registry" in error["fallback_chain"] and error["tried"][-1]["tier"] == "fallback_script"

    unknown = cli("ami", "resolve", "no-such-template", "-r", "us-east-1")
    assert unknown.exit_code == 1 and "template 'no-such-template'" in unknown.stderr
    bad_region = cli("ami", "resolve", "r-rstudio", "-r", "mars-1")
    assert bad_region.exit_code == 1 and "region" in bad_region.stderr


def test_consent_to_copy(registry, cli, monkeypatch):
    genomics = AMI.objects.get(name="Genomics Pipeline")  # the admin's, in eu-west-1 only
    registry.without_template_mappings("genomics-pipeline-ami")

    # Nobody to ask (not a terminal) and no --yes: nothing is copied, the way forward is shown.
    registry.sign_in("researcher")
    declined = cli("ami", "resolve", "genomics-pipeline-ami", "-r", "eu-west-2").ok()
    assert_golden("resolve-cross-region", declined.stdout)
    assert not AMIRegion.objects.filter(ami=genomics, region="eu-west-2").exists()

    # A researcher consents: the registry copies only its owners' AMIs, so the copy goes into the
    # researcher's own account, with their credentials.
    monkeypatch.setattr(State, "interactive", property(lambda self: True))
    ec2 = registry.act_in_account_of("admin")  # where the admin's image is (see act_in_account_of)
    asked = cli("ami", "resolve", "genomics-pipeline-ami", "-r", "eu-west-2", input="y\n").ok()
    assert "into your own AWS account (your credentials, your bill)? About $" in asked.stderr
    copy_id = asked.stdout.strip().splitlines()[-1].split()[2]
    image = ec2("eu-west-2").describe_images(ImageIds=[copy_id])["Images"][0]
    assert image["State"] == "available" and image["Name"].startswith(f"cws-copy-{genomics.ami_id}-")
    assert not AMIRegion.objects.filter(ami=genomics, region="eu-west-2").exists()

    # The owner consents with --yes: the registry copies it, and then answers from the copy.
    registry.sign_in("admin")
    owned = cli("ami", "resolve", "genomics-pipeline-ami", "-r", "eu-west-2", "--yes", "--json").ok().json()
    assert owned["consent_required"] is True and owned["copy_started"]["by"] == "registry"
    row = AMIRegion.objects.get(ami=genomics, region="eu-west-2")
    assert row.state == "available" and owned["copy_started"]["ami_id"] == row.image_id
    now = cli("ami", "resolve", "genomics-pipeline-ami", "-r", "eu-west-2", "--json").ok().json()
    assert (now["resolution_method"], now["ami_id"]) == ("registry", row.image_id)


def test_preview_test_and_costs(registry, cli):
    preview = cli("ami", "preview", "r-rstudio", "-r", "eu-west-1", "--json").ok().json()
    assert preview["resolution_method"] == "fallback_script" and preview["aws_calls"] == 0
    human = cli("ami", "preview", "r-rstudio", "-r", "eu-west-1").ok().stdout
    assert human.startswith("R Research (RStudio Server) in eu-west-1: would answer with fallback_script")

    passed = cli("ami", "test", "r-rstudio", "--regions", "us-east-1,eu-west-1", "--json").ok().json()
    assert passed["overall_status"] == "passed" and set(passed["region_results"]) == {"us-east-1", "eu-west-1"}
    assert passed["region_results"]["us-east-1"]["resolution_method"] == "registry"
    registry.without_template_mappings("genomics-pipeline-ami")
    partial = cli("ami", "test", "genomics-pipeline-ami", "--regions", "eu-west-1", "--regions", "ap-south-1")
    assert partial.exit_code == 1  # not every region has an answer
    assert "ap-south-1   failed" in partial.stdout and "partial — 1 of 2 region(s)" in partial.stdout
    both = cli("ami", "test", "r-rstudio", "--regions", "us-east-1", "--all-regions")
    assert both.exit_code == 2

    costs = cli("ami", "costs", "r-rstudio", "-r", "eu-west-1", "--instance-type", "m7i.large", "--json").ok().json()
    assert costs["instance_type"] == "m7i.large" and costs["recommendation"] in (
        "ami_recommended", "script_recommended", "neutral")
    assert costs["script_setup_cost"] > costs["ami_setup_cost"]
    table = cli("ami", "costs", "r-rstudio", "-r", "eu-west-1").ok().stdout
    assert "instance per hour" in table and "break-even" in table


def test_shell_completion_offers_the_registrys_templates(registry, cli):
    from click.shell_completion import ShellComplete

    from cws.cli import cli as root

    complete = ShellComplete(root, {}, "cws", "_CWS_COMPLETE")
    assert [c.value for c in complete.get_completions(["ami", "resolve"], "python-ml-")] == [
        "python-ml-ami", "python-ml-graviton", "python-ml-spark"]
    assert "resolve" in [c.value for c in complete.get_completions(["ami"], "res")]
