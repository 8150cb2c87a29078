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


@shared_task(name="sharing.share_refresh_stale", acks_late=True)
def share_refresh_stale_task(older_than_seconds: int = 600) -> int:
    """Beat job: re-enqueue AWS grants left ``pending`` (a lost message, a dead worker).

    Rows are claimed with ``skip_locked`` so overlapping runs never pick the same grant; the sync
    itself is idempotent, so a grant that was in fact being synced is merely checked again.
    """
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from sharing.models import Share

    threshold = timezone.now() - timedelta(seconds=older_than_seconds)
    with transaction.atomic():
        ids = list(Share.objects.select_for_update(skip_locked=True)
                   .filter(sync_state=Share.SyncState.PENDING, grantee_type__in=Share.AWS_GRANTEE_TYPES,
                           updated_at__lt=threshold).values_list("pk", flat=True)[:100])
        Share.objects.filter(pk__in=ids).update(updated_at=timezone.now())
        for share_id in ids:
            transaction.on_commit(lambda share_id=share_id: share_sync_task.delay(share_id))
    return len(ids)
