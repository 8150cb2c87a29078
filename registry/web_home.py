"""Site-wide context for the browser pages (the catalogue home itself is ``amis.views.ami_browse``)."""
from django.conf import settings


def site_context(request) -> dict:
    """Values every page's layout needs: the emulator banner flag."""
    return {"registry_emulator": bool(getattr(settings, "REGISTRY_EMULATOR", False))}
