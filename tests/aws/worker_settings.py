"""Settings for the Celery worker subprocesses of tests/aws/test_worker.py.

The test settings plus queue names prefixed with ``REGISTRY_TEST_QUEUE_PREFIX``: several test runs
(helpers, CI) may share the broker database, and each run's worker must consume only its own
run's messages. ``queue_names`` is also used by the test process to route what it sends.
"""
import os

from kombu import Exchange, Queue

from registry.settings.test import *  # noqa: F401,F403
from registry.settings.test import CELERY_TASK_QUEUES, CELERY_TASK_ROUTES


def prefixed(prefix: str) -> dict:
    """The Celery settings that put every queue name behind ``prefix``."""
    return {
        "CELERY_TASK_DEFAULT_QUEUE": f"{prefix}default",
        "CELERY_TASK_QUEUES": tuple(Queue(f"{prefix}{q.name}", Exchange(f"{prefix}{q.name}", type="direct"),
                                          routing_key=f"{prefix}{q.name}") for q in CELERY_TASK_QUEUES),
        "CELERY_TASK_ROUTES": {name: {**route, "queue": f"{prefix}{route['queue']}"}
                               for name, route in CELERY_TASK_ROUTES.items()},
    }


_PREFIX = os.environ.get("REGISTRY_TEST_QUEUE_PREFIX", "")
if _PREFIX:
    globals().update(prefixed(_PREFIX))
