"""Celery tasks that push sharing grants to AWS (launch permissions in every region with a copy).

Thin wrappers: the work (and its idempotency) lives in ``amis.aws_lifecycle``. Retries happen only
on ``AwsTransientError`` (throttling, 5xx) with exponential backoff and jitter; permanent errors are
recorded on the ``Share`` row (``sync_state=failed``, ``sync_error``) by the service.
"""
from celery import shared_task

from registry.aws import AwsTransientError

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
    from amis import aws_lifecycle

    aws_lifecycle.share_apply(share_id=share_id)


@shared_task(name="sharing.share_remove", **RETRY_KW)
def share_remove_task(ami_id: str, grantee_type: str, grantee: str) -> None:
    """Remove a deleted grant's launch permission from every regional copy."""
    from amis import aws_lifecycle

    aws_lifecycle.share_unapply(ami_pk=ami_id, grantee_type=grantee_type, grantee=grantee)
