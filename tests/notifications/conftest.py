"""Fixtures for notifications: a real local HTTP receiver (http.server in a thread, port 0), the
setting that lets webhooks reach it, and a way to run what commits announce."""
from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field

import pytest

from notifications.models import Webhook
from tests.factories import AMIFactory, TemplateFactory


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next planned (status, body, headers), then ``default``."""

    url: str = ""
    requests: list = field(default_factory=list)
    plan: list = field(default_factory=list)
    default: tuple = (200, b"ok", {})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, *responses) -> None:
        """Queue answers: ints (status) or (status, body[, headers]) tuples."""
        for r in responses:
            self.plan.append((r, b"", {}) if isinstance(r, int) else (r + ({},) if len(r) == 2 else r))

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.requests) >= n:
                return self.requests
            time.sleep(0.05)
        raise AssertionError(f"expected {n} requests, got {len(self.requests)}")


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with state.lock:
                state.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, reply, headers = state.plan.pop(0) if state.plan else state.default
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):  # keep the test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_private(settings):
    """Webhooks may reach loopback (the local receiver). Off by default, as in production."""
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    return settings


@pytest.fixture
def fast_retries(settings):
    settings.REGISTRY_WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.REGISTRY_WEBHOOK_MAX_ATTEMPTS = 4
    return settings


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): ...`` runs the block's on-commit callbacks (the audit announcements,
    hence the eager fan-out tasks and their sending) as a real commit would — repeatedly, since
    a callback may register more (fan-out → deliveries)."""
    from contextlib import contextmanager

    @contextmanager
    def run():
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            yield callbacks

    return run


@pytest.fixture
def template(db):
    return TemplateFactory(slug="genomics", name="Genomics")


@pytest.fixture
def pending_ami(db, user, template):
    """A pending-review, public-requested entry of ``user`` for ``template``."""
    from amis.models import AMI

    return AMIFactory(creator=user, template=template, status=AMI.Status.PENDING_REVIEW, name="genomics-1")


def user_webhook(user, url, **kwargs) -> Webhook:
    return Webhook.objects.create(owner_user=user, name=kwargs.pop("name", "ci"), url=url,
                                  secret=kwargs.pop("secret", "whsec_test-secret"), created_by=user, **kwargs)
