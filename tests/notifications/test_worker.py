"""Notifications through a REAL Celery worker (subprocess) on the real Redis broker: a moderator's
approval commits → the audit announcement queues the fan-out → the worker fans out, emails the
owner (console backend: in the worker's log) and POSTs the signed CloudEvent to a local receiver
that first answers 500 — the worker retries after the backoff countdown and succeeds."""
import pytest

from amis.models import AMI
from amis.services import ami_approve
from notifications.models import EmailNotification, Subscription, WebhookDelivery
from notifications.payloads import SIGNATURE_HEADER, signature_valid
from tests.aws.test_worker import Workers, broker, wait_for  # noqa: F401 (broker is a fixture)
from tests.factories import AMIFactory, TemplateFactory, UserFactory
from tests.notifications.conftest import user_webhook

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class NotificationWorkers(Workers):
    def env(self) -> dict:
        env = super().env()
        env.update({"REGISTRY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true", "REGISTRY_WEBHOOK_RETRY_BASE_SECONDS": "1",
                    "REGISTRY_SITE_URL": "https://registry.example.org"})
        return env


@pytest.fixture
def worker(broker, tmp_path):  # noqa: F811
    pool = NotificationWorkers("http://127.0.0.1:9", tmp_path, broker)  # no AWS call is made
    pool.start("notify")
    yield pool
    pool.stop_all()


def test_approval_reaches_webhook_and_email_through_a_real_worker(worker, receiver, moderators_group):
    owner = UserFactory(username="owner", email="owner@example.org")
    moderator = UserFactory(username="mod")
    moderator.groups.add(moderators_group)
    template = TemplateFactory(slug="genomics", name="Genomics")
    ami = AMIFactory(creator=owner, template=template, status=AMI.Status.PENDING_REVIEW, name="genomics-2")
    hook = user_webhook(owner, receiver.url, secret="whsec_worker")
    Subscription.objects.create(user=owner, target_type="template", template=template,
                                event_types=["ami.approved"], email=False, webhook=hook)
    receiver.respond((500, b"try later"))

    ami_approve(ami=ami, moderator=moderator)  # commits: nothing runs in this process from here

    requests = receiver.wait_for(2, timeout=45)
    assert all(signature_valid("whsec_worker", r.body, r.headers[SIGNATURE_HEADER.lower()]) for r in requests)
    assert [r.headers["x-registry-attempt"] for r in requests] == ["1", "2"]
    body = requests[1].json()
    assert body["type"] == "ami.approved" and body["source"] == "https://registry.example.org"
    assert body["data"]["ami"]["url"] == f"https://registry.example.org/amis/{ami.pk}/"
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(state="succeeded").first(), timeout=20,
                        what="the delivery row to succeed", log=lambda: worker.log("notify"))
    assert delivery.attempts == 2
    assert [a.status_code for a in delivery.attempt_log.order_by("number")] == [500, 200]
    email = wait_for(lambda: EmailNotification.objects.filter(state="sent").first(), timeout=20,
                     what="the owner's email", log=lambda: worker.log("notify"))
    assert email.user == owner
    log = worker.log("notify")  # the console email backend printed the message there
    assert "To: owner@example.org" in log and 'The AMI "genomics-2" was approved by the moderators' in log, log


@pytest.fixture
def moderators_group(transactional_db):
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name="moderators")[0]
