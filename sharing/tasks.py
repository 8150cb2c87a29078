"""Celery tasks that push sharing grants to AWS (launch permissions in every region with a copy).

Thin: ids in, one call of ``sharing.aws_sync`` or ``sharing.services``. Retries happen only on
``AwsTransientError`` (throttling, 5xx) with exponential backoff and jitter; permanent errors are
recorded on the ``Share`` row (``sync_state=failed``, ``sync_error``) by the service.
"""
from celery import shared_task

from registry.aws import AwsTransientError
from sharing import aws_sync, services

RETRY_KW = dict(
    autoretry_for=(AwsTransientError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
)


@shared_task(name="sharing.share_sync", **RETRY_KW)
def share_sync_task(share_id: int) -> None:
    """Add the grant's launch permission in every region with an available copy."""
    aws_sync.share_apply(share_id=share_id)


@shared_task(name="sharing.share_remove", **RETRY_KW)
def share_remove_task(ami_id: str, grantee_type: str, grantee: str) -> None:
    """Remove a deleted grant's launch permission from every regional copy."""
    aws_sync.share_unapply(ami_pk=ami_id, grantee_type=grantee_type, grantee=grantee)


@shared_task(name="sharing.share_refresh_stale", acks_late=True)
def share_refresh_stale_task(older_than_seconds: int = 600) -> int:
    """Beat job: re-enqueue AWS grants left ``pending`` (a lost message, a dead worker)."""
    return len(services.shares_refresh_stale(older_than_seconds=older_than_seconds))
