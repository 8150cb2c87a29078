"""The API.md error envelope as an OpenAPI response, for ``extend_schema(responses={..., **errors(404)})``."""
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
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


# One example envelope per status, as registry/errors.py writes them.
_EXAMPLES = {
    400: {"detail": "name: This field is required.", "message": "name: This field is required.",
          "code": "invalid", "status_code": 400, "errors": {"name": ["This field is required."]}},
    401: {"detail": "Authentication credentials were not provided.",
          "message": "Authentication credentials were not provided.", "code": "not_authenticated", "status_code": 401},
    403: {"detail": "only the owner may submit this AMI", "message": "only the owner may submit this AMI",
          "code": "forbidden", "status_code": 403},
    404: {"detail": "AMI not found", "message": "AMI not found", "code": "not_found", "status_code": 404},
    409: {"detail": "cannot approve an AMI whose status is 'draft'",
          "message": "cannot approve an AMI whose status is 'draft'", "code": "invalid_transition",
          "status_code": 409, "current_status": "draft"},
    422: {"detail": "the signature was made with another key", "message": "the signature was made with another key",
          "code": "wrong_key", "status_code": 422},
    429: {"detail": "Request was throttled.", "message": "Request was throttled.", "code": "throttled",
          "status_code": 429},
    503: {"detail": "AWS did not answer in time", "message": "AWS did not answer in time",
          "code": "aws_unavailable", "status_code": 503},
}


def error_response(code: int, description: str = "") -> OpenApiResponse:
    """One documented error response: the envelope, its example, and ``description`` (or the default)."""
    return OpenApiResponse(ErrorEnvelopeSerializer, description=description or _ERROR_TEXT[code],
                           examples=[OpenApiExample(f"{code} envelope", value=_EXAMPLES[code], response_only=True,
                                                    status_codes=[str(code)])])


def errors(*codes: int) -> dict:
    """Documented error responses (the envelope, with an example) for ``extend_schema(responses=...)``."""
    return {code: error_response(code) for code in codes}

