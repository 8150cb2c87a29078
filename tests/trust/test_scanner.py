"""The security scanner on moto-made images: every check, the score, the gate and exceptions.

moto 5.2 has no API to create an image with an encrypted root, IMDSv2 required, ENA or a
deprecation time (register_image ignores them); the tests set those facts on moto's backend
objects, and moto then reports them through the real DescribeImages/DescribeSnapshots responses.
"""
import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from amis.models import AMI, Operation, ScanException, ScanResult
from amis.scanner import (Check, ami_scan, ami_scan_gate, scanner_register,
                          scanner_unregister, score_findings)
from registry.errors import Conflict
from registry.models import AuditEvent
from tests.conftest import client_for
from tests.factories import AMIFactory
from tests.trust.conftest import moto_image

pytestmark = pytest.mark.django_db


def _snapshot(snapshot_id, region="us-east-1"):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    return ec2_backends[DEFAULT_ACCOUNT_ID][region].snapshots[snapshot_id]


@pytest.fixture
def good_image(aws):
    """A moto image that passes every check of the built-in scanner."""
    image_id = aws.image("us-east-1", "x86_64")
    backend = moto_image(image_id)
    backend.imds_support = "v2.0"
    backend.ena_support = True
    backend.boot_mode = "uefi"
    snap = aws.ec2().describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    _snapshot(snap).encrypted = True
    return image_id, snap


def _entry(image_id, user=None, **kw):
    kw.setdefault("status", AMI.Status.PENDING_REVIEW)
    return AMIFactory(ami_id=image_id, **({"creator": user} if user else {}), **kw)


def test_good_image_passes_with_score_10(good_image):
    ami = _entry(good_image[0])
    result = ami_scan(ami=ami)
    assert result.status == "passed" and result.findings == [] and result.security_score == Decimal("10.0")
    assert set(result.checks) == {"root_volume_encrypted", "snapshots_not_public", "imdsv2_required", "ena_support",
                                  "boot_mode", "owner_trusted", "image_age", "not_deprecated"}
    ami.refresh_from_db()
    assert ami.scan_status == "passed" and ami.security_score == Decimal("10.0")
    assert ami.imds_support == "v2.0" and ami.ena_support is True and ami.boot_mode == "uefi"
    assert AuditEvent.objects.filter(action="ami.scan", target_id=str(ami.pk)).count() == 1


def _finding_ids(result):
    return [f["id"] for f in result.findings]


def test_unencrypted_root_is_a_medium_finding(good_image):
    # Medium, not blocking: AWS cannot make an image with encrypted snapshots public at all.
    _snapshot(good_image[1]).encrypted = False
    result = ami_scan(ami=_entry(good_image[0]))
    assert _finding_ids(result) == ["root_volume_encrypted"]
    assert result.status == "passed" and result.security_score == Decimal("8.0")
    assert result.findings[0]["severity"] == "medium" and "not encrypted" in result.findings[0]["message"]


def test_public_snapshot_is_critical(good_image, aws):
    aws.ec2().modify_snapshot_attribute(SnapshotId=good_image[1], Attribute="createVolumePermission",
                                        OperationType="add", GroupNames=["all"])
    result = ami_scan(ami=_entry(good_image[0]))
    assert _finding_ids(result) == ["snapshots_not_public"]
    assert result.status == "failed" and result.security_score == Decimal("0.0")
    assert good_image[1] in result.findings[0]["message"]


def test_imdsv1_allowed_is_a_medium_finding(good_image):
    moto_image(good_image[0]).imds_support = None
    result = ami_scan(ami=_entry(good_image[0]))
    assert _finding_ids(result) == ["imdsv2_required"]
    assert result.status == "passed" and result.security_score == Decimal("8.0")


def test_ena_and_boot_mode_are_low(good_image):
    moto_image(good_image[0]).ena_support = False
    moto_image(good_image[0]).boot_mode = "legacy-bios"
    result = ami_scan(ami=_entry(good_image[0]))
    assert sorted(_finding_ids(result)) == ["boot_mode", "ena_support"]
    assert result.status == "passed" and result.security_score == Decimal("8.0")


def test_untrusted_owner(good_image, settings):
    moto_image(good_image[0]).owner_id = "999999999999"
    result = ami_scan(ami=_entry(good_image[0]))
    assert _finding_ids(result) == ["owner_trusted"] and result.status == "failed"
    settings.REGISTRY_TRUSTED_OWNER_ACCOUNTS = ["999999999999"]
    assert ami_scan(ami=AMI.objects.get(ami_id=good_image[0])).status == "passed"


def test_too_old_and_deprecated(good_image, settings):
    settings.REGISTRY_SCAN_MAX_AGE_DAYS = 30
    backend = moto_image(good_image[0])
    backend.creation_date = timezone.now() - datetime.timedelta(days=400)
    backend.deprecation_time = "2020-01-01T00:00:00.000Z"
    result = ami_scan(ami=_entry(good_image[0]))
    assert sorted(_finding_ids(result)) == ["image_age", "not_deprecated"]
    assert result.status == "failed" and result.security_score == Decimal("5.0")


def test_missing_image_is_an_error_never_a_pass(aws):
    ami = _entry("ami-0123456789abcdef0", scan_status="pending")
    result = ami_scan(ami=ami)
    assert result.status == "error" and _finding_ids(result) == ["scan_error"] and result.security_score is None
    assert "does not exist" in result.error
    ami.refresh_from_db()
    assert ami.scan_status == "not_scanned"
    # A previous verdict is kept (a passed AMI is not silently re-passed, nor flipped by an outage).
    AMI.objects.filter(pk=ami.pk).update(scan_status="failed")
    ami_scan(ami=ami)
    ami.refresh_from_db()
    assert ami.scan_status == "failed"


def test_pluggable_scanner_adds_findings(good_image):
    class NoTelnet:
        name = "no_telnet"

        def scan(self, context):
            return [Check("telnet_absent", False, "medium", "telnetd found")]

    scanner_register(NoTelnet())
    try:
        result = ami_scan(ami=_entry(good_image[0]))
    finally:
        scanner_unregister("no_telnet")
    assert result.scanners == ["aws_metadata", "no_telnet"]
    assert result.findings == [{"id": "telnet_absent", "severity": "medium", "message": "telnetd found",
                                "scanner": "no_telnet"}]
    with pytest.raises(TypeError):
        scanner_register(object())


def test_score_rule():
    assert score_findings([]) == (Decimal("10.0"), "passed")
    assert score_findings([{"severity": "low"}] * 12) == (Decimal("0.0"), "passed")
    assert score_findings([{"severity": "high"}])[1] == "failed"


def test_scan_on_demand_api_runs_operation(good_image, user, other_user, django_capture_on_commit_callbacks):
    ami = _entry(good_image[0], user=user, status=AMI.Status.APPROVED, visibility=AMI.Visibility.PUBLIC)
    assert client_for(other_user).post(f"/api/v1/amis/{ami.ami_id}/scan").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        resp = client_for(user).post(f"/api/v1/amis/{ami.ami_id}/scan")
    assert resp.status_code == 202, resp.content
    op = Operation.objects.get(pk=resp.json()["operation"]["id"])
    assert op.kind == "scan" and op.state == "succeeded" and op.result["scan_status"] == "passed"
    view = client_for(None).get(f"/api/v1/amis/{ami.ami_id}/scan").json()
    assert view["scan_status"] == "passed" and view["latest"]["findings"] == [] and view["exception"] is None


def test_failed_scan_blocks_until_moderator_exception(good_image, user, moderator):
    moto_image(good_image[0]).owner_id = "999999999999"
    ami = _entry(good_image[0], user=user)
    ami_scan(ami=ami)
    ami.refresh_from_db()
    with pytest.raises(Conflict) as exc:
        ami_scan_gate(ami=ami)
    assert exc.value.code == "scan_failed" and exc.value.extra["findings"][0]["id"] == "owner_trusted"

    url = f"/api/v1/amis/{ami.ami_id}/scan-exception"
    assert client_for(user).post(url, {"reason": "x", "expires_at": "2099-01-01T00:00:00Z"}).status_code == 403
    past = client_for(moderator).post(url, {"reason": "ok", "expires_at": "2000-01-01T00:00:00Z"})
    assert past.status_code == 400 and "expires_at" in past.json()["errors"]
    no_reason = client_for(moderator).post(url, {"reason": "", "expires_at": "2099-01-01T00:00:00Z"})
    assert no_reason.status_code == 400
    expires = (timezone.now() + datetime.timedelta(days=30)).isoformat()
    resp = client_for(moderator).post(url, {"reason": "Legacy lab image, encrypted copy pending", "expires_at": expires})
    assert resp.status_code == 201, resp.content
    assert ScanException.objects.get(ami=ami).created_by == moderator
    assert AuditEvent.objects.filter(action="scan.exception", target_id=str(ami.pk)).count() == 1
    ami_scan_gate(ami=ami)  # no longer raises
    # Expired exceptions stop counting.
    ScanException.objects.filter(ami=ami).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    with pytest.raises(Conflict):
        ami_scan_gate(ami=ami)


def test_unscanned_entry_needs_a_scan_when_required(settings):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW)
    ami_scan_gate(ami=ami)  # default: only a failed scan blocks
    settings.REGISTRY_REQUIRE_SCAN_FOR_APPROVAL = True
    with pytest.raises(Conflict) as exc:
        ami_scan_gate(ami=ami)
    assert exc.value.code == "scan_required"


def test_rescan_due_queues_stale_and_unscanned(good_image, django_capture_on_commit_callbacks):
    from amis.scanner import ami_rescan_due

    ami = _entry(good_image[0], status=AMI.Status.APPROVED)
    AMIFactory(status=AMI.Status.DRAFT)  # drafts are not rescanned
    with django_capture_on_commit_callbacks(execute=True):
        ops = ami_rescan_due()
    assert [op.ami_id for op in ops] == [ami.pk]
    assert ScanResult.objects.filter(ami=ami).count() == 1
    # Fresh scan: nothing due.
    assert ami_rescan_due() == []
    ScanResult.objects.filter(ami=ami).update(scanned_at=timezone.now() - datetime.timedelta(days=30))
    with django_capture_on_commit_callbacks(execute=True):
        assert len(ami_rescan_due()) == 1
    assert ScanResult.objects.filter(ami=ami).count() == 2
