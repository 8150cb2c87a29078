"""The operations engine: ``Operation`` rows, their state and progress, and how their tasks run.

Every long-running AWS job (create, copy, validate, deprecate, revoke, deregister) is an
``Operation`` row driven by a chain of Celery tasks (ARCHITECTURE.md, *Asynchronous work*):

* a ``*_request`` service writes the row inside its transaction and enqueues the task **after
  commit** (``operation_enqueue_on_commit``);
* a ``*_step`` service does one round of AWS work and returns either ``None`` (finished: the row is
  ``succeeded`` or ``failed``) or a countdown after which the task must run again — the task then
  re-schedules itself (``operation_enqueue``); no worker ever sleeps waiting for AWS;
* only one chain drives an operation at a time: every enqueue writes a fresh task id to
  ``Operation.celery_task_id`` and a task whose id is not the current one exits at once
  (``operation_is_current``). A redelivered message keeps its id, so it proceeds.

Tasks are sent by their stable name (``TASK_NAMES``), never by importing ``amis.tasks``: the tasks
import the services, so the services must not import the tasks.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from amis.models import Operation
from registry import aws, metrics
from registry.broker import broker_require
from registry.celery import task_send, tasks_run_eagerly

logger = logging.getLogger(__name__)

OpKind = Operation.Kind
OpState = Operation.State
TERMINAL = (OpState.SUCCEEDED, OpState.FAILED)

# Operation kind → the Celery task (by its stable ``name=``) that runs one step of it.
TASK_NAMES = {
    OpKind.CREATE_IMAGE: "amis.create_image",
    OpKind.COPY_IMAGE: "amis.copy_image",
    OpKind.VALIDATE: "amis.validate",
    OpKind.DEPRECATE: "amis.deprecate_in_aws",
    OpKind.REVOKE: "amis.revoke_in_aws",
    OpKind.DEREGISTER: "amis.deregister_in_aws",
    OpKind.SNAPSHOT: "amis.snapshot_wait",
    # The resolver's published answers (SSM parameters): run by resolver.tasks.
    OpKind.SSM_SYNC: "resolver.ssm_sync",
}


def setting_seconds(name: str, default) -> int:
    """A duration setting (seconds or a ``timedelta``), read on each call so tests can override it."""
    value = getattr(settings, name, default)
    return int(value.total_seconds()) if isinstance(value, timedelta) else int(value)


def poll_seconds() -> int:
    """How long a step waits before looking at AWS again (``REGISTRY_POLL_SECONDS``)."""
    return setting_seconds("REGISTRY_POLL_SECONDS", 15)


# --- state and progress ----------------------------------------------------------------------------

def operation_save(op: Operation, **fields) -> Operation:
    """Set ``fields`` on ``op`` and write exactly them (plus ``updated_at``)."""
    for key, value in fields.items():
        setattr(op, key, value)
    op.save(update_fields=[*fields.keys(), "updated_at"])
    return op


def operation_mark_running(op: Operation, *, progress: int | None = None, message: str | None = None) -> Operation:
    """Record that a step is working on ``op`` (first start time, attempt count, progress)."""
    fields: dict = {"state": OpState.RUNNING, "attempts": op.attempts + 1}
    if op.started_at is None:
        fields["started_at"] = timezone.now()
    if progress is not None:
        fields["progress"] = max(op.progress, min(progress, 99))
    if message is not None:
        fields["message"] = message
    return operation_save(op, **fields)


def operation_progress(op: Operation, *, progress: int, message: str = "") -> Operation:
    """Move progress forward (never backwards, never to 100 before the operation finished)."""
    return operation_save(op, progress=max(op.progress, min(progress, 99)), message=message or op.message)


def operation_succeed(op: Operation, *, message: str = "", result: dict | None = None) -> Operation:
    fields = {"state": OpState.SUCCEEDED, "progress": 100, "finished_at": timezone.now(), "error": ""}
    if message:
        fields["message"] = message
    if result is not None:
        fields["result"] = {**(op.result or {}), **result}
    return operation_save(op, **fields)


def operation_fail(op: Operation, *, error: str, result: dict | None = None) -> Operation:
    """End ``op`` as failed with a human-readable error (AWS's message where there is one)."""
    fields = {"state": OpState.FAILED, "finished_at": timezone.now(), "error": error[:4000], "message": error[:500]}
    if result is not None:
        fields["result"] = {**(op.result or {}), **result}
    logger.warning("operation %s (%s) failed: %s", op.pk, op.kind, error)
    return operation_save(op, **fields)


def operation_timed_out(op: Operation, limit_seconds: int) -> bool:
    start = op.started_at or op.created_at
    return (timezone.now() - start).total_seconds() > limit_seconds


def operation_finish_by_outcome(op: Operation, outcome: dict, what: str) -> None:
    """End a per-region job: failed when any region failed (AWS's messages joined), else succeeded.
    Regions the endpoint cannot do (the emulator's NotImplemented) are named, not failed."""
    failed = {r: o for r, o in outcome.items() if o.get("status") == "failed"}
    if failed:
        operation_fail(op, error="; ".join(f"{r}: {o['error']}" for r, o in failed.items()),
                       result={"regions": outcome})
        return
    unsupported = [r for r, o in outcome.items() if o.get("status") == "not_supported_by_endpoint"]
    note = f" (not supported by this AWS endpoint in: {', '.join(unsupported)})" if unsupported else ""
    operation_succeed(op, message=f"{what} done{note}", result={"regions": outcome})


# --- who drives an operation -------------------------------------------------------------------------

def operation_is_current(*, operation_id, task_id: str | None, redelivered: bool = False) -> bool:
    """False when another (newer) task chain owns the operation, or when it has finished.

    A redelivered message (its worker died before acknowledging it) always runs: the worker may
    have died after writing the next task id but before sending that task, so the chain would
    otherwise end with it. Steps are idempotent, and the step re-chains under a new id, so at
    most one chain survives.
    """
    op = Operation.objects.filter(pk=operation_id).only("state", "celery_task_id").first()
    if op is None or op.state in TERMINAL:
        return False
    return redelivered or not op.celery_task_id or not task_id or op.celery_task_id == task_id


def _result_with(operation_id, key, value) -> dict:
    result = dict(Operation.objects.filter(pk=operation_id).values_list("result", flat=True).first() or {})
    result[key] = value
    return result


def operation_enqueue(*, operation_id, kind: str, countdown: int | None = None) -> None:
    """Send the operation's task now (or after ``countdown`` s) under a fresh task id.

    The id is written to the row first, so any older chain for the same operation stops at its
    next run. Without a broker (eager mode) a countdown cannot be honoured without blocking the
    web request: the due time is recorded instead and ``operation_poke`` (called by the status
    endpoints and pages) runs the next step when it is due.
    """
    task_id = str(uuid.uuid4())
    if countdown and tasks_run_eagerly():
        due = (timezone.now() + timedelta(seconds=countdown)).isoformat()
        Operation.objects.filter(pk=operation_id).update(celery_task_id=task_id, updated_at=timezone.now(),
                                                         result=_result_with(operation_id, "next_poll_at", due))
        return
    Operation.objects.filter(pk=operation_id).update(celery_task_id=task_id, updated_at=timezone.now())
    if not task_send(TASK_NAMES[kind], str(operation_id), task_id=task_id, countdown=countdown):
        # The broker died after the check: an empty task id marks the row *unsent*, and the
        # stale sweep sends it as soon as the broker is back (outbox style), without waiting
        # for the usual stale threshold.
        Operation.objects.filter(pk=operation_id, celery_task_id=task_id).update(celery_task_id="")


def operation_run_step(task, *, operation_id: str, kind: str, step) -> None:
    """The body of every operation task (``amis.tasks``, ``resolver.tasks``): run one ``step`` unless
    another chain owns the operation; re-schedule when it must wait. ``task`` is the bound task."""
    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    if not operation_is_current(operation_id=operation_id, task_id=task.request.id, redelivered=redelivered):
        metrics.TASKS.labels(task=task.name, outcome="skipped").inc()
        return
    operation_heartbeat(operation_id=operation_id)
    try:
        countdown = step(operation_id=operation_id)
    except aws.AwsTransientError as exc:
        if not tasks_run_eagerly():
            raise  # autoretry_for: backoff + jitter, same task id
        # Without a broker a retry would run inline, blocking the web request through every
        # backoff: record the error and let the next poll (operation_poke) try again.
        countdown = operation_defer_transient(operation_id=operation_id, error=exc)
    if countdown:
        operation_enqueue(operation_id=operation_id, kind=kind, countdown=countdown)
    metrics.TASKS.labels(task=task.name, outcome="waiting" if countdown else "done").inc()


def operation_enqueue_on_commit(op: Operation) -> None:
    """Enqueue ``op``'s first step once the caller's transaction commits (never for a rolled-back row).

    Raises ``BrokerUnavailable`` (503) at once while the broker is down: called inside the
    service's transaction, that rolls back the row, so no operation is committed unqueued.
    """
    broker_require(task=TASK_NAMES[op.kind])
    transaction.on_commit(lambda: operation_enqueue(operation_id=op.pk, kind=op.kind))


def operation_defer_transient(*, operation_id, error: aws.AwsError) -> int:
    """Eager mode: note a throttling/5xx error on the operation; returns the delay before retrying."""
    op = Operation.objects.get(pk=operation_id)
    delay = min(300, 5 * 2 ** min(op.attempts, 6))
    operation_save(op, message=f"AWS asked us to slow down ({error.code or 'transient error'}): retrying in {delay} s")
    return delay


def operation_poke(op: Operation) -> Operation:
    """Eager mode only: run the next step of a waiting operation (and its children) if it is due."""
    if not tasks_run_eagerly():
        return op
    op.refresh_from_db()
    family = [op, *Operation.objects.filter(parent=op).exclude(state__in=TERMINAL)]
    for member in family:
        due = (member.result or {}).get("next_poll_at")
        if member.state in TERMINAL or not due:
            continue
        if datetime.fromisoformat(due) <= timezone.now():
            operation_enqueue(operation_id=member.pk, kind=member.kind)
    op.refresh_from_db()
    return op


def operation_heartbeat(*, operation_id) -> None:
    """A worker is working on the operation now: touch ``updated_at`` (its heartbeat).

    Every step run beats once before it calls AWS, and every re-schedule beats again, so a live
    chain's row is never older than one poll interval (``REGISTRY_POLL_SECONDS``). A row that stops
    beating while ``running`` belongs to a dead worker (``operations_refresh_stale``).
    """
    Operation.objects.filter(pk=operation_id).exclude(state__in=TERMINAL).update(updated_at=timezone.now())


def heartbeat_stale_seconds() -> int:
    """How long a ``running`` operation may go without a heartbeat before it is taken over.

    Several poll intervals, so a slow poll is not taken for a death (a step itself never blocks
    on AWS: it beats, makes its calls and re-schedules). ``REGISTRY_OPERATION_HEARTBEAT_STALE_SECONDS``
    overrides it.
    """
    configured = getattr(settings, "REGISTRY_OPERATION_HEARTBEAT_STALE_SECONDS", None)
    return int(configured) if configured else max(60, 4 * poll_seconds())


# Queued rows whose send failed (``celery_task_id`` emptied by ``operation_enqueue``) are sent again
# once they are this old: long enough for the normal after-commit send to have happened.
UNSENT_GRACE_SECONDS = 15


def operations_refresh_stale(*, older_than_seconds: int | None = None, limit: int = 100) -> list[str]:
    """Re-enqueue operations nobody drives any more: a lost message, a dead worker, a failed send.

    Three kinds of row are picked (each query bounded by ``limit``):

    * ``running`` without a heartbeat for ``heartbeat_stale_seconds()`` — its worker died (kill -9,
      OOM, a lost host) while the broker still holds the unacknowledged message until its
      visibility timeout;
    * ``queued`` or ``running`` untouched for ``REGISTRY_OPERATION_STALE_SECONDS`` (or
      ``older_than_seconds``) — a message lost some other way (a queue that was purged);
    * *unsent* rows (``celery_task_id`` empty) after a short grace — the broker was down when the
      row's message should have been sent (outbox style: the row is the record of the work).

    Runs from beat every minute, on every worker start and periodically inside each worker
    (``amis.tasks``), so recovery never waits for beat alone. Rows are claimed with
    ``select_for_update(skip_locked=True)`` so overlapping sweeps never pick the same row;
    ``updated_at`` is touched under the claim, and re-enqueueing gives the row a new task id, which
    stops any old chain (``operation_is_current``).
    """
    now = timezone.now()
    idle = timedelta(seconds=older_than_seconds or setting_seconds("REGISTRY_OPERATION_STALE_SECONDS", 600))
    silent = timedelta(seconds=min(heartbeat_stale_seconds(), int(idle.total_seconds())))
    unsent = timedelta(seconds=UNSENT_GRACE_SECONDS)
    live = [OpState.QUEUED, OpState.RUNNING]
    due = (Q(state__in=live, updated_at__lt=now - idle)
           | Q(state=OpState.RUNNING, updated_at__lt=now - silent)
           | Q(state__in=live, celery_task_id="", updated_at__lt=now - unsent))
    with transaction.atomic():
        stale = list(Operation.objects.select_for_update(skip_locked=True)
                     .filter(due, kind__in=list(TASK_NAMES))
                     .order_by("updated_at")[:limit])
        for op in stale:
            transaction.on_commit(lambda op=op: operation_enqueue(operation_id=op.pk, kind=op.kind))
        Operation.objects.filter(pk__in=[o.pk for o in stale]).update(updated_at=timezone.now())
    if stale:
        logger.info("stale sweep: re-enqueued %d operation(s): %s", len(stale), ", ".join(str(o.pk) for o in stale))
    return [str(o.pk) for o in stale]
