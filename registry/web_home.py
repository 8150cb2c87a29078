"""Site-wide context for the browser pages (the catalogue home itself is ``amis.views.ami_browse``)."""
from django.conf import settings

from registry.permissions import is_moderator


def site_context(request) -> dict:
    """Values every page's layout needs: the emulator banner flag, whether tasks run eagerly (no
    worker: progress pages say so) and whether to link the admin."""
    user = getattr(request, "user", None)
    return {
        "registry_emulator": bool(getattr(settings, "REGISTRY_EMULATOR", False)),
        "tasks_eager": bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)),
        # Lazy: evaluated (one cached query) only when the layout asks, i.e. for signed-in users.
        "show_admin_link": lambda: bool(user and user.is_authenticated and (user.is_staff or is_moderator(user))),
    }
