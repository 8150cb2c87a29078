"""Security policy scanning of AMIs: a pluggable scanner interface and the built-in AWS metadata scanner.

A *scanner* is any object with a ``name`` and ``scan(context) -> list[Check]`` (the ``Scanner``
protocol). Scanners are listed in ``settings.REGISTRY_SCANNERS`` (dotted paths) or added at run
time with ``scanner_register``; ``ami_scan`` runs every one of them. Each check that does not pass
becomes a *finding* ``{id, severity, message, scanner}``. From the findings:

* ``security_score`` = 10 − Σ severity weights (critical 10, high 3, medium 2, low 1, info 0), floored at 0;
* ``scan_status`` = ``failed`` when any finding is critical or high, else ``passed``.

A failed scan blocks approval unless a moderator records a ``ScanException`` (reason + expiry).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from amis.models import AMI, Operation, ScanException, ScanResult
from amis.ownership import ami_role
from amis.selectors import ami_require_manage
from registry import aws
from registry.audit import audit_record
from registry.aws_accounts import aws_accounts_verified
from registry.aws_images import root_mapping, snapshot_ids
from registry.broker import broker_require
from registry.celery import task_send
from registry.errors import Conflict, InvalidInput
from registry.permissions import moderator_required

logger = logging.getLogger(__name__)

SEVERITY_WEIGHTS = {"critical": 10, "high": 3, "medium": 2, "low": 1, "info": 0}
BLOCKING_SEVERITIES = frozenset({"critical", "high"})

# What each finding means for someone about to launch the image, and what fixes it: shown with
# the finding on the AMI page and in the API, so a score is never the only thing a user sees.
# (title, meaning). A scanner plugin's unknown check id falls back to its own message.
FINDING_EXPLANATIONS: dict[str, tuple[str, str]] = {
    "root_volume_encrypted": (
        "Root volume not encrypted",
        "The disk snapshot behind the image is stored unencrypted, and every copy inherits that. Fine for "
        "public software stacks; do not put data or credentials in such an image. (AWS cannot make an "
        "image with encrypted snapshots public, so public community images usually carry this finding.)"),
    "snapshots_not_public": (
        "Snapshot restorable by anyone",
        "Any AWS account can create a volume from the snapshot and read the whole disk, even if the image "
        "itself is private. The owner must remove the snapshot's public createVolumePermission."),
    "imdsv2_required": (
        "IMDSv2 not required",
        "Instances launched from it also answer the older instance-metadata protocol (IMDSv1), which lets a "
        "server-side request forgery bug read the instance's AWS credentials. Launch with "
        "--metadata-options HttpTokens=required, or the owner re-registers it with IMDSv2 required."),
    "ena_support": (
        "No ENA networking",
        "The Elastic Network Adapter is not enabled: current instance types need it, so the image may only "
        "launch on older types."),
    "boot_mode": (
        "Not UEFI boot",
        "Legacy BIOS boot: no Secure Boot and no NitroTPM. It still launches on most x86 instance types."),
    "owner_trusted": (
        "Publisher account not trusted",
        "The AWS account owning the image is neither on the registry's trusted-owner list nor the registry's "
        "own. Check who publishes it (a verified signature helps) before launching."),
    "image_age": (
        "Old image",
        "Built longer ago than the registry's age limit: its software has probably missed security updates. "
        "Update the packages after launch, or look for a newer version."),
    "not_deprecated": (
        "Deprecated in AWS",
        "The image's owner marked it deprecated in AWS: it may disappear and should not be used for new work."),
    "scan_error": (
        "Scan could not run",
        "The registry could not read the image in AWS, so nothing was checked: treat it as unscanned."),
}
SEVERITY_EFFECTS = {"critical": "blocks approval", "high": "blocks approval", "medium": "−2 points",
                    "low": "−1 point", "info": "no effect on the score"}


@dataclass
class Check:
    """One check's outcome; only failed checks become findings."""

    id: str
    passed: bool
    severity: str
    message: str


@dataclass
class ScanContext:
    """What scanners look at: the registry entry, the image as DescribeImages reports it, and a
    per-scan cache so two scanners do not repeat the same AWS call."""

    ami: AMI
    region: str
    image: dict
    now: datetime = field(default_factory=timezone.now)
    # The credentials of the entry's owning account: scanners read snapshots there.
    role: aws.AccountRole | None = None
    cache: dict = field(default_factory=dict)


@runtime_checkable
class Scanner(Protocol):
    name: str

    def scan(self, context: ScanContext) -> list[Check]:
        """Return one Check per rule evaluated. May raise ``registry.aws.AwsError``."""


_registered: dict[str, Scanner] = {}


def scanner_register(scanner: Scanner) -> Scanner:
    """Add a scanner for this process (plugins, tests). Replaces one with the same name."""
    if not isinstance(scanner, Scanner):
        raise TypeError("a scanner needs a `name` and a `scan(context)` method")
    _registered[scanner.name] = scanner
    return scanner


def scanner_unregister(name: str) -> None:
    _registered.pop(name, None)


def scanners() -> list[Scanner]:
    """The configured scanners (settings) followed by the ones registered at run time."""
    configured = [import_string(path)() for path in getattr(settings, "REGISTRY_SCANNERS",
                                                            ["amis.scanner.AwsMetadataScanner"])]
    names = {s.name for s in configured}
    return configured + [s for n, s in _registered.items() if n not in names]


def trusted_owner_accounts() -> set[str]:
    """Owners whose images need no extra trust: the configured list plus the registry's own account(s)."""
    owners = set(getattr(settings, "REGISTRY_TRUSTED_OWNER_ACCOUNTS", []) or [])
    owners |= set(getattr(settings, "REGISTRY_AWS_ACCOUNT_IDS", []) or [])
    try:
        identity = aws.call(settings.AWS_DEFAULT_REGION, "sts", "get_caller_identity")
        owners.add(identity.get("Account", ""))
    except aws.AwsError:  # no credentials / STS unreachable: rely on the configured lists
        pass
    return {o for o in owners if o}


class AwsMetadataScanner:
    """Checks from AWS metadata only (no instance is launched): encryption, public snapshots,
    IMDSv2, ENA, boot mode, trusted owner, age, deprecation."""

    name = "aws_metadata"

    def scan(self, context: ScanContext) -> list[Check]:
        image, region, role = context.image, context.region, context.role
        checks: list[Check] = []
        root_ebs = (root_mapping(image) or {}).get("Ebs")

        # Root volume encryption: the mapping says so; the snapshot is the truth when it is absent.
        encrypted = None
        if root_ebs:
            encrypted = root_ebs.get("Encrypted")
            snap = root_ebs.get("SnapshotId")
            if snap and not encrypted:
                snaps = aws.call(region, "ec2", "describe_snapshots", role=role, SnapshotIds=[snap]).get("Snapshots", [])
                encrypted = bool(snaps and snaps[0].get("Encrypted"))
        # Medium, not blocking: AWS refuses to make an image with encrypted snapshots public, so a
        # public community AMI cannot pass a blocking encryption rule.
        checks.append(Check("root_volume_encrypted", bool(encrypted), "medium",
                            "Root volume is encrypted." if encrypted else
                            "Root volume snapshot is not encrypted: copies inherit plaintext data at rest."))

        # Publicly restorable snapshots leak the whole disk, even if the image itself is private.
        public = []
        for snap in sorted(set(snapshot_ids(image))):
            attr = aws.call(region, "ec2", "describe_snapshot_attribute", role=role, SnapshotId=snap,
                            Attribute="createVolumePermission")
            if any(p.get("Group") == "all" for p in attr.get("CreateVolumePermissions", [])):
                public.append(snap)
        checks.append(Check("snapshots_not_public", not public, "critical",
                            "No snapshot is publicly restorable." if not public else
                            f"Snapshot(s) {', '.join(public)} can be restored by anyone (createVolumePermission all)."))

        # IMDSv2: read from DescribeImages (DescribeImageAttribute imdsSupport is not portable).
        imds = image.get("ImdsSupport", "")
        checks.append(Check("imdsv2_required", imds == "v2.0", "medium",
                            "Instances launched from it require IMDSv2." if imds == "v2.0" else
                            "IMDSv2 is not required (ImdsSupport is not v2.0): IMDSv1 is open to SSRF credential theft."))

        ena = bool(image.get("EnaSupport"))
        checks.append(Check("ena_support", ena, "low", "ENA enabled." if ena else
                            "ENA is not enabled: current instance types need it for networking."))

        boot = image.get("BootMode", "")
        uefi = boot in ("uefi", "uefi-preferred")
        checks.append(Check("boot_mode", uefi, "low", f"Boot mode {boot}." if uefi else
                            f"Boot mode is '{boot or 'unspecified'}': UEFI is needed for Secure Boot and NitroTPM."))

        owner = image.get("OwnerId", "")
        trusted = context.cache.setdefault("trusted_owners", trusted_owner_accounts())
        # An account the publisher verified (AssumeRole into it) is known to be theirs: as trusted
        # as the registry's own for this check.
        publisher_account = bool(owner) and context.ami.creator_id is not None and \
            owner in aws_accounts_verified(user=context.ami.creator)
        checks.append(Check("owner_trusted", owner in trusted or publisher_account, "high",
                            f"Owner {owner} is trusted." if owner in trusted else
                            f"Owner {owner} is an AWS account the publisher verified." if publisher_account else
                            f"Owner account {owner or '?'} is neither in the trusted-owner list, the registry's "
                            f"own, nor an account the publisher verified."))

        max_age = int(getattr(settings, "REGISTRY_SCAN_MAX_AGE_DAYS", 365))
        created = _parse_aws_time(image.get("CreationDate"))
        too_old = created is not None and context.now - created > timedelta(days=max_age)
        checks.append(Check("image_age", created is not None and not too_old, "medium",
                            f"Created {created:%Y-%m-%d}." if created and not too_old else
                            (f"Image is older than {max_age} days (created {created:%Y-%m-%d}): unpatched software."
                             if created else "AWS reports no creation date.")))

        deprecation = _parse_aws_time(image.get("DeprecationTime"))
        deprecated = deprecation is not None and deprecation <= context.now
        checks.append(Check("not_deprecated", not deprecated, "high",
                            "Not deprecated in AWS." if not deprecated else
                            f"AWS marks the image deprecated since {deprecation:%Y-%m-%d}."))
        return checks


def _parse_aws_time(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt_timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt_timezone.utc)
    except ValueError:
        return None


def score_findings(findings: list[dict]) -> tuple[Decimal, str]:
    """(security_score 0–10, scan_status) from the findings — the one place the rule lives."""
    penalty = sum(SEVERITY_WEIGHTS.get(f["severity"], 0) for f in findings)
    score = Decimal(max(0, 10 - penalty)).quantize(Decimal("0.1"))
    failed = any(f["severity"] in BLOCKING_SEVERITIES for f in findings)
    return score, (ScanResult.Status.FAILED if failed else ScanResult.Status.PASSED)


def finding_explain(finding: dict) -> dict:
    """A stored finding plus ``title``, ``meaning`` and ``effect`` (what it does to the verdict)."""
    title, meaning = FINDING_EXPLANATIONS.get(finding.get("id", ""), (finding.get("id", "").replace("_", " ").capitalize(),
                                                                     finding.get("message", "")))
    severity = finding.get("severity", "info")
    return {"id": finding.get("id", ""), "severity": severity, "message": finding.get("message", ""),
            "scanner": finding.get("scanner", ""), "title": title, "meaning": meaning,
            "effect": SEVERITY_EFFECTS.get(severity, "")}


def ami_scan_report(*, ami: AMI) -> dict | None:
    """The newest scan of ``ami`` as users read it, or None when never scanned: status, score,
    when, how many checks ran and passed, and every finding explained (``finding_explain``),
    the blocking ones first. One query."""
    result = ami.scan_results.first()
    if result is None:
        return None
    order = list(SEVERITY_WEIGHTS)
    findings = sorted((finding_explain(f) for f in result.findings or []),
                      key=lambda f: order.index(f["severity"]) if f["severity"] in order else len(order))
    return {"status": result.status, "security_score": result.security_score, "scanned_at": result.scanned_at,
            "checks_run": len(result.checks or []),
            "checks_passed": max(0, len(result.checks or []) - len([f for f in findings if f["id"] != "scan_error"])),
            "findings": findings}


# --- services ------------------------------------------------------------------------------------

def ami_scan(*, ami: AMI, operation: Operation | None = None) -> ScanResult:
    """Scan ``ami``'s source image with every scanner; store a ScanResult and set the AMI's
    ``scan_status``/``security_score``. AWS calls run before the transaction. Idempotent in effect:
    a rescan adds a new result and overwrites the derived fields. Transient AWS errors propagate
    (the task retries them); a missing image or permanent error yields an ``error`` result (the
    operation fails, the AMI keeps its previous verdict), never a pass. Audited ``ami.scan``."""
    region, image_id = ami.source_region, ami.ami_id
    findings: list[dict] = []
    checks: list[str] = []
    names: list[str] = []
    error = ""
    try:
        role = ami_role(ami)
        image = aws.describe_image(region, image_id, role=role)
        if image is None:
            error = f"{image_id} does not exist in {region}"
        else:
            context = ScanContext(ami=ami, region=region, image=image, role=role)
            for scanner in scanners():
                names.append(scanner.name)
                for check in scanner.scan(context):
                    checks.append(check.id)
                    if not check.passed:
                        findings.append({**asdict(check), "scanner": scanner.name})
    except aws.AwsTransientError:
        raise
    except aws.AwsError as exc:
        error = f"{exc.code or 'AwsError'}: {exc.message}"
    for f in findings:
        f.pop("passed", None)
    if error:
        # The scan could not run: an ``error`` result, never a pass. The AMI keeps its previous
        # verdict (a never-scanned entry goes back to not_scanned) and the approval gate treats it
        # as unscanned.
        findings = [{"id": "scan_error", "severity": "critical", "message": error, "scanner": "registry"}]
        score, status = None, ScanResult.Status.ERROR
    else:
        score, status = score_findings(findings)
    with transaction.atomic():
        locked = AMI.objects.select_for_update().get(pk=ami.pk)
        result = ScanResult.objects.create(ami=locked, operation=operation, region=region, image_id=image_id,
                                           status=status, security_score=score, findings=findings,
                                           checks=checks, scanners=names, error=error)
        before = {"scan_status": locked.scan_status, "security_score": locked.security_score}
        fields = ["scan_status", "security_score", "updated_at"]
        if error:
            if locked.scan_status == AMI.ScanStatus.PENDING:
                locked.scan_status = AMI.ScanStatus.NOT_SCANNED
        else:
            locked.scan_status = AMI.ScanStatus.PASSED if status == ScanResult.Status.PASSED else AMI.ScanStatus.FAILED
            locked.security_score = score
            locked.ena_support = bool(image.get("EnaSupport"))
            locked.boot_mode = image.get("BootMode", "") or ""
            locked.imds_support = image.get("ImdsSupport", "") or ""
            fields += ["ena_support", "boot_mode", "imds_support"]
        locked.save(update_fields=fields)
        if operation is not None:
            Operation.objects.filter(pk=operation.pk).update(
                state=Operation.State.FAILED if error else Operation.State.SUCCEEDED, progress=100,
                finished_at=timezone.now(), error=error,
                result={"scan_result": result.pk, "scan_status": status,
                        "security_score": None if score is None else str(score), "findings": len(findings)},
                updated_at=timezone.now())
        audit_record(actor=operation.created_by if operation else None, action="ami.scan", target=locked,
                     before=before, after={"scan_status": locked.scan_status, "result": status,
                                           "security_score": score, "findings": [f["id"] for f in findings]})
    ami.scan_status, ami.security_score = locked.scan_status, score
    return result


@transaction.atomic
def ami_scan_request(*, ami: AMI, user=None) -> Operation:
    """Queue a scan (``Operation(kind=scan)`` + Celery task after commit). Owner or moderator when
    ``user`` is given; ``user=None`` is the system (beat rescans, submission)."""
    if user is not None:
        ami_require_manage(user=user, ami=ami, message="only the owner or a moderator may request a scan")
    operation = Operation.objects.create(kind=Operation.Kind.SCAN, ami=ami, region=ami.source_region,
                                         image_id=ami.ami_id, created_by=user if user is not None else None)
    # Only a never-scanned entry shows "pending": a rescan keeps the last verdict until it finishes,
    # so policies requiring a passed scan do not flicker.
    AMI.objects.filter(pk=ami.pk, scan_status=AMI.ScanStatus.NOT_SCANNED).update(scan_status=AMI.ScanStatus.PENDING)
    operation_id = str(operation.pk)
    broker_require(task="amis.scan")  # 503 and a rollback while the queue is down
    transaction.on_commit(lambda: task_send("amis.scan", operation_id))
    return operation


def ami_scan_run(*, operation_id) -> ScanResult | None:
    """Run the scan an Operation asks for (the Celery task's body). Idempotent: a finished
    operation is not run again (redelivery after a crash)."""
    operation = Operation.objects.select_related("ami", "created_by").filter(pk=operation_id).first()
    if operation is None or operation.ami is None or operation.state in (Operation.State.SUCCEEDED,
                                                                          Operation.State.FAILED):
        return None
    Operation.objects.filter(pk=operation.pk).update(state=Operation.State.RUNNING, started_at=timezone.now(),
                                                     attempts=operation.attempts + 1, updated_at=timezone.now())
    return ami_scan(ami=operation.ami, operation=operation)


def scan_exception_active(ami: AMI, *, at: datetime | None = None) -> ScanException | None:
    """The moderator exception that currently allows approving ``ami`` despite a failed scan."""
    return ami.scan_exceptions.filter(expires_at__gt=at or timezone.now()).order_by("-expires_at").first()


def ami_scan_gate(*, ami: AMI) -> None:
    """Raise Conflict (409) when ``ami`` may not be approved because of its scan: ``scan_failed``
    when the last scan failed (unless a moderator's exception is active), ``scan_required`` when
    it was never scanned and ``REGISTRY_REQUIRE_SCAN_FOR_APPROVAL`` is on. Called by ``ami_approve``
    inside its transaction."""
    if ami.scan_status == AMI.ScanStatus.PASSED:
        return
    if scan_exception_active(ami) is not None:
        return
    latest = ami.scan_results.first()
    if ami.scan_status == AMI.ScanStatus.FAILED:
        blocking = [f for f in (latest.findings if latest else []) if f.get("severity") in BLOCKING_SEVERITIES]
        raise Conflict("the security scan failed: " + "; ".join(f["message"] for f in blocking[:5])
                       + " — a moderator may record a scan exception (reason + expiry) to approve anyway",
                       code="scan_failed", extra={"findings": blocking})
    if getattr(settings, "REGISTRY_REQUIRE_SCAN_FOR_APPROVAL", False):
        raise Conflict(f"the AMI has no completed security scan (scan_status '{ami.scan_status}')",
                       code="scan_required")


def scan_exception_default_expiry() -> datetime:
    """When an exception recorded without an explicit expiry ends (``REGISTRY_SCAN_EXCEPTION_DAYS``, 30)."""
    return timezone.now() + timedelta(days=int(getattr(settings, "REGISTRY_SCAN_EXCEPTION_DAYS", 30)))


@transaction.atomic
def scan_exception_create(*, ami: AMI, moderator, reason: str, expires_at: datetime) -> ScanException:
    """Moderator records that ``ami`` may be approved despite its failed scan until ``expires_at``.
    Raises Forbidden (not a moderator), InvalidInput (no reason, expiry not in the future or more
    than a year ahead). Audited ``scan.exception``."""
    moderator_required(moderator, message="only moderators may record scan exceptions")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a reason is required", errors={"reason": ["This field is required."]})
    now = timezone.now()
    if expires_at <= now:
        raise InvalidInput("the expiry must be in the future", errors={"expires_at": ["Must be in the future."]})
    if expires_at > now + timedelta(days=366):
        raise InvalidInput("an exception may last at most a year", errors={"expires_at": ["At most one year."]})
    ami = AMI.objects.select_for_update().get(pk=ami.pk)
    exception = ScanException.objects.create(ami=ami, scan_result=ami.scan_results.first(), reason=reason,
                                             expires_at=expires_at, created_by=moderator,
                                             created_by_username=moderator.get_username())
    audit_record(actor=moderator, action="scan.exception", target=ami, reason=reason,
                 after={"expires_at": expires_at.isoformat(), "scan_status": ami.scan_status,
                        "scan_result": exception.scan_result_id})
    return exception


def ami_rescan_due(*, older_than: timedelta | None = None, limit: int = 200) -> list[Operation]:
    """Beat job: queue scans of listed or pending AMIs whose newest scan is older than
    ``REGISTRY_RESCAN_DAYS`` (or never scanned). Returns the operations queued."""
    older_than = older_than or timedelta(days=int(getattr(settings, "REGISTRY_RESCAN_DAYS", 7)))
    cutoff = timezone.now() - older_than
    due = (AMI.objects.filter(status__in=[AMI.Status.PENDING_REVIEW, AMI.Status.APPROVED, AMI.Status.DEPRECATED])
           .annotate(last=Max("scan_results__scanned_at")).filter(Q(last__isnull=True) | Q(last__lt=cutoff))
           .exclude(operations__kind=Operation.Kind.SCAN,
                    operations__state__in=[Operation.State.QUEUED, Operation.State.RUNNING])
           .order_by("last")[:limit])
    return [ami_scan_request(ami=ami) for ami in due]
