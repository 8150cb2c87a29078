"""Site-wide reads."""
from django.conf import settings
from django.db.models import Q, QuerySet

from registry.models import Community


def community_list_for_user(*, user) -> QuerySet[Community]:
    """Communities the user belongs to: every default community plus explicit memberships."""
    if not user or not user.is_authenticated:
        return Community.objects.none()
    return Community.objects.filter(Q(is_default=True) | Q(memberships__user=user)).distinct().order_by("slug")


def default_community_slug() -> str:
    return settings.REGISTRY_DEFAULT_COMMUNITY
