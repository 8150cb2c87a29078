"""Celery entry points of the resolver (thin: one service call).

``resolver.ssm_sync`` (the sync of published SSM parameters, ``resolver.ssm``) has the contract of
the catalogue's AWS tasks (``amis.tasks``): ``acks_late`` (the step is idempotent), retries only
``AwsTransientError`` (throttling, 5xx) with backoff and jitter.
"""
from celery import shared_task

from amis.operations import OpKind, operation_run_step
from amis.tasks import AWS_TASK
from resolver import ssm
from resolver.usage import resolution_counts_flush


@shared_task(name="resolver.resolution_counts_flush", acks_late=True)
def resolution_counts_flush_task() -> int:
    """Fold the per-tier counters of today and yesterday into ``resolver_resolutions_daily``.
    Idempotent (``GREATEST`` of running totals), so overlapping beats and redeliveries are safe."""
    return resolution_counts_flush()


@shared_task(name="resolver.ssm_sync", bind=True, **AWS_TASK)
def ssm_sync_task(self, operation_id: str) -> None:
    operation_run_step(self, operation_id=operation_id, kind=OpKind.SSM_SYNC, step=ssm.ssm_sync_step)
