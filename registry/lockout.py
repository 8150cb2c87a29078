"""Login throttling / lockout (cache based; chosen over django-axes: no extra tables or middleware).

Every failed authentication — API token, admin and browser login alike, since all go through
``django.contrib.auth.authenticate`` — increments two counters in the shared cache (Redis):
one per (username, client IP) and one per client IP. While a counter is over its limit,
``LockoutModelBackend`` refuses to check any password for it (even a correct one) until the
window expires; a successful login clears the (username, IP) counter. Limits:
``REGISTRY_LOGIN_MAX_FAILURES`` (default 5) per username+IP and ``REGISTRY_LOGIN_MAX_FAILURES_PER_IP``
(default 50) per IP within ``REGISTRY_LOGIN_LOCKOUT_SECONDS`` (default 900).
"""
from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied


def _ip(request) -> str:
    return (request.META.get("REMOTE_ADDR", "") if request is not None else "") or "-"


def _keys(username: str, request) -> tuple[str, str]:
    # Hash the username: cache keys must not carry arbitrary user input (length, spaces).
    digest = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    ip = _ip(request)
    return f"lockout:user:{digest}:{ip}", f"lockout:ip:{ip}"


def _limits() -> tuple[int, int, int]:
    return (int(getattr(settings, "REGISTRY_LOGIN_MAX_FAILURES", 5)),
            int(getattr(settings, "REGISTRY_LOGIN_MAX_FAILURES_PER_IP", 50)),
            int(getattr(settings, "REGISTRY_LOGIN_LOCKOUT_SECONDS", 900)))


def login_locked_out(*, username: str, request) -> int:
    """Seconds until ``username`` may try again from this client, or 0 when not locked out."""
    per_user, per_ip, window = _limits()
    user_key, ip_key = _keys(username, request)
    if (cache.get(user_key) or 0) >= per_user or (cache.get(ip_key) or 0) >= per_ip:
        ttl = getattr(cache, "ttl", None)
        remaining = [ttl(k) for k in (user_key, ip_key)] if ttl else []
        return max([r for r in remaining if isinstance(r, int) and r > 0] or [window])
    return 0


def login_failure_record(*, username: str, request) -> None:
    """Count one failed login (called from the ``user_login_failed`` signal)."""
    _, _, window = _limits()
    for key in _keys(username, request):
        # add() starts the window at the first failure; incr() keeps its expiry.
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=window)


def login_failures_clear(*, username: str, request) -> None:
    cache.delete(_keys(username, request)[0])


class LockoutModelBackend(ModelBackend):
    """ModelBackend that refuses to authenticate while the caller is locked out."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field(), "")
        if login_locked_out(username=username or "", request=request):
            # PermissionDenied stops every backend and still fires user_login_failed (audited).
            raise PermissionDenied("too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            login_failures_clear(username=username or "", request=request)
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
