"""How sharing services hand the AWS side to a worker: by task name, after commit.

Both must be called inside the service's transaction: nothing is queued for a grant that rolls
back. The tasks (``sharing.tasks``) run ``sharing.aws_sync``; they are sent by their stable names
so that the services never import the tasks module (which imports the services).
"""
from django.db import transaction

from registry.broker import broker_require
from registry.celery import task_send


def share_sync_enqueue(*, share_id: int) -> None:
    """Queue adding the grant's launch permission in every region with a copy."""
    broker_require(task="sharing.share_sync")  # 503 and a rollback while the queue is down
    transaction.on_commit(lambda: task_send("sharing.share_sync", share_id))


def share_removal_enqueue(*, ami_id, grantee_type: str, grantee: str) -> None:
    """Queue removing a deleted grant's launch permission from every regional copy."""
    broker_require(task="sharing.share_remove")
    transaction.on_commit(lambda: task_send("sharing.share_remove", str(ami_id), grantee_type, grantee))
