"""Whether the image itself is public in AWS (``LaunchPermission Group=all``).

Only an owner who asked for it at create time (``public_requested``) gets it, and only once a
moderator approved the entry; every other entry is made sure not to be public. Grants to named
accounts, organizations and OUs are sharing's (``sharing.aws_sync``).
"""
from __future__ import annotations

from django.db import transaction

from amis.models import AMI
from amis.ownership import ami_role
from amis.selectors import ami_available_copies
from registry import aws
from registry.broker import broker_require
from registry.celery import task_send


def ami_public_sync(*, ami: AMI) -> list[str]:
    """Make the image public in AWS in every available region when it should be, private
    otherwise (see the module docstring). Idempotent (reads first). Returns the regions changed."""
    want = ami.public_requested and ami.status == AMI.Status.APPROVED
    changed = []
    copies = ami_available_copies(ami_id=ami.pk)
    role = ami_role(ami) if copies else None  # in the entry's own account
    for region, image_id in copies:
        is_public = "all" in aws.launch_permission_accounts(region, image_id, role=role).get("Group", set())
        if is_public != want:
            aws.call(region, "ec2", "modify_image_attribute", role=role, ImageId=image_id,
                     LaunchPermission={("Add" if want else "Remove"): [{"Group": "all"}]})
            changed.append(region)
    return changed


def ami_public_sync_enqueue(*, ami: AMI) -> None:
    """For ``ami_approve`` (inside its transaction): push the public flag to AWS after commit."""
    ami_pk = str(ami.pk)
    broker_require(task="amis.public_sync")  # 503 and a rollback while the queue is down
    transaction.on_commit(lambda: task_send("amis.public_sync", ami_pk))
