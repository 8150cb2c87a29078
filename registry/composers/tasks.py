"""Celery entry points of the cross-app use-cases (discovered by ``registry.celery``). Thin."""
from celery import shared_task

from registry.composers.retention import retention_run


@shared_task(name="registry.retention_run", acks_late=True)
def retention_run_task() -> dict:
    """Beat: fold + delete old downloads, truncate old audit IPs, purge audit events past retention."""
    return retention_run(dry_run=False).as_dict()
