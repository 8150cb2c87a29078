"""Celery entry points of the resolver: the sync of published SSM parameters (``resolver.ssm``).

Same contract as the catalogue's AWS tasks (``amis.tasks``): a stable name, ``acks_late`` (the
step is idempotent), retries only ``AwsTransientError`` (throttling, 5xx) with backoff and jitter.
"""
from celery import shared_task

from amis.operations import OpKind, operation_run_step
from amis.tasks import AWS_TASK
from resolver import ssm


@shared_task(name="resolver.ssm_sync", bind=True, **AWS_TASK)
def ssm_sync_task(self, operation_id: str) -> None:
    operation_run_step(self, operation_id=operation_id, kind=OpKind.SSM_SYNC, step=ssm.ssm_sync_step)
