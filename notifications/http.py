"""The one HTTP client for webhooks: POST to a user-supplied URL without becoming an SSRF proxy.

A webhook URL is chosen by a user, and the worker sending it sits inside our network. So, at
delivery time (DNS answers change — checking at creation proves nothing):

- the host is resolved and **every** address it resolves to must be public (``is_global``):
  loopback, private (RFC 1918, unique-local), link-local (which holds the cloud metadata service
  169.254.169.254 and fd00:ec2::254), CGNAT, multicast, reserved and unspecified addresses are
  refused, IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry;
- the connection goes to the address that was checked (no second lookup: DNS rebinding), with
  the original host name in ``Host`` and, for HTTPS, in SNI and certificate verification;
- redirects are not followed blindly: only 307/308 (which keep the method and body) up to
  ``MAX_REDIRECTS``, each target checked like the first URL; other 3xx answers are failures.

``REGISTRY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` turns the address check off (development, tests);
``REGISTRY_WEBHOOK_ALLOWED_NETWORKS`` lets chosen private networks through (an internal receiver).
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

MAX_REDIRECTS = 3
EXCERPT_BYTES = 2048
EXCERPT_CHARS = 1000


class RefusedDestination(Exception):
    """The URL (or a redirect) points somewhere webhooks may not go. Never retried."""


@dataclass
class PostResult:
    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""
    final_url: str = ""
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """Worth trying again later: 5xx, 408, 429 and network errors; not 4xx, refusals, redirects."""
        if self.refused:
            return False
        if self.status_code is None:
            return True
        return self.status_code >= 500 or self.status_code in (408, 429)


def _address_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` is not a public address (None when it is)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, flag in (("loopback", ip.is_loopback), ("link-local (cloud metadata)", ip.is_link_local),
                       ("unspecified", ip.is_unspecified), ("private", ip.is_private),
                       ("multicast", ip.is_multicast), ("reserved", ip.is_reserved)):
        if flag:
            return kind
    return None if ip.is_global else "non-public"


def _allowed_networks() -> list:
    return [ipaddress.ip_network(n.strip(), strict=False)
            for n in getattr(settings, "REGISTRY_WEBHOOK_ALLOWED_NETWORKS", []) if n.strip()]


def address_refusal(ip_text: str) -> str | None:
    """The reason ``ip_text`` is refused under the current settings, or None when allowed."""
    ip = ipaddress.ip_address(ip_text.split("%", 1)[0])  # drop an IPv6 zone id
    if settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return None
    if any(ip in network for network in _allowed_networks()):
        return None
    kind = _address_kind(ip)
    if kind is None:
        return None
    return f"{ip} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address"


def url_problem(url: str) -> str | None:
    """A syntactic reason to refuse ``url`` as a webhook URL (no DNS lookup), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "only http:// and https:// URLs are allowed"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed (the signature authenticates the registry)"
    if port == 0:
        return "port 0 is not a valid port"
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "not a valid URL"
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None  # a host name: resolved and checked at delivery time
    refusal = address_refusal(parts.hostname)
    return f"refused: {refusal}" if refusal else None


def resolve_checked(host: str, port: int) -> str:
    """Resolve ``host`` and return an address to connect to; RefusedDestination if any is refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise OSError(f"{host} has no addresses")
    for address in addresses:
        refusal = address_refusal(address)
        if refusal:
            raise RefusedDestination(f"refused: {host} resolves to {refusal}")
    return addresses[0]


def _post_once(url: str, body: bytes, headers: dict, timeout: float):
    """One POST to ``url`` pinned to its checked address. Returns (status, location, excerpt)."""
    problem = url_problem(url)
    if problem:
        raise RefusedDestination(problem if problem.startswith("refused") else f"refused: {problem}")
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = resolve_checked(parts.hostname, port)
    host_header = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port:
        host_header += f":{parts.port}"
    pool_kwargs = dict(timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False, maxsize=1)
    if https:
        pool = urllib3.HTTPSConnectionPool(address, port, server_hostname=parts.hostname,
                                           assert_hostname=parts.hostname, cert_reqs="CERT_REQUIRED", **pool_kwargs)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, **pool_kwargs)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        response = pool.urlopen("POST", path, body=body, headers={**headers, "Host": host_header},
                                redirect=False, retries=False, preload_content=False, assert_same_host=False)
        try:
            excerpt = response.read(EXCERPT_BYTES, decode_content=True) or b""
        finally:
            response.release_conn()
        return response.status, response.headers.get("Location", ""), excerpt
    finally:
        pool.close()


def safe_post(url: str, *, body: bytes, headers: dict, timeout: float | None = None) -> PostResult:
    """POST ``body`` to ``url`` under the rules above. Never raises: the outcome is in the result."""
    timeout = float(timeout if timeout is not None else settings.REGISTRY_WEBHOOK_TIMEOUT_SECONDS)
    started = time.monotonic()

    def result(**kwargs) -> PostResult:
        return PostResult(latency_ms=int((time.monotonic() - started) * 1000), final_url=current, **kwargs)

    current = url
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            status, location, excerpt = _post_once(current, body, headers, timeout)
            text = excerpt.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
            if status in (307, 308) and location:
                current = urljoin(current, location)
                continue
            if 300 <= status < 400:
                return result(status_code=status, excerpt=text, refused=True,
                              error=f"redirect ({status}) not followed: only 307/308 keep the POST; "
                                    f"configure the final URL" + (f" ({location})" if location else ""))
            return result(status_code=status, excerpt=text)
        return result(status_code=None, refused=True, error=f"more than {MAX_REDIRECTS} redirects")
    except RefusedDestination as exc:
        return result(status_code=None, refused=True,
                      error=str(exc) + ("" if current == url else f" (redirected to {current})"))
    except (OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
        return result(status_code=None, error=f"{type(exc).__name__}: {exc}"[:1000])
