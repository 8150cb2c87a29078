"""Who is a moderator: superusers and members of the ``moderators`` group."""
from rest_framework.permissions import BasePermission

from registry.errors import Forbidden

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


def moderator_required(user, *, message: str = "only moderators may do this") -> None:
    """Raise ``Forbidden`` unless ``user`` is a moderator (services check it; APIs may check it
    first, before reading the body, so a non-moderator learns nothing more)."""
    if not is_moderator(user):
        raise Forbidden(message)


class IsModerator(BasePermission):
    message = "Only moderators may do this."

    def has_permission(self, request, view):
        return is_moderator(request.user)
