"""Friendly error pages; API paths get the JSON envelope instead of HTML."""
from django.conf import settings
from django.core import signals
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils.log import log_response

from registry.errors import ApplicationError, envelope


def raise_page_error(exc: ApplicationError) -> None:
    """In a browser page, a service's 404/403 becomes the friendly error page (invisible entries
    are "not found", never "forbidden"); any other error returns for the form to show."""
    if isinstance(exc, (Http404, PermissionDenied)):
        raise exc
    if exc.status_code == 404:
        raise Http404(exc.message)
    if exc.status_code == 403:
        raise PermissionDenied(exc.message)
    if exc.status_code == 503:
        raise exc  # the 503 page with Retry-After (registry.broker.BrokerUnavailableMiddleware)


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


class SiteErrorPagesMiddleware:
    """The site's own 404 and 500 pages while DEBUG is on (``registry.settings.demo`` installs this).

    With DEBUG on, Django answers a missing page or an unhandled exception with its debug page,
    whatever ``handler404``/``handler500`` say. A view's exception is handled here (and logged as
    Django logs any 500, traceback included); a path that matches no URL never reaches a view, so
    its debug 404, the only 404 without a ``resolver_match``, is replaced on the way out.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.DEBUG and response.status_code == 404 and request.resolver_match is None:
            return page_not_found(request)
        return response

    def process_exception(self, request, exception):
        if not settings.DEBUG:
            return None  # Django renders handler404 / handler500 itself
        if isinstance(exception, Http404):
            return page_not_found(request, exception)
        if isinstance(exception, (PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError)):
            return None  # 403 already uses handler403; a 400 is the caller's to fix and shows why
        signals.got_request_exception.send(sender=None, request=request)
        response = server_error(request)
        log_response("%s: %s", "Internal Server Error", request.path, response=response, request=request,
                     exception=exception)
        return response
