"""Friendly error pages; API paths get the JSON envelope instead of HTML."""
from django.http import JsonResponse
from django.shortcuts import render

from registry.errors import envelope


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(envelope("Not found.", status_code=404), status=404)
    return render(request, "registry/errors/404.html", status=404)


def permission_denied(request, exception=None):
    if _is_api(request):
        return JsonResponse(envelope("You do not have permission to do this.", status_code=403), status=403)
    return render(request, "registry/errors/403.html", status=403)


def server_error(request):
    if _is_api(request):
        return JsonResponse(envelope("Internal server error.", status_code=500, code="server_error"), status=500)
    return render(request, "registry/errors/500.html", status=500)
