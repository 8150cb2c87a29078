"""Read queries for sharing grants."""
from __future__ import annotations

from django.db.models import QuerySet

from amis.models import AMI
from registry.permissions import is_moderator
from sharing.models import Share


def share_can_manage(*, ami: AMI, user) -> bool:
    """Only the AMI's owner and moderators may list, add or remove its grants."""
    if user is None or not user.is_authenticated:
        return False
    return is_moderator(user) or (ami.creator_id is not None and ami.creator_id == user.pk)


def share_list_for_ami(*, ami: AMI) -> QuerySet[Share]:
    """Every grant of ``ami``, oldest first (the order they were given)."""
    return Share.objects.filter(ami=ami).order_by("created_at", "id")


def share_get(*, ami: AMI, share_id: int) -> Share | None:
    """One grant of ``ami``; None when it does not exist or belongs to another AMI."""
    return Share.objects.filter(ami=ami, pk=share_id).select_related("ami").first()
