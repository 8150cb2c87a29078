"""Application errors and the one API error envelope (API.md, *Conventions*).

Every API error, whatever raised it, leaves as::

    {"detail": msg, "message": msg, "code": str, "status_code": int, "errors": {field: [msgs]}}

``errors`` is present on validation failures. Services raise ``ApplicationError`` subclasses
(or Django's ``ValidationError``); views never build error bodies by hand.
"""
from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A domain error with an HTTP status and a stable machine-readable code."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid_parameters"

    def __init__(self, message: str, *, code: str | None = None, errors: dict | None = None,
                 extra: dict | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.errors = errors or {}
        # Extra top-level fields for the envelope (e.g. the resolver's fallback_chain on 422).
        self.extra = extra or {}


class InvalidInput(ApplicationError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid_parameters"


class NotFound(ApplicationError, Http404):
    """Also an ``Http404``: raised in a browser page it renders the 404 page, like in the API."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Forbidden(ApplicationError, DjangoPermissionDenied):
    """Also Django's ``PermissionDenied``: raised in a browser page it renders the 403 page."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class Unprocessable(ApplicationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "unprocessable"


_CODE_BY_STATUS = {
    400: "invalid_parameters",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [m for v in detail.values() for m in _flatten(v)]
    if isinstance(detail, (list, tuple)):
        return [m for v in detail for m in _flatten(v)]
    return [str(detail)]


def _field_errors(detail) -> dict:
    """DRF's nested error detail → ``{dotted.path: [messages]}``."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, (dict, list)) for v in value):
            for i, sub in enumerate(value):
                if sub:
                    walk(f"{prefix}.{i}" if prefix else str(i), sub)
        else:
            out.setdefault(prefix or "non_field_errors", []).extend(_flatten(value))

    walk("", detail)
    return out


def envelope(message: str, *, status_code: int, code: str | None = None, errors: dict | None = None,
             extra: dict | None = None) -> dict:
    body = {"detail": message, "message": message, "code": code or _CODE_BY_STATUS.get(status_code, "error"),
            "status_code": status_code}
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def api_exception_handler(exc, context):
    """DRF exception handler producing the API.md envelope for every error."""
    if isinstance(exc, ApplicationError):
        body = envelope(exc.message, status_code=exc.status_code, code=exc.code, errors=exc.errors,
                        extra=exc.extra)
        # e.g. Retry-After on a 503 (registry.broker.BrokerUnavailable)
        return Response(body, status=exc.status_code, headers=getattr(exc, "headers", None))
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            errors = {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        else:
            errors = {"non_field_errors": list(exc.messages)}
        message = "; ".join(f"{k}: {' '.join(v)}" if k != "non_field_errors" else " ".join(v)
                            for k, v in errors.items())
        return Response(envelope(message, status_code=400, errors=errors), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's 500 handling and logging take over

    status_code = response.status_code
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        parts = []
        for field, messages in errors.items():
            text = " ".join(messages)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        message = "; ".join(parts) or "Invalid input."
        code = "invalid_parameters"
    else:
        detail = getattr(exc, "detail", None)
        message = " ".join(_flatten(detail)) if detail is not None else str(exc)
        errors = None
        code = _CODE_BY_STATUS.get(status_code)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            code = "unauthorized"
    response.data = envelope(message, status_code=status_code, code=code, errors=errors)
    return response
