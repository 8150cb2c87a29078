"""Contract: every AMI command of the real CloudWorkstation client (upstream ``internal/cli/ami.go``)
against a live registry — asserting on what the client prints: ids present, no blank fields, no
``$0.0000`` savings, exit codes. Upstream bugs the server cannot fix (the cobra wrappers drop
``--region``/``--details``/``--regions``/``--name``) are reached through the harness's ``x-ami-raw``.
"""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from amis.models import AMI
from tests.aws.test_worker import Workers
from tests.compat.conftest import Result

pytestmark = [pytest.mark.slow]

PYTHON_ML = "python-ml-ami"      # demo template: direct mappings in us-east-1 and us-west-2
US_EAST_IMAGE = "ami-0123456789abcdef0"
US_WEST_IMAGE = "ami-0fedcba9876543210"


def assert_no_blank_fields(result: Result) -> None:
    """A key the server does not send prints as ``Label: `` (blank) — or $0.0000 for money."""
    blank = [line for line in result.out.splitlines() if line.endswith(": ") or line.rstrip().endswith(":  ")]
    assert not blank, f"blank fields {blank} in:\n{result.out}"
    assert "$0.0000 savings" not in result.out, result.out


def test_read_commands_region_from_config_and_flags(real_cws, registry):
    # Region from config.json (aws.region → X-AWS-Region): us-west-2's mapping answers.
    real_cws.configure(region="us-west-2", api_key=registry.token("researcher"))
    resolved = real_cws("ami", "resolve", PYTHON_ML).ok()
    assert_no_blank_fields(resolved)
    assert resolved.value("AMI ID") == US_WEST_IMAGE and resolved.value("Resolution method") == "direct_mapping"
    assert "Launch time estimate: 30 seconds" in resolved.out

    preview = real_cws("ami", "preview", PYTHON_ML).ok()
    assert_no_blank_fields(preview)
    assert preview.value("Target region") == "us-west-2" and "Fallback chain: direct_mapping" in preview.out
    assert re.search(r"Launch time estimate: \d+ seconds", preview.out)

    # --region / --details reach the handler through x-ami-raw (the cobra wrapper declares no flags).
    detailed = real_cws("x-ami-raw", "resolve", PYTHON_ML, "--region", "us-east-1", "--details").ok()
    assert_no_blank_fields(detailed)
    assert detailed.value("Target region") == "us-east-1" and detailed.value("AMI ID") == US_EAST_IMAGE
    for label in ("Created", "Owner", "Platform", "Virtualization", "Root Device"):
        assert detailed.value(label), label
    assert "Fallback chain:" in detailed.out

    costs = real_cws("ami", "costs", PYTHON_ML).ok()
    assert_no_blank_fields(costs)
    one_hour = float(re.search(r"1-hour session: \$(-?[\d.]+) savings", costs.out).group(1))
    assert one_hour > 0, costs.out
    launch = float(re.search(r"Launch cost: \$([\d.]+)/hour", costs.out).group(1))
    assert 0.001 < launch < 10, "a launch cost per hour is an instance's hourly price"
    assert float(re.search(r"Break-even point: ([\d.]+) hours", costs.out).group(1)) > 0
    assert costs.value("Recommendation") in ("ami_recommended", "script_recommended", "neutral")

    tested = real_cws("x-ami-raw", "test", PYTHON_ML, "--regions", "us-east-1,us-west-2").ok()
    assert_no_blank_fields(tested)
    assert "Available in 2/2 regions" in tested.out
    assert f"us-east-1: passed ({US_EAST_IMAGE} via direct_mapping)" in tested.out
    assert f"us-west-2: passed ({US_WEST_IMAGE} via direct_mapping)" in tested.out
    default_regions = real_cws("ami", "test", PYTHON_ML).ok()
    assert "Overall Status:" in default_regions.out and "us-east-1: passed (ami-" in default_regions.out

    fresh = real_cws("ami", "check-freshness").ok()
    assert_no_blank_fields(fresh)
    assert int(re.search(r"Total AMIs checked: (\d+)", fresh.out).group(1)) > 0
    assert "Check completed at:" in fresh.out


def test_unknown_template_and_wrong_key_fail_with_the_servers_message(real_cws):
    unknown = real_cws("ami", "resolve", "no-such-template")
    assert unknown.code == 1
    assert "API error 404" in unknown.err and "template 'no-such-template' not found" in unknown.err
    real_cws.configure(region="us-east-1", api_key="not-a-real-key")
    denied = real_cws("x-ami-list-user")
    assert denied.code == 1 and "API error 401" in denied.err


@pytest.mark.worker
def test_create_status_list_cleanup_delete_with_a_real_worker(real_cws, registry, broker, tmp_path):  # noqa: F811
    # The cobra wrapper passes one argument only: the upstream handler then asks for --name (client bug).
    wrapper = real_cws("ami", "create", "cws-demo-instance")
    assert wrapper.code == 1 and "AMI name is required" in wrapper.err

    workers = Workers(registry.moto, tmp_path, broker)
    try:
        workers.start("w1")
        # The instance by its cws name (Name tag), from a client configured for another region.
        real_cws.configure(region="us-west-2", api_key=registry.token("researcher"))
        created = real_cws("x-ami-raw", "create", "cws-demo-instance", "--name", "contract-a",
                           "--template", PYTHON_ML).ok()
        assert_no_blank_fields(created)
        ami_id = created.value("AMI ID")
        assert re.fullmatch(r"ami-[0-9a-f]{17}", ami_id) and created.value("Name") == "contract-a"
        assert created.value("Template") == PYTHON_ML
        assert int(re.search(r"Estimated completion: (\d+) minutes", created.out).group(1)) > 0
        assert f"cws ami status {ami_id}" in created.out

        deadline = time.time() + 90
        while True:
            status = real_cws("ami", "status", ami_id).ok()  # by the AMI id the client printed
            if status.value("Status") in ("completed", "failed") or time.time() > deadline:
                break
            assert "still in progress" in status.out and status.value("AMI ID") == ami_id
            time.sleep(1)
        assert status.value("Status") == "completed", status.out + workers.log("w1")
        _lifecycle(real_cws, registry, ami_id, status)
    finally:
        workers.stop_all()


def _gone(registry, image_id: str, seconds: int = 60) -> bool:
    ec2 = registry.ec2("us-east-1")
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"]:
            return True
        time.sleep(1)
    return False


def _lifecycle(real_cws, registry, ami_id: str, status: Result) -> None:
    assert_no_blank_fields(status)
    assert "Progress: 100%" in status.out and "Estimated completion: 0 minutes remaining" in status.out
    assert "AMI creation completed successfully" in status.out

    listed = real_cws("x-ami-list-user").ok()
    assert_no_blank_fields(listed)
    block = listed.out.split(f"ID: {ami_id}", 1)[1].split("\n\n", 1)[0]
    assert "Name: contract-a" in block and "Visibility: Private" in block and re.search(r"Created: \d{4}-", block)

    # Cleanup: nothing of today's is older than 30 days; backdated, the draft is listed, then removed.
    real_cws.configure(region="us-east-1", api_key=registry.token("researcher"))
    AMI.objects.filter(ami_id=ami_id).update(created_at=timezone.now() - timedelta(days=40))
    dry = real_cws("ami", "cleanup", "--dry-run").ok()
    assert "DRY RUN" in dry.out and f"{ami_id} (contract-a) - Created" in dry.out
    assert int(re.search(r"AMIs would be removed: (\d+)", dry.out).group(1)) >= 1
    assert AMI.objects.filter(ami_id=ami_id).exists()
    cleaned = real_cws("ami", "cleanup", "--force").ok()
    assert "AMIs removed:" in cleaned.out and ami_id in cleaned.out
    assert not AMI.objects.filter(ami_id=ami_id).exists()
    assert ami_id not in real_cws("x-ami-list-user").ok().out
    assert _gone(registry, ami_id), "cleanup deregisters the image in AWS"

    # Delete: another one, deregistered with its snapshots by the worker.
    second = real_cws("x-ami-raw", "create", "cws-demo-instance", "--name", "contract-b",
                      "--template", PYTHON_ML).ok()
    second_id = second.value("AMI ID")
    deleted = real_cws("ami", "delete", second_id, "--force").ok()
    assert_no_blank_fields(deleted)
    assert deleted.value("AMI ID") == second_id and deleted.value("Status") in ("deleted", "deleting")
    assert int(deleted.value("Deleted snapshots")) >= 1
    assert _gone(registry, second_id)

    # Others depend on an approved public entry: 409 with the reason.
    public = AMI.objects.filter(creator__username="researcher", status="approved", visibility="public").first()
    refused = real_cws("ami", "delete", public.ami_id, "--force")
    assert refused.code == 1 and "API error 409" in refused.err and "approved public entry" in refused.err


def test_snapshots_create_list_restore_status_delete(real_cws, registry):
    created = real_cws("ami", "snapshot", "create", "cws-demo-instance", "ignored-name").ok()
    assert_no_blank_fields(created)
    snapshot_id = created.value("Snapshot ID")
    assert snapshot_id.startswith("snap-") and created.value("Volume ID").startswith("vol-")
    assert int(re.search(r"Volume Size: (\d+) GB", created.out).group(1)) > 0

    listed = real_cws("ami", "snapshot", "list").ok()
    assert_no_blank_fields(listed)
    assert f"ID: {snapshot_id}" in listed.out and "Total monthly storage cost:" in listed.out
    by_instance = real_cws("x-ami-raw", "snapshot", "list", "--instance-id", "cws-demo-instance").ok()
    assert f"ID: {snapshot_id}" in by_instance.out

    # The cobra wrapper's "restore <snapshot> <name>" drops the name (client bug): --name via x-ami-raw.
    assert "AMI name is required" in real_cws("ami", "snapshot", "restore", snapshot_id, "x").err
    restored = real_cws("x-ami-raw", "snapshot", "restore", snapshot_id, "--name", "contract-restored").ok()
    assert_no_blank_fields(restored)
    image_id = restored.value("AMI ID")
    assert image_id.startswith("ami-") and restored.value("Name") == "contract-restored"
    status = real_cws("ami", "status", image_id).ok()
    assert status.value("AMI ID") == image_id and status.value("Status") == "completed"

    in_use = real_cws("x-ami-raw", "snapshot", "delete", snapshot_id, "--force")
    assert in_use.code == 1 and "API error 409" in in_use.err and image_id in in_use.err
    kept = real_cws("x-ami-raw", "delete", image_id, "--force", "--deregister-only").ok()
    assert "Snapshots: Preserved (deregister-only mode)" in kept.out
    gone = real_cws("x-ami-raw", "snapshot", "delete", snapshot_id, "--force").ok()
    assert_no_blank_fields(gone)
    assert gone.value("Snapshot ID") == snapshot_id and "Monthly savings: $" in gone.out
    assert f"ID: {snapshot_id}" not in real_cws("ami", "snapshot", "list").ok().out

