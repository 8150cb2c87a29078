"""Celery entry points of the catalogue: ids in, one service call, retry policy.

Every task has a stable ``name=`` (queued messages carry it, and services send tasks by it),
``acks_late`` (a message is acknowledged only after the task finished, so a killed worker's job is
redelivered — safe because every step is idempotent) and retries **only** ``AwsTransientError``
(throttling, 5xx) with exponential backoff and jitter. Waiting for AWS never blocks a worker: a
step that must wait returns a countdown and the task re-schedules itself (``operation_enqueue``).
The ``amis.*`` names are routed to the ``aws`` queue.
"""
import logging
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings
from django.db import close_old_connections

from amis import aws_copy, aws_create, aws_retire, aws_snapshots, aws_validate, operations, ranking, scanner
from amis.aws_public import ami_public_sync
from amis.models import AMI
from registry.aws import AwsTransientError

AWS_TASK = dict(
    acks_late=True,
    autoretry_for=(AwsTransientError,),
    retry_backoff=5,         # 5 s, 10 s, 20 s ... (exponential)
    retry_backoff_max=300,
    retry_jitter=True,       # spread retries so throttled callers do not retry in lock-step
    max_retries=8,
)
OpKind = operations.OpKind
logger = logging.getLogger(__name__)


def _run_step(task, operation_id: str, kind: str, step) -> None:
    operations.operation_run_step(task, operation_id=operation_id, kind=kind, step=step)


@shared_task(name="amis.create_image", bind=True, **AWS_TASK)
def create_image_task(self, operation_id: str) -> None:
    """CreateImage for a create operation, follow it to available, then start the copies."""
    _run_step(self, operation_id, OpKind.CREATE_IMAGE, aws_create.create_image_step)


@shared_task(name="amis.copy_image", bind=True, **AWS_TASK)
def copy_image_task(self, operation_id: str) -> None:
    """CopyImage to one region (per-region slot, deterministic ClientToken), follow it to available."""
    _run_step(self, operation_id, OpKind.COPY_IMAGE, aws_copy.copy_image_step)


@shared_task(name="amis.validate", bind=True, **AWS_TASK)
def validate_task(self, operation_id: str) -> None:
    """Check every regional copy and store the findings."""
    _run_step(self, operation_id, OpKind.VALIDATE, aws_validate.validate_step)


@shared_task(name="amis.deprecate_in_aws", bind=True, **AWS_TASK)
def deprecate_in_aws_task(self, operation_id: str) -> None:
    """EnableImageDeprecation on every regional copy."""
    _run_step(self, operation_id, OpKind.DEPRECATE, aws_retire.deprecate_step)


@shared_task(name="amis.revoke_in_aws", bind=True, **AWS_TASK)
def revoke_in_aws_task(self, operation_id: str) -> None:
    """Withdraw every launch permission and deprecate every regional copy."""
    _run_step(self, operation_id, OpKind.REVOKE, aws_retire.revoke_step)


@shared_task(name="amis.deregister_in_aws", bind=True, **AWS_TASK)
def deregister_in_aws_task(self, operation_id: str) -> None:
    """Deregister every regional copy and delete its snapshots."""
    _run_step(self, operation_id, OpKind.DEREGISTER, aws_retire.deregister_step)


@shared_task(name="amis.snapshot_wait", bind=True, **AWS_TASK)
def snapshot_wait_task(self, operation_id: str) -> None:
    """Follow a root-volume snapshot until AWS has finished it."""
    _run_step(self, operation_id, OpKind.SNAPSHOT, aws_snapshots.snapshot_wait_step)


@shared_task(name="amis.public_sync", **AWS_TASK)
def public_sync_task(ami_pk: str) -> None:
    """Make the image public in AWS (or not) to match ``public_requested`` + approval."""
    ami = AMI.objects.filter(pk=ami_pk).first()
    if ami is not None:
        ami_public_sync(ami=ami)


@shared_task(name="amis.operations_refresh_stale", acks_late=True)
def operations_refresh_stale_task() -> int:
    """Beat job: re-enqueue operations stuck in queued/running past the threshold."""
    return len(operations.operations_refresh_stale())


# --- the stale sweep inside every worker --------------------------------------------------------------
# A worker killed with SIGKILL leaves its operation ``running`` and its message unacknowledged
# until the broker's visibility timeout. Beat's sweep would find it, but a deployment may run
# without beat (or beat may be the thing that died): so every worker sweeps when it starts and
# then every REGISTRY_OPERATION_SWEEP_SECONDS, in a thread of its main process. The sweep claims
# rows with skip_locked, so any number of workers and beat can sweep at once.
_sweeper_stop = threading.Event()


def _sweep_once() -> None:
    try:
        operations.operations_refresh_stale()
    except Exception:  # noqa: BLE001 — a sweep that fails (database restarting) tries again later
        logger.warning("stale sweep failed", exc_info=True)
    finally:
        close_old_connections()


def _sweep_forever(interval: float) -> None:
    while not _sweeper_stop.wait(interval):
        _sweep_once()


@worker_ready.connect(dispatch_uid="amis.sweep_on_worker_ready")
def sweep_on_worker_ready(sender=None, **kwargs) -> None:
    """Worker start: take over what a dead worker left running, then keep sweeping."""
    _sweeper_stop.clear()
    _sweep_once()
    interval = float(getattr(settings, "REGISTRY_OPERATION_SWEEP_SECONDS", 30))
    if interval > 0:
        threading.Thread(target=_sweep_forever, args=(interval,), name="operations-sweeper", daemon=True).start()


@worker_shutting_down.connect(dispatch_uid="amis.sweep_stop")
def sweep_stop(sender=None, **kwargs) -> None:
    _sweeper_stop.set()


@shared_task(name="amis.scan", acks_late=True, autoretry_for=(AwsTransientError,), retry_backoff=True,
             retry_jitter=True, max_retries=6)
def ami_scan_task(operation_id: str) -> None:
    """Run one scan Operation. Idempotent: a finished operation is skipped on redelivery."""
    scanner.ami_scan_run(operation_id=operation_id)


@shared_task(name="amis.rescan_due", acks_late=True)
def ami_rescan_due_task() -> int:
    """Beat: queue scans for listed AMIs whose last scan is older than REGISTRY_RESCAN_DAYS."""
    return len(scanner.ami_rescan_due())


@shared_task(name="amis.best_scores_refresh", acks_late=True)
def ami_best_scores_refresh_task() -> int:
    """Beat: store today's best score where it changed (freshness expires with time). Idempotent."""
    return ranking.best_score_refresh()
