"""Deep validation of an entry's regional copies (the resolver's ``/ami/test`` with ``deep``):
exists, available, architecture, EBS root, ENA, IMDSv2 — one ``Operation(kind=validate)``."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from amis.metadata import regions_clean
from amis.models import AMI, AMIRegion, Operation
from amis.operations import (TERMINAL, OpKind, OpState, operation_enqueue_on_commit, operation_fail,
                             operation_mark_running, operation_progress, operation_succeed)
from amis.ownership import ami_role
from registry import aws
from registry.aws_images import root_mapping


def ami_validate_request(*, ami: AMI, user, regions: list[str] | None = None) -> Operation:
    """Queue a deep check of every regional copy (``Operation(kind=validate)``).

    The caller has checked that ``user`` may see ``ami``. A validation already queued or running
    for the AMI is returned instead of queueing another.
    """
    regions = regions_clean(regions or [], field="regions")
    with transaction.atomic():
        AMI.objects.select_for_update().filter(pk=ami.pk).first()
        running = Operation.objects.filter(ami=ami, kind=OpKind.VALIDATE,
                                           state__in=[OpState.QUEUED, OpState.RUNNING]).first()
        if running is not None:
            return running
        op = Operation.objects.create(kind=OpKind.VALIDATE, ami=ami, region=ami.source_region,
                                      image_id=ami.ami_id, params={"regions": regions},
                                      created_by=user if getattr(user, "is_authenticated", False) else None,
                                      message="queued")
        operation_enqueue_on_commit(op)
    return op


def image_findings(image: dict | None, *, architecture: str) -> dict:
    """What a launch needs from one regional copy, as DescribeImages reports it."""
    if image is None:
        return {"exists": False, "available": False, "passed": False, "problems": ["image not found"]}
    root = root_mapping(image) or {}
    findings = {
        "exists": True,
        "state": image.get("State"),
        "available": image.get("State") == "available",
        "architecture": image.get("Architecture"),
        "architecture_matches": image.get("Architecture") == architecture,
        "root_device_type": image.get("RootDeviceType"),
        # moto reports "standard" for EBS-backed images it creates: the root mapping tells.
        "ebs_root": image.get("RootDeviceType") == "ebs" or bool(root.get("Ebs")),
        "ena_support": bool(image.get("EnaSupport")),
        "imds_support": image.get("ImdsSupport") or "",
        "imdsv2_required": image.get("ImdsSupport") == "v2.0",
    }
    problems = [label for key, label in (("available", "not available"),
                                         ("architecture_matches", f"architecture is not {architecture}"),
                                         ("ebs_root", "root device is not EBS"),
                                         ("ena_support", "ENA support is not enabled")) if not findings[key]]
    findings["problems"] = problems
    findings["passed"] = not problems
    return findings


def validate_step(*, operation_id) -> None:
    """Check each regional copy and store ``last_tested`` + ``findings`` on its region row; the
    operation's result holds them all."""
    op = Operation.objects.select_related("ami").filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL or op.ami is None:
        return None
    operation_mark_running(op, progress=5)
    rows = AMIRegion.objects.filter(ami=op.ami).exclude(state=AMIRegion.State.DEREGISTERED).exclude(image_id="")
    if op.params.get("regions"):
        rows = rows.filter(region__in=op.params["regions"])
    rows = list(rows.order_by("region"))
    results = {}
    try:
        role = ami_role(op.ami)  # the copies are read in the entry's own account
    except aws.AwsPermanentError as exc:
        operation_fail(op, error=exc.message)
        return None
    for i, row in enumerate(rows, start=1):
        try:
            image = aws.describe_image(row.region, row.image_id, role=role)
        except aws.AwsTransientError:
            raise
        except aws.AwsError as exc:
            image, results[row.region] = None, {"error": exc.message}
        findings = {**image_findings(image, architecture=op.ami.architecture), **results.get(row.region, {}),
                    "ami_id": row.image_id}
        AMIRegion.objects.filter(pk=row.pk).update(findings=findings, last_tested=timezone.now(),
                                                   updated_at=timezone.now())
        results[row.region] = findings
        operation_progress(op, progress=int(100 * i / max(len(rows), 1)), message=f"checked {row.region}")
    passed = all(f["passed"] for f in results.values())
    operation_succeed(op, message="all regional copies passed" if passed else "some regional copies have problems",
                      result={"regions": results, "passed": passed})
    return None
