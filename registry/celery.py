"""The Celery application, and the one way the code sends a task.

Without ``CELERY_BROKER_URL`` the settings make every task run eagerly in the calling process
(the embedded default), so the same service code path is used with or without a worker.
"""
import os

from celery import Celery

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


def task_send(name: str, *args, task_id: str | None = None, countdown: int | None = None) -> None:
    """Send the task registered under the stable ``name`` (``@shared_task(name=...)``).

    Services enqueue by name so they never import the ``tasks`` module that imports them (the
    tasks call the services): the name is the contract, exactly what a queued message carries.
    In eager mode the task must be registered in this process (each app's ``AppConfig.ready``
    imports its ``tasks``), because there is no broker to hand an unknown name to.
    """
    if tasks_run_eagerly() and name not in app.tasks:
        raise LookupError(f"task '{name}' is not registered in this process")
    app.signature(name, args=args).apply_async(task_id=task_id, countdown=countdown or None)
