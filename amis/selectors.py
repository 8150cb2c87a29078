"""Read queries for the catalogue. Visibility is decided here, once, for every endpoint and page."""
from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from amis.models import AMI
from registry.permissions import is_moderator


def ami_visibility_q(*, user) -> Q | None:
    """The condition an AMI row must meet to be visible to ``user`` (None means: everything).

    Anonymous: approved + public. Signed in: also their own entries, and approved or deprecated
    entries shared with them (user grant, or a community grant to a community they belong to —
    every user belongs to the default communities). Moderators: everything. Revoked entries are
    visible only to owners and moderators.
    """
    if user is not None and is_moderator(user):
        return None
    listed = Q(status__in=[AMI.Status.APPROVED, AMI.Status.DEPRECATED])
    public = listed & Q(visibility=AMI.Visibility.PUBLIC)
    if user is None or not user.is_authenticated:
        return public
    shared = listed & (
        Q(shares__user=user)
        | Q(shares__community__is_default=True)
        | Q(shares__community__memberships__user=user)
    )
    return public | Q(creator=user) | shared


def ami_list_visible_to(*, user) -> QuerySet[AMI]:
    """Every AMI ``user`` may see (no ordering or eager loading imposed)."""
    condition = ami_visibility_q(user=user)
    qs = AMI.objects.all()
    if condition is None:
        return qs
    # Joins through shares can multiply rows: filter on a de-duplicated id subquery instead.
    return qs.filter(pk__in=AMI.objects.filter(condition).values("pk"))


def ami_lookup_q(ref: str) -> Q | None:
    """``ref`` as in API paths: a registry uuid, the canonical AMI id, or any regional copy's id."""
    ref = (ref or "").strip()
    try:
        return Q(pk=uuid.UUID(ref))
    except ValueError:
        pass
    if ref.startswith("ami-") and len(ref) <= 21:
        return Q(ami_id=ref) | Q(pk__in=AMI.objects.filter(regions__image_id=ref).values("pk"))
    return None


def ami_get_visible(*, user, ref: str) -> AMI | None:
    """The AMI named by ``ref`` if ``user`` may see it, else None (callers answer 404)."""
    lookup = ami_lookup_q(ref)
    if lookup is None:
        return None
    return ami_list_visible_to(user=user).filter(lookup).select_related("template", "creator").first()
