"""Rate limits backed by the Django cache (Redis in every real deployment).

DRF throttles for the API: rates come from ``REGISTRY_THROTTLE_ANON``, ``REGISTRY_THROTTLE_USER``,
and ``REGISTRY_THROTTLE_WRITE``; a rate of ``off`` disables that throttle.
The login rate (per client IP, POSTs only) lives in ``registry.login_limits``, which also guards
the browser and admin login pages, so every way in has the same budget.

Counting is one atomic Redis INCR per request in a window that starts at the first request
(``registry.cache.cache_incr_window``) — DRF's own throttles read a history list, append and write
it back, which loses updates under concurrency and let callers 15–20 % past the limit. With the
cache down every throttle fails open: reads keep being served from PostgreSQL.
"""
from __future__ import annotations

from rest_framework import throttling
from rest_framework.settings import api_settings

from registry.cache import cache_incr_window, cache_ttl

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class AtomicWindowThrottle:
    """A fixed-window counter instead of DRF's read-modify-write history; fails open."""

    def get_rate(self):
        # A missing/None rate means "off" rather than DRF's ImproperlyConfigured. Read the current
        # settings (DRF's class attribute is frozen at import, so overrides would never apply).
        return (api_settings.DEFAULT_THROTTLE_RATES or {}).get(self.scope)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        count = cache_incr_window(self.key, self.duration)
        if count is None or count <= self.num_requests:
            return True  # unknown (cache down) fails open
        self._wait = cache_ttl(self.key) or self.duration
        return False

    def wait(self):
        return getattr(self, "_wait", None)


class AnonRateThrottle(AtomicWindowThrottle, throttling.AnonRateThrottle):
    scope = "anon"


class UserRateThrottle(AtomicWindowThrottle, throttling.UserRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None  # anonymous callers are counted by AnonRateThrottle
        return super().get_cache_key(request, view)


class WriteRateThrottle(AtomicWindowThrottle, throttling.SimpleRateThrottle):
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

