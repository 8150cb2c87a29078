"""Signals of the catalogue, for decoupled concerns only: apps above ``amis`` (sharing, the
resolver's cache) react to what happened to an entry without ``amis`` knowing they exist.

``ami_changed`` (kwargs ``ami_id``) is sent by every service that changes an entry's status,
visibility or regional copies — once at once (so in-process caches drop stale answers during the
transaction) and once more after the transaction commits (so nothing re-caches the pre-commit
state in between). Receivers must be cheap and idempotent; the resolver invalidates its cache.

``ami_grants_requested`` (kwargs ``ami``, ``user``, ``accounts``, ``community``) is sent inside the
transaction that creates an entry from an instance, with the grants its creator asked for
(``share_with`` account ids, a community slug). Sharing records them through its own validated,
audited service; a receiver may raise to refuse the creation step.

``ami_copy_available`` (kwargs ``ami_id``, ``region``) is sent by the AWS workers, outside any
transaction, when an image of the entry became ``available`` in a region (the created source
image or a copy). Sharing pushes the entry's AWS grants to the new copy.

``ami_launch_permissions_withdrawn`` (kwargs ``ami_id``) is sent by the revoke worker after it has
removed every launch permission from every copy in AWS, so sharing can mark its grants unsynced.

``ami_page_context`` (kwargs ``request``, ``ami``, ``is_owner``, ``forms``) is sent while the AMI's
browser page is built; each receiver returns a dict of template context for its own section
(ratings: reviews and the rating form; sharing: the grants), taking a bound form from ``forms``
when one is being re-shown with its errors.

``channel_moved`` (kwargs ``lineage_id``, ``channel``) is sent after the transaction that moved a
channel of a lineage commits (by hand, or because a version was approved, deprecated or revoked):
answers published for that channel (the resolver's SSM parameters) are stale.

``policy_changed`` (kwargs ``community_id``) is sent after an institution's policy changed and the
transaction committed: cached answers computed under the old policy are stale.
"""
from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from amis.models import AMI

ami_changed = Signal()  # kwargs: ami_id
ami_grants_requested = Signal()  # kwargs: ami, user, accounts, community
ami_copy_available = Signal()  # kwargs: ami_id, region
ami_launch_permissions_withdrawn = Signal()  # kwargs: ami_id
ami_page_context = Signal()  # kwargs: request, ami, is_owner, forms → a dict of context
policy_changed = Signal()  # kwargs: community_id
channel_moved = Signal()  # kwargs: lineage_id, channel


def ami_changed_notify(*, ami_id) -> None:
    """Send ``ami_changed`` now and again after the surrounding transaction commits."""
    ami_changed.send(sender=AMI, ami_id=ami_id)
    # NOTE: outside a transaction on_commit runs the callback immediately: a second, harmless send.
    transaction.on_commit(lambda: ami_changed.send(sender=AMI, ami_id=ami_id))


def channel_moved_notify(*, lineage_id, channel: str) -> None:
    """Send ``channel_moved`` once the surrounding transaction commits (never for a rollback)."""
    transaction.on_commit(lambda: channel_moved.send(sender=AMI, lineage_id=lineage_id, channel=channel))
