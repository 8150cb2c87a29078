"""Request context for the audit log: who, from where, which request."""
import contextvars
import uuid

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

