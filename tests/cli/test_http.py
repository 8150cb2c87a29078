"""The HTTP layer: retries (connect errors, 429 with Retry-After, 503 on reads only), errors that
read like the server's message, and the real registry's throttling."""
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from cws.api import ApiError, FeatureMissing, Registry
from cws.errors import LocalError
from tests.amis.test_throttling import rates  # noqa: F401 — the throttle-rates fixture


class Script:
    """A transport answering from a list of responses (the registry's envelope shapes), and
    recording what the client sent and how long it was told to sleep."""

    def __init__(self, *responses):
        self.responses, self.requests, self.sleeps = list(responses), [], []

    def __call__(self, request):
        self.requests.append(request)
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, **kwargs) -> Registry:
        return Registry("http://registry.test", transport=httpx.MockTransport(self), sleep=self.sleeps.append,
                        **{"retries": 3, "max_wait": 60, **kwargs})


def envelope(status, message, **extra):
    return httpx.Response(status, json={"detail": message, "message": message, "status_code": status, **extra})


def throttled(retry_after: str):
    return httpx.Response(429, headers={"Retry-After": retry_after}, json={
        "detail": "Request was throttled.", "message": "Request was throttled.", "code": "rate_limited",
        "status_code": 429})


def test_429_waits_as_long_as_retry_after_says_then_retries():
    date = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    script = Script(throttled("2"), throttled(date), httpx.Response(200, json={"count": 0, "results": []}))
    assert script.client().get("/amis/") == {"count": 0, "results": []}
    assert script.sleeps[0] == 2 and 28 <= script.sleeps[1] <= 30
    assert len(script.requests) == 3


def test_429_longer_than_the_patience_is_reported_with_the_wait():
    script = Script(throttled("600"))
    with pytest.raises(ApiError) as caught:
        script.client().post("/amis/x/ratings/", {"rating": 4})
    assert caught.value.exit_code == 1 and caught.value.status == 429
    assert caught.value.message == "the registry is throttling requests: Request was throttled."
    assert caught.value.hint == "retry after 600 s" and script.sleeps == []


def test_503_is_retried_for_reads_but_never_for_writes():
    unavailable = httpx.Response(503, json={"message": "AWS did not answer", "status_code": 503})
    read = Script(unavailable, httpx.Response(200, json={"ok": True}))
    assert read.client().get("/ami/status/x") == {"ok": True}
    write = Script(unavailable)
    with pytest.raises(ApiError, match=r"the registry failed \(HTTP 503\): AWS did not answer"):
        write.client().post("/ami/create", {})
    assert len(write.requests) == 1  # a create may have started: never sent twice


def test_connect_errors_are_retried_then_reported_as_local():
    script = Script(httpx.ConnectError("[Errno 111] Connection refused"), httpx.Response(200, json={"a": 1}))
    assert script.client().post("/amis/x/downloads", {"region": "us-east-1"}) == {"a": 1}
    assert script.sleeps == [0.5]
    with socket.socket() as s:  # a port nobody listens on: the real connection error
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = Registry(f"http://127.0.0.1:{port}", retries=1, sleep=lambda s: None)
    with pytest.raises(LocalError) as caught:
        api.get("/amis/")
    assert caught.value.exit_code == 2
    assert caught.value.message == f"cannot reach the registry at http://127.0.0.1:{port} (connection refused)"


def test_error_messages_carry_what_the_server_said():
    script = Script(
        envelope(401, "Invalid token.", code="unauthorized"),
        envelope(409, "cannot submit an AMI whose status is 'approved'", code="invalid_state",
                 current_status="approved"),
        envelope(422, "no AMI available for template 'X' in eu-west-2", code="no_ami_available",
                 tried=[{"tier": "direct_mapping", "outcome": "skipped", "reason": "no mapping"},
                        {"tier": "fallback_script", "outcome": "skipped", "reason": "ami_required"}]),
        envelope(404, "Not found."),
        httpx.Response(404, text="<html>Page not found</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, text="<html>hello</html>", headers={"content-type": "text/html"}),
    )
    api = script.client(token="stale")
    with pytest.raises(ApiError) as e401:
        api.get("/me")
    assert (e401.value.message, e401.value.hint) == ("the registry refused your token: Invalid token.",
                                                     "run `cws login`")
    with pytest.raises(ApiError) as e409:
        api.post("/amis/x/submit")
    assert e409.value.details == ["current status: approved"]
    with pytest.raises(ApiError) as e422:
        api.get("/ami/resolve/X")
    assert e422.value.details == ["direct_mapping: skipped — no mapping", "fallback_script: skipped — ami_required"]
    with pytest.raises(FeatureMissing, match="this registry does not offer claim tags yet"):
        api.get("/me/claim", feature="claim tags")
    with pytest.raises(FeatureMissing):  # a DEBUG server's HTML 404 page: no route either
        api.get("/me/claim", feature="claim tags")
    with pytest.raises(LocalError, match="answered GET /me with text/html, not the registry's JSON"):
        api.get("/me")
    assert script.requests[0].headers["Authorization"] == "Token stale"


# --- against the real registry --------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_client_honours_the_registrys_retry_after(live, cli, rates):  # noqa: F811
    rates(anon="1/sec")
    cli("ami", "browse", "--json").ok()
    waited = cli("ami", "browse", "--json").ok()  # throttled once, waited Retry-After (1 s), then served
    assert waited.json()["count"] == 0
    assert "the registry answered 429; retrying in 1 s" in waited.stderr

    rates(anon="1/hour")  # a new budget and window: one request spends it
    cli("ami", "browse", "--json").ok()
    refused = cli("ami", "browse", env={"CWS_MAX_RETRY_WAIT": "5"})
    assert refused.exit_code == 1
    assert "Error: the registry is throttling requests: Request was throttled." in refused.stderr
    assert "Hint: retry after 3" in refused.stderr  # ~3600 s: far beyond the 5 s the client may wait


def test_unreachable_registry(cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = cli("--url", f"http://127.0.0.1:{port}", "ami", "info", "ami-0123456789abcdef0")
    assert result.exit_code == 2
    assert f"Error: cannot reach the registry at http://127.0.0.1:{port} (connection refused)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
