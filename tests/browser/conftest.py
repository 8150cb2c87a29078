"""Real-browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's
live_server (a threaded WSGI server in this process, on the test PostgreSQL database).

AWS is in-process moto (``mock_aws`` patches botocore for every thread, so the live server's
requests reach it too) and Celery is eager: the wizard's copy tasks run inside the request and
in the progress page's polls, as in ``make run`` without a worker.
"""
import os
import tempfile
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that this is intended (the loop only drives the browser).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
# NOTE: a plain test run must not redraw the committed docs images (every run would show them as
# changed). Screenshots go to a temporary folder unless REGISTRY_SCREENSHOTS names a folder —
# `make screenshots` sets it to docs/screenshots to refresh the docs deliberately.
SCREENSHOTS = (REPO / os.environ["REGISTRY_SCREENSHOTS"] if os.environ.get("REGISTRY_SCREENSHOTS")
               else Path(tempfile.gettempdir()) / f"registry-screenshots-{os.getuid()}")
DESKTOP = {"width": 1200, "height": 820}
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure_chromium.sh (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """``new_page(viewport=DESKTOP)`` → a page in a fresh context (own cookies) on the live server."""
    contexts = []

    def make(viewport=DESKTOP):
        context = browser.new_context(viewport=viewport, base_url=live_server.url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    """``screenshot(page, "browse")`` → ``$SCREENSHOTS/browse.png`` (viewport only, to stay small).

    ``SCREENSHOTS`` is a temporary folder unless ``REGISTRY_SCREENSHOTS`` (relative to the
    repository, or absolute) asks for another one, e.g. ``docs/screenshots``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = False):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    return take


@pytest.fixture
def moderators_group(transactional_db):
    """Transactional tests flush the data migrations' rows: make sure the group exists."""
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name="moderators")[0]
