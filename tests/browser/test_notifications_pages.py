"""The notification pages in a real browser (Chromium), on a 375 px phone and by keyboard only:
subscribe to a template, add a webhook pointing at a local receiver, send a test event and read
the delivery log. Saves docs/screenshots/notifications*.png."""
import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from playwright.sync_api import expect

from notifications.models import Subscription, Webhook
from tests.browser.conftest import PHONE
from tests.factories import TemplateFactory
from tests.notifications.conftest import receiver  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@override_settings(REGISTRY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True)  # the receiver is on loopback
def test_phone_keyboard_subscribe_add_webhook_and_test_it(new_page, screenshot, receiver):  # noqa: F811
    get_user_model().objects.create_user("researcher", email="researcher@example.org", password="a-long-pass-phrase")
    TemplateFactory(slug="genomics", name="Genomics")
    page = new_page(viewport=PHONE)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password").fill("a-long-pass-phrase")
    page.get_by_label("Password").press("Enter")
    page.goto("/me/notifications/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    assert no_horizontal_scroll(page)

    # Keyboard only: open the subscribe form, choose the template, pick events, submit.
    summary = page.get_by_text("Subscribe to a template, an AMI or a lineage")
    summary.focus()
    page.keyboard.press("Enter")
    page.locator("#id_template").focus()
    page.keyboard.press("ArrowDown")  # the first real template
    page.get_by_label("Copy to a region completed").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Subscribe", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Subscribed to genomics.")).to_be_visible()
    sub = Subscription.objects.get()
    assert sub.template.slug == "genomics" and "copy.completed" in sub.event_types and sub.email
    assert no_horizontal_scroll(page)
    screenshot(page, "notifications-phone", full_page=True)

    # Add a webhook and send it a test event, still from the keyboard.
    page.get_by_role("link", name="Add a webhook").focus()
    page.keyboard.press("Enter")
    page.locator("#id_name").fill("lab ci")
    page.locator("#id_url").fill(receiver.url)
    page.locator("#id_url").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook lab ci")
    hook = Webhook.objects.get()
    expect(page.locator("#webhook-secret")).to_have_text(hook.secret)
    page.get_by_role("button", name="Send test event").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Test event sent")).to_be_visible()
    expect(page.locator("table")).to_contain_text("webhook.test")
    expect(page.locator("table")).to_contain_text("Succeeded")
    assert receiver.requests[0].json()["type"] == "webhook.test"
    assert no_horizontal_scroll(page)
    screenshot(page, "notifications-webhook-phone", full_page=True)
