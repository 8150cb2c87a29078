"""Celery entry points for trust & compliance: scans, rescans, retention. Thin: ids in, one service call.

Task names are explicit (queued messages carry them). Scan tasks are named ``amis.*`` so the
``amis.*`` route sends them to the ``aws`` queue with the other AWS work.
"""
from celery import shared_task

from registry.aws import AwsTransientError


@shared_task(name="amis.scan", acks_late=True, autoretry_for=(AwsTransientError,), retry_backoff=True,
             retry_jitter=True, max_retries=6)
def ami_scan_task(operation_id: str) -> None:
    """Run one scan Operation. Idempotent: a finished operation is skipped on redelivery."""
    from amis.scanner import ami_scan_run

    ami_scan_run(operation_id=operation_id)


@shared_task(name="amis.rescan_due", acks_late=True)
def ami_rescan_due_task() -> int:
    """Beat: queue scans for listed AMIs whose last scan is older than REGISTRY_RESCAN_DAYS."""
    from amis.scanner import ami_rescan_due

    return len(ami_rescan_due())


@shared_task(name="registry.retention_run", acks_late=True)
def retention_run_task() -> dict:
    """Beat: fold + delete old downloads, truncate old audit IPs, purge audit events past retention."""
    from registry.retention import retention_run

    return retention_run(dry_run=False).as_dict()
