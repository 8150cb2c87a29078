"""Interface between sharing services and the AWS side (launch-permission sync).

Implemented by the AWS lifecycle work: ``share_sync_enqueue`` queues the task that adds the
launch permission in every region with a copy; ``share_removal_enqueue`` queues its removal.
Both must be called inside the service's transaction: they defer the enqueue to on_commit.
"""
from django.db import transaction


def share_sync_enqueue(*, share_id: int) -> None:
    from sharing.tasks import share_sync_task

    transaction.on_commit(lambda: share_sync_task.delay(share_id))


def share_removal_enqueue(*, ami_id, grantee_type: str, grantee: str) -> None:
    from sharing.tasks import share_remove_task

    transaction.on_commit(lambda: share_remove_task.delay(str(ami_id), grantee_type, grantee))
