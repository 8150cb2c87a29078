"""Login throttling / lockout (cache based; chosen over django-axes: no extra tables or middleware).

Every failed authentication — API token, admin and browser login alike, since all go through
``django.contrib.auth.authenticate`` — increments two counters in the shared cache (Redis):
one per (username, client IP) and one per client IP. While a counter is over its limit,
``LockoutModelBackend`` refuses to check any password for it (even a correct one) until the
window expires; a successful login clears the (username, IP) counter.

Limits: ``REGISTRY_LOGIN_MAX_FAILURES`` (default 5) per username+IP and
``REGISTRY_LOGIN_MAX_FAILURES_PER_IP`` (default 200) per IP within ``REGISTRY_LOGIN_LOCKOUT_SECONDS``
(default 900). The per-IP budget is deliberately far above one account's: many people share one
address (a campus NAT), and a budget near the per-account one would let anybody behind it lock
everybody else out by failing a few logins under many names. The per-IP lock only stops spraying.

The counters are derived state: with Redis down the lockout fails open (nobody is locked out,
nothing is counted) rather than turning every login into a 500 (``registry.cache``).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from registry.cache import cache_delete, cache_get_many, cache_incr_window, cache_ttl


def _ip(request) -> str:
    return (request.META.get("REMOTE_ADDR", "") if request is not None else "") or "-"


def _keys(username: str, request) -> tuple[str, str]:
    # Hash the username: cache keys must not carry arbitrary user input (length, spaces).
    digest = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    ip = _ip(request)
    return f"lockout:user:{digest}:{ip}", f"lockout:ip:{ip}"


def _limits() -> tuple[int, int, int]:
    return (int(getattr(settings, "REGISTRY_LOGIN_MAX_FAILURES", 5)),
            int(getattr(settings, "REGISTRY_LOGIN_MAX_FAILURES_PER_IP", 200)),
            int(getattr(settings, "REGISTRY_LOGIN_LOCKOUT_SECONDS", 900)))


def login_locked_out(*, username: str, request) -> int:
    """Seconds until ``username`` may try again from this client, or 0 when not locked out."""
    per_user, per_ip, window = _limits()
    user_key, ip_key = _keys(username, request)
    counts = cache_get_many([user_key, ip_key])  # {} when the cache is down: fail open
    locked = [key for key, limit in ((user_key, per_user), (ip_key, per_ip)) if (counts.get(key) or 0) >= limit]
    if not locked:
        return 0
    return max((cache_ttl(key) or window) for key in locked)


def lockout_message(seconds: int) -> str:
    """What a locked-out caller is told (the same words in the API, the site and the admin)."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many failed login attempts; try again in {minutes} minute{'s' if minutes != 1 else ''}."


@dataclass(frozen=True)
class FailureCount:
    """One failure counted: the new counts (None when the cache is down) and the limits."""

    user_failures: int | None
    ip_failures: int | None
    per_user: int
    per_ip: int
    window: int

    @property
    def first_in_window(self) -> bool:
        return self.user_failures in (None, 1)  # unknown (cache down) counts as first: audit it

    @property
    def locks_user(self) -> bool:
        return self.user_failures == self.per_user

    @property
    def locks_ip(self) -> bool:
        return self.ip_failures == self.per_ip


def login_failure_record(*, username: str, request) -> FailureCount:
    """Count one failed login (called from the ``user_login_failed`` signal).

    The returned counts let the caller aggregate the audit trail: the first failure of a window,
    and the one that engages a lock, are worth an event; the ones in between are not.
    """
    per_user, per_ip, window = _limits()
    user_key, ip_key = _keys(username, request)
    return FailureCount(user_failures=cache_incr_window(user_key, window),
                        ip_failures=cache_incr_window(ip_key, window),
                        per_user=per_user, per_ip=per_ip, window=window)


def login_failures_clear(*, username: str, request) -> None:
    cache_delete(_keys(username, request)[0])


class LockoutModelBackend(ModelBackend):
    """ModelBackend that refuses to authenticate while the caller is locked out."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field(), "")
        if login_locked_out(username=username or "", request=request):
            # PermissionDenied stops every backend and still fires user_login_failed (counted).
            raise PermissionDenied("too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            login_failures_clear(username=username or "", request=request)
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
