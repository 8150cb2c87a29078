"""The API.md error envelope as an OpenAPI response, for ``extend_schema(responses={..., **errors(404)})``."""
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorEnvelopeSerializer(serializers.Serializer):
    """The API.md error envelope (registry/errors.py); some errors add top-level keys."""

    detail = serializers.CharField()
    message = serializers.CharField()
    code = serializers.CharField()
    status_code = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


_ERROR_TEXT = {400: "Invalid input (`errors` names the fields)", 401: "Not signed in",
               403: "Signed in but not allowed", 404: "Unknown, or invisible to you",
               409: "State conflict", 422: "Verification failed (`code` says why)", 429: "Throttled / locked out",
               503: "AWS did not answer"}


def errors(*codes: int) -> dict:
    """Documented error responses (the envelope) for ``extend_schema(responses=...)``."""
    return {code: OpenApiResponse(ErrorEnvelopeSerializer, description=_ERROR_TEXT[code]) for code in codes}

