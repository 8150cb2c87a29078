"""Who is a moderator: superusers and members of the ``moderators`` group."""
from rest_framework.permissions import BasePermission

MODERATORS_GROUP = "moderators"


def is_moderator(user) -> bool:
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    # Cached per user object: many checks in one request cost one query.
    cached = getattr(user, "_is_moderator_cache", None)
    if cached is None:
        cached = user.groups.filter(name=MODERATORS_GROUP).exists()
        user._is_moderator_cache = cached
    return cached


class IsModerator(BasePermission):
    message = "Only moderators may do this."

    def has_permission(self, request, view):
        return is_moderator(request.user)
