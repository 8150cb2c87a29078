"""The Celery application, and the one way the code sends a task.

Without ``CELERY_BROKER_URL`` the settings make every task run eagerly in the calling process
(the embedded default), so the same service code path is used with or without a worker.
"""
import logging
import os

from celery import Celery
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

# What sending a task raises when the broker (Redis) is down or unreachable.
BROKER_ERRORS: tuple[type[BaseException], ...] = (OperationalError, ConnectionError, OSError)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings.base")

# Eager tasks still pass through a producer (Celery round-trips their arguments through the
# serializer). With no broker configured it would default to AMQP on localhost and warn "No
# hostname was supplied" on the first task; kombu's in-memory transport is all it needs.
EAGER_BROKER_URL = "memory://localhost/"

app = Celery("registry")


@app.on_after_configure.connect
def _eager_producer_without_amqp(sender, source, **kwargs):
    if not source.broker_url:
        source["CELERY_BROKER_URL"] = EAGER_BROKER_URL


app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Cross-app use-cases (registry/composers/) have tasks too; named as a string, not imported here.
app.autodiscover_tasks(["registry.composers"])


def tasks_run_eagerly() -> bool:
    """True when tasks run in-process (no broker): asked of the Celery app, which is the truth."""
    return bool(app.conf.task_always_eager)


def task_send(name: str, *args, task_id: str | None = None, countdown: int | None = None) -> bool:
    """Send the task registered under the stable ``name`` (``@shared_task(name=...)``).

    Services enqueue by name so they never import the ``tasks`` module that imports them (the
    tasks call the services): the name is the contract, exactly what a queued message carries.
    In eager mode the task must be registered in this process (each app's ``AppConfig.ready``
    imports its ``tasks``), because there is no broker to hand an unknown name to.

    Returns False (logged, never raised) when the broker is unreachable: sends happen after the
    commit, where an exception would turn a committed change into a 500. Writes check the broker
    first (``registry.broker.broker_require``); a send that still fails leaves its row for a
    sweep to send again (e.g. ``amis.operations.operations_refresh_stale``).
    """
    if tasks_run_eagerly() and name not in app.tasks:
        raise LookupError(f"task '{name}' is not registered in this process")
    try:
        app.signature(name, args=args).apply_async(task_id=task_id, countdown=countdown or None)
    except BROKER_ERRORS as exc:
        if tasks_run_eagerly():
            raise  # in-process: an OSError is the task's own failure, not a broker outage
        logger.warning("broker unavailable: task %s%r not sent (%s: %s)", name, args, exc.__class__.__name__, exc)
        return False
    return True
