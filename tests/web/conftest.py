"""Fixtures for the browser-page tests (Django test client; HTML assertions)."""
import pytest
from django.test import Client, override_settings


@pytest.fixture
def login(db):
    """``login(user)`` → a Django test client with that user's session (None → anonymous)."""

    def make(user=None, *, csrf_checks: bool = False) -> Client:
        client = Client(enforce_csrf_checks=csrf_checks)
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def fast_polls():
    """Eager mode: a waiting operation's next step is due at once, so a poll advances it."""
    with override_settings(REGISTRY_POLL_SECONDS=0):
        yield


def text(response) -> str:
    return response.content.decode()
