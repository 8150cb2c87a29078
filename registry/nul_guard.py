"""NUL bytes in query strings are refused with a 400 before any view runs (``NulRefusalMiddleware``).

Path segments are the views' business: a NUL in an id or slug names nothing, so it is a 404 there.
"""
from django.http import HttpResponseBadRequest, JsonResponse

from registry.errors import envelope


class NulRefusalMiddleware:
    """A NUL byte in any query parameter (name or value) is a 400, for every endpoint.

    PostgreSQL cannot hold NUL in text, so such a value reaching a filter is a database error (a
    500). Refusing it here covers every query parameter of every page and API view at once; bodies
    are validated by the forms and serializers (their CharFields already refuse NUL).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = sorted({key.replace("\x00", "\\0") for key, values in request.GET.lists()
                      if "\x00" in key or any("\x00" in v for v in values)})
        if bad:
            return _bad_request(request, "Null characters are not allowed in query parameters.", bad)
        return self.get_response(request)


def _bad_request(request, message: str, parameters: list[str]):
    # JSON (the API envelope, naming each refused parameter as the serializers do) unless a browser
    # asked for a page: the cws client's paths are not under /api/.
    if "text/html" not in request.headers.get("Accept", ""):
        return JsonResponse(envelope(message, status_code=400, code="invalid_parameters",
                                     errors={name: [message] for name in parameters}), status=400)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
