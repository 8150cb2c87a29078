"""Request context for the audit log: who, from where, which request."""
import contextvars
import uuid

from django.http import JsonResponse

from registry.errors import envelope

_current_request = contextvars.ContextVar("current_request", default=None)


def current_request():
    """The request being served on this thread/task, or None (Celery tasks, commands)."""
    return _current_request.get()


class RequestContextMiddleware:
    """Stores the request for the audit writer and tags responses with an ``X-Request-ID``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        # Accept a caller's id only when it is short and printable; otherwise mint one.
        request.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        token = _current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _current_request.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


class ApiNotFoundMiddleware:
    """A path under ``/api/`` that matches no URL answers the JSON error envelope (404), whatever
    ``DEBUG`` says: API clients (the real cws client prints the body) never get an HTML page.
    With DEBUG off ``handler404`` does the same; with it on, Django's debug page is replaced here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code == 404 and request.path.startswith("/api/")
                and getattr(request, "resolver_match", None) is None
                and not response.get("Content-Type", "").startswith("application/json")):
            return JsonResponse(envelope(f"Not found: {request.path}", status_code=404), status=404)
        return response
