"""Atom feeds (parsed with the stdlib XML parser, required Atom elements checked), the
unsubscribe link from emails, and the notification pages."""
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from amis.models import AMI
from amis.services import ami_reject
from notifications.models import NotificationSettings, Subscription, Webhook, WebhookDelivery
from notifications.tokens import unsubscribe_token_make
from tests.factories import AMIFactory, TemplateFactory

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


def parse_atom(resp):
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(resp.content)
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):  # RFC 4287 4.1.1
        assert root.find(f"{ATOM}{required}") is not None and root.find(f"{ATOM}{required}").text, required
    entries = root.findall(f"{ATOM}entry")
    for entry in entries:  # RFC 4287 4.1.2: id, title, updated; a link since there is no content
        for required in ("id", "title", "updated"):
            assert entry.find(f"{ATOM}{required}").text, required
        assert entry.find(f"{ATOM}link").get("href").startswith("http")
        assert entry.find(f"{ATOM}author/{ATOM}name").text
    return root, entries


def test_approvals_feed_lists_public_approvals_newest_first(client):
    now = timezone.now()
    template = TemplateFactory(slug="genomics", name="Genomics")
    AMIFactory(name="older", approved_at=now - timedelta(days=2), template=template)
    AMIFactory(name="newer", approved_at=now - timedelta(hours=1), version="1.2")
    AMIFactory(name="private-one", approved_at=now, visibility=AMI.Visibility.PRIVATE)
    AMIFactory(name="community-one", approved_at=now, visibility=AMI.Visibility.COMMUNITY)
    AMIFactory(name="pending", status=AMI.Status.PENDING_REVIEW)
    AMIFactory(name="revoked", approved_at=now, status=AMI.Status.REVOKED)
    root, entries = parse_atom(client.get("/feeds/approvals.atom"))
    assert [e.find(f"{ATOM}title").text for e in entries] == ["newer 1.2", "older"]
    assert entries[0].find(f"{ATOM}id").text.startswith("urn:uuid:")
    assert "/amis/" in entries[0].find(f"{ATOM}link").get("href")


def test_template_feed(client):
    genomics = TemplateFactory(slug="genomics", name="Genomics")
    other = TemplateFactory(slug="other", name="Other")
    AMIFactory(name="g1", template=genomics, approved_at=timezone.now())
    AMIFactory(name="o1", template=other, approved_at=timezone.now())
    for ref in ("genomics", "Genomics"):
        root, entries = parse_atom(client.get(f"/feeds/templates/{ref}.atom"))
        assert [e.find(f"{ATOM}title").text for e in entries] == ["g1"]
        assert "Genomics" in root.find(f"{ATOM}title").text
    assert client.get("/feeds/templates/nope.atom").status_code == 404


def test_empty_feed_is_still_valid(client):
    root, entries = parse_atom(client.get("/feeds/approvals.atom"))
    assert entries == []


# --- email unsubscribe ------------------------------------------------------------------------

def test_unsubscribe_link_from_an_email_works_without_login(committed, pending_ami, moderator, user):
    with committed():
        ami_reject(ami=pending_ami, moderator=moderator, reason="no")
    [message] = mail.outbox
    link = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert link in message.body
    path = "/" + link.split("/", 3)[3]
    anonymous = Client(enforce_csrf_checks=True)
    page = anonymous.get(path)
    assert page.status_code == 200 and b"emails about your own AMIs and reviews" in page.content
    assert NotificationSettings.objects.filter(user=user).first() is None  # GET changes nothing
    done = anonymous.post(path, {"List-Unsubscribe": "One-Click"})  # RFC 8058: no CSRF token
    assert done.status_code == 200 and b"Done" in done.content
    assert NotificationSettings.objects.get(user=user).own_activity_email is False
    assert anonymous.post(path).status_code == 200  # a second click is harmless


def test_subscription_unsubscribe_keeps_its_webhook(user, template):
    hook = Webhook.objects.create(owner_user=user, name="ci", url="https://x.example.org/", secret="s")
    with_hook = Subscription.objects.create(user=user, target_type="template", template=template,
                                            event_types=["ami.approved"], webhook=hook)
    email_only = Subscription.objects.create(user=user, target_type="template", template=template,
                                             event_types=["ami.revoked"])
    client = Client()
    for sub in (with_hook, email_only):
        token = unsubscribe_token_make(kind="sub", user_id=user.pk, subscription_id=sub.pk)
        assert client.post(f"/notifications/unsubscribe/{token}/").status_code == 200
    with_hook.refresh_from_db()
    assert with_hook.email is False and with_hook.webhook == hook
    assert not Subscription.objects.filter(pk=email_only.pk).exists()


def test_forged_unsubscribe_token_is_refused(user):
    token = unsubscribe_token_make(kind="own", user_id=user.pk)
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    resp = Client().post(f"/notifications/unsubscribe/{forged}/")
    assert resp.status_code == 400 and b"not valid" in resp.content
    assert not NotificationSettings.objects.exists()


# --- pages --------------------------------------------------------------------------------------

@pytest.fixture
def browser_client(user):
    client = Client()
    client.force_login(user)
    return client


def test_notifications_page_requires_login(client):
    resp = client.get("/me/notifications/")
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


def test_subscribe_and_unsubscribe_on_the_page(browser_client, user, template):
    page = browser_client.get("/me/notifications/?template=genomics")
    assert page.status_code == 200 and b"Subscribe to a template, an AMI or a lineage" in page.content
    resp = browser_client.post("/me/notifications/subscriptions/", {
        "target_type": "template", "template": "genomics", "event_types": ["ami.approved", "ami.revoked"],
        "email": "on"})
    assert resp.status_code == 302
    sub = Subscription.objects.get(user=user)
    assert sub.event_types == ["ami.approved", "ami.revoked"] and sub.email
    assert b"Genomics" in browser_client.get("/me/notifications/").content
    bad = browser_client.post("/me/notifications/subscriptions/", {"target_type": "ami", "ami": "ami-00000000",
                                                                   "event_types": ["ami.approved"], "email": "on"})
    assert bad.status_code == 400 and b"No AMI you can see has this id." in bad.content
    assert browser_client.post(f"/me/notifications/subscriptions/{sub.pk}/delete/").status_code == 302
    assert not Subscription.objects.exists()


def test_webhook_pages_add_test_and_log(browser_client, user, receiver, allow_private, committed):
    resp = browser_client.post("/me/notifications/webhooks/new/", {"name": "lab ci", "url": receiver.url})
    assert resp.status_code == 302 and resp["Location"].endswith("?secret=show")
    hook = Webhook.objects.get(owner_user=user)
    page = browser_client.get(resp["Location"])
    assert page.status_code == 200 and hook.secret.encode() in page.content and b"Send test event" in page.content
    with committed():
        assert browser_client.post(f"/me/notifications/webhooks/{hook.pk}/test/").status_code == 302
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.get().state == "succeeded"
    page = browser_client.get(f"/me/notifications/webhooks/{hook.pk}/")
    assert b"webhook.test" in page.content and b"ms</td>" in page.content
    assert browser_client.post(f"/me/notifications/webhooks/{hook.pk}/disable/").status_code == 302
    hook.refresh_from_db()
    assert not hook.is_active
    bad = browser_client.post("/me/notifications/webhooks/new/", {"name": "x", "url": "ftp://example.org/"})
    assert bad.status_code == 400 and b"Only http:// and https:// URLs are allowed" in bad.content


def test_someone_elses_webhook_page_is_404(browser_client, other_user):
    hook = Webhook.objects.create(owner_user=other_user, name="theirs", url="https://x.example.org/", secret="s")
    assert browser_client.get(f"/me/notifications/webhooks/{hook.pk}/").status_code == 404
    assert browser_client.post(f"/me/notifications/webhooks/{hook.pk}/delete/").status_code == 404
    assert Webhook.objects.filter(pk=hook.pk).exists()
