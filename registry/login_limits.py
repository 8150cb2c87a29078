"""The login budget: POSTs per client IP to the token API, the site's and the admin's login page.

The rate is ``REGISTRY_THROTTLE_LOGIN`` (default ``20/min``; ``off`` disables it). Over it, a
request gets 429 with ``Retry-After`` and is not even looked at, so a flood neither reaches the
password hasher nor the audit table: the first refusal of a window writes one
``auth.login_throttled`` event, the rest are only counted. Counting and failing open on a cache
outage are ``registry.throttling``'s.
"""
from __future__ import annotations

import functools

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import throttling

from registry.audit import audit_record
from registry.cache import cache_incr_window
from registry.errors import envelope
from registry.throttling import AtomicWindowThrottle


class LoginRateThrottle(AtomicWindowThrottle, throttling.SimpleRateThrottle):
    """Login attempts (POST) per client IP, whichever page or endpoint they come through."""

    scope = "login"

    def get_cache_key(self, request, view):
        if request.method != "POST":
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.META.get("REMOTE_ADDR") or "-"}

    def allow_request(self, request, view):
        allowed = super().allow_request(request, view)
        if not allowed and self._first_refusal():
            # One event per window and address, however many attempts follow (the flood lever).
            audit_record(actor=None, action="auth.login_throttled", target_type="auth.user",
                         after={"limit": self.rate, "window_seconds": self.duration})
        return allowed

    def _first_refusal(self) -> bool:
        return cache_incr_window(f"{self.key}:refused", self.duration) in (None, 1)


def login_rate_limited(view):
    """Decorate a browser/admin login view: over the login rate a POST gets 429 + Retry-After."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        throttle = LoginRateThrottle()
        if throttle.allow_request(request, None):
            return view(request, *args, **kwargs)
        wait = int(throttle.wait() or throttle.duration)
        message = f"Too many login attempts from your address; try again in {max(1, -(-wait // 60))} minute(s)."
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse(envelope(message, status_code=429), status=429)
        else:
            response = render(request, "registry/errors/429.html", {"message": message}, status=429)
        response["Retry-After"] = str(wait)
        return response

    return wrapper

