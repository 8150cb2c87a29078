"""The site's URLs plus views that fail, for the error-page tests."""
from django.core.exceptions import PermissionDenied
from django.urls import path

from registry.urls import handler403, handler404, handler500, urlpatterns as site_urlpatterns  # noqa: F401


def crash(request):
    raise RuntimeError("a bug in a view")


def forbidden(request):
    raise PermissionDenied


urlpatterns = [path("crash/", crash), path("forbidden/", forbidden), *site_urlpatterns]
