"""The registry's REST API over HTTP (httpx): authentication, retries, and errors that read like
the server's message.

Retries: a request that never reached the server (connection refused, connect timeout) is
retried with backoff whatever its method; a read timeout only for idempotent methods; 429 (any
method: throttled requests are not processed) and 503 (idempotent methods only: a POST may have
done something before the server gave up) honour ``Retry-After`` up to ``max_wait`` seconds.
``CWS_RETRIES`` and ``CWS_MAX_RETRY_WAIT`` change the defaults (3 retries, 60 s).
"""
from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from cws import __version__
from cws.errors import LocalError, Refused

API_PREFIX = "/api/v1"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# The generic message the registry gives for a path it has no route for (API.md: unknown paths
# under /api/ answer the envelope). A 404 carrying it on a known feature's path means the
# registry predates that feature; any other 404 message is about the thing asked for.
NO_ROUTE_MESSAGES = frozenset({"Not found.", "Not Found", ""})


def quote_segment(value: str) -> str:
    """One path segment (template names contain spaces, parentheses, even slashes)."""
    return quote(str(value), safe="")


class ApiError(Refused):
    """The registry answered with an error status (exit 1)."""

    def __init__(self, message: str, *, status: int, body: dict, details: list[str] | None = None,
                 hint: str = ""):
        super().__init__(message, details=details, hint=hint, payload={**body, "status_code": status})
        self.status = status
        self.body = body
        self.code = body.get("code", "")


class FeatureMissing(ApiError):
    """The registry has no such endpoint (yet)."""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _envelope(response: httpx.Response) -> dict:
    """The error envelope (or any JSON object) of a response; {} when the body is not JSON."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"detail": body}


def _tried_lines(tried) -> list[str]:
    lines = []
    for entry in tried or []:
        if isinstance(entry, dict):
            where = f" [{entry['region']}]" if entry.get("region") else ""
            lines.append(f"{entry.get('tier', '?')}{where}: {entry.get('outcome', '?')} — {entry.get('reason', '')}")
    return lines


def _field_lines(errors) -> list[str]:
    if not isinstance(errors, dict):
        return []
    return [f"{field}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
            for field, msgs in errors.items()]


class Registry:
    """A client for one registry URL, with an optional token."""

    def __init__(self, url: str, *, token: str | None = None, region: str | None = None,
                 timeout: float = 30.0, retries: int | None = None, max_wait: float | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 notify: Callable[[str], None] | None = None):
        self.url = url.rstrip("/")
        self.token = token
        self.retries = int(os.environ.get("CWS_RETRIES", 3)) if retries is None else retries
        self.max_wait = float(os.environ.get("CWS_MAX_RETRY_WAIT", 60)) if max_wait is None else max_wait
        self.sleep = sleep
        self.notify = notify or (lambda message: None)
        headers = {"User-Agent": f"cws-registry-client/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        if region:
            # What the CloudWorkstation client sends; endpoints that take a region fall back to it.
            headers["X-AWS-Region"] = region
        self.http = httpx.Client(base_url=self.url + API_PREFIX, headers=headers, transport=transport,
                                 timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def close(self) -> None:
        self.http.close()

    # --- verbs --------------------------------------------------------------------------------
    def get(self, path: str, *, params: dict | None = None, what: str = "", feature: str = "") -> dict:
        return self.request("GET", path, params=params, what=what, feature=feature)

    def post(self, path: str, body: dict | None = None, *, what: str = "", feature: str = "") -> dict:
        return self.request("POST", path, json=body if body is not None else {}, what=what, feature=feature)

    def patch(self, path: str, body: dict, *, what: str = "") -> dict:
        return self.request("PATCH", path, json=body, what=what)

    def delete(self, path: str, *, what: str = "") -> dict:
        return self.request("DELETE", path, what=what)

    def request(self, method: str, path: str, *, params: dict | None = None, json: dict | None = None,
                what: str = "", feature: str = "") -> dict:
        """Send one request; return the JSON body ({} for 204). Raises ``ApiError`` for an error
        status (``FeatureMissing`` when ``feature`` names an endpoint the registry lacks),
        ``LocalError`` when the registry cannot be reached or is not a registry."""
        params = {k: v for k, v in (params or {}).items() if v not in (None, "", False)}
        response = self._send(method, path, params=params, json=json)
        if response.status_code == 204 or not response.content:
            if response.is_success:
                return {}
        if response.is_success:
            try:
                body = response.json()
            except ValueError:
                raise LocalError(
                    f"the server at {self.url} answered {method} {path} with "
                    f"{response.headers.get('content-type', 'no content type')}, not the registry's JSON",
                    hint="check the registry URL (`cws config get url`)") from None
            return body if isinstance(body, dict) else {"results": body}
        raise self._error(method, path, response, what=what, feature=feature)

    # --- plumbing -----------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < self.retries:
                    self.sleep(min(8.0, 0.5 * 2 ** attempt))
                    attempt += 1
                    continue
                raise LocalError(f"cannot reach the registry at {self.url} ({_reason(exc)})",
                                 hint="check the URL (`cws config get url`, `--url`), or start the registry "
                                      "(`make run`)") from None
            except httpx.TimeoutException:
                if method in IDEMPOTENT and attempt < self.retries:
                    attempt += 1
                    continue
                raise LocalError(f"the registry at {self.url} did not answer {method} {path} in time",
                                 hint="try again; the work may have been done (check with `cws ami operations`)"
                                 if method not in IDEMPOTENT else "try again later") from None
            except httpx.HTTPError as exc:
                raise LocalError(f"cannot talk to the registry at {self.url}: {_reason(exc)}") from None
            retryable = response.status_code == 429 or (response.status_code == 503 and method in IDEMPOTENT)
            if retryable and attempt < self.retries:
                wait = _retry_after(response)
                wait = min(8.0, 0.5 * 2 ** attempt) if wait is None else wait
                if wait <= self.max_wait:
                    self.notify(f"the registry answered {response.status_code}; retrying in {wait:g} s")
                    self.sleep(wait)
                    attempt += 1
                    continue
            return response

    def _error(self, method: str, path: str, response: httpx.Response, *, what: str, feature: str) -> ApiError:
        status = response.status_code
        body = _envelope(response)
        message = str(body.get("message") or body.get("detail") or response.reason_phrase or f"HTTP {status}")
        details: list[str] = []
        hint = ""
        if status == 404 and feature and (not body or message in NO_ROUTE_MESSAGES):
            return FeatureMissing(f"this registry does not offer {feature} yet ({method} {API_PREFIX}{path} "
                                  f"answered 404)", status=status, body=body)
        if status == 401:
            if self.token:
                message = f"the registry refused your token: {message}"
            hint = "run `cws login`"
        elif status == 404:
            if what:
                message = f"{message.rstrip('.')}: {what}"
        elif status == 409:
            if body.get("current_status"):
                details.append(f"current status: {body['current_status']}")
        elif status == 422:
            details.extend(_tried_lines(body.get("tried")))
            if body.get("fallback_chain") and not details:
                details.append("tiers tried: " + ", ".join(body["fallback_chain"]))
        elif status == 429:
            wait = _retry_after(response)
            message = f"the registry is throttling requests: {message}"
            hint = f"retry after {wait:g} s" if wait is not None else "retry later"
        elif status >= 500:
            message = f"the registry failed (HTTP {status}): {message}"
        if status == 400:
            fields = _field_lines(body.get("errors"))
            # The envelope's message already joins short field errors; list them when it does not.
            details.extend(line for line in fields if line.split(": ", 1)[-1] not in message)
        return ApiError(message, status=status, body=body, details=details, hint=hint)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text or type(exc).__name__


def all_pages(api: Registry, path: str, *, params: dict | None = None, limit: int = 1000) -> list[dict]:
    """Every result of a paginated list (following ``?page=``), at most ``limit``."""
    results: list[dict] = []
    page = 1
    while len(results) < limit:
        body = api.get(path, params={**(params or {}), "page": page, "page_size": 100})
        results.extend(body.get("results", []))
        if not body.get("next"):
            break
        page += 1
    return results[:limit]
