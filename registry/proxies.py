"""Proxy headers are believed only when they come from a configured proxy.

``X-Forwarded-Proto`` decides whether Django considers a request secure (``SECURE_PROXY_SSL_HEADER``),
and ``X-Forwarded-For`` names the client whose address the lockout, the throttles and the audit
trail record. Any client can send both, so ``TrustedProxyMiddleware`` (first in ``MIDDLEWARE``)
removes every ``X-Forwarded-*`` header unless the connection comes from an address in
``REGISTRY_TRUSTED_PROXIES`` (addresses or CIDR networks; default loopback, where a local reverse
proxy connects from). From a trusted proxy, ``REMOTE_ADDR`` becomes the right-most address of
``X-Forwarded-For`` that is not itself a trusted proxy — the first hop nobody we trust vouches beyond.
"""
from __future__ import annotations

import functools
import ipaddress

from django.conf import settings

FORWARDED_PREFIXES = ("HTTP_X_FORWARDED_", "HTTP_FORWARDED")


@functools.lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def is_trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(getattr(settings, "REGISTRY_TRUSTED_PROXIES", ()))))


def _client_from_forwarded_for(value: str) -> str | None:
    hops = [h.strip() for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return None  # a malformed chain names nobody we can believe
        if not is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else None


class TrustedProxyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if is_trusted_proxy(meta.get("REMOTE_ADDR", "")):
            client = _client_from_forwarded_for(meta.get("HTTP_X_FORWARDED_FOR", ""))
            if client:
                meta["REMOTE_ADDR"] = client
        else:
            for key in [k for k in meta if k.startswith(FORWARDED_PREFIXES)]:
                del meta[key]
        return self.get_response(request)
