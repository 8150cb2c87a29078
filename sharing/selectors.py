"""Read queries for sharing grants."""
from __future__ import annotations

from django.db.models import QuerySet

from amis.models import AMI
from sharing.models import Share


def share_list_for_ami(*, ami: AMI) -> QuerySet[Share]:
    """Every grant of ``ami``, oldest first (the order they were given)."""
    return Share.objects.filter(ami=ami).order_by("created_at", "id")


def share_get(*, ami: AMI, share_id: int) -> Share | None:
    """One grant of ``ami``; None when it does not exist or belongs to another AMI."""
    return Share.objects.filter(ami=ami, pk=share_id).select_related("ami").first()
