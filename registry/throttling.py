"""DRF throttles backed by the Django cache (Redis in every real deployment).

Rates come from ``REGISTRY_THROTTLE_ANON``, ``REGISTRY_THROTTLE_USER`` and
``REGISTRY_THROTTLE_WRITE``; a rate of ``off`` disables that throttle.
"""
from rest_framework import throttling

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class _Optional:
    def get_rate(self):
        # A missing/None rate means "off" rather than DRF's ImproperlyConfigured.
        return self.THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        return super().allow_request(request, view)


class AnonRateThrottle(_Optional, throttling.AnonRateThrottle):
    scope = "anon"


class UserRateThrottle(_Optional, throttling.UserRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None  # anonymous callers are counted by AnonRateThrottle
        return super().get_cache_key(request, view)


class WriteRateThrottle(_Optional, throttling.SimpleRateThrottle):
    """A stricter budget for writes, per user (or per IP when anonymous)."""

    scope = "write"

    def get_cache_key(self, request, view):
        if request.method in SAFE_METHODS:
            return None
        if request.user and request.user.is_authenticated:
            ident = request.user.pk
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
