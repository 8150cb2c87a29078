"""Who is told, and who is not: authors without subscribing, launchers of a revoked AMI,
subscribers by email and webhook — and never anyone who cannot see the AMI.

Emails are checked in Django's locmem outbox (recipients, subject, reason text).
"""
import pytest
from django.core import mail

from amis.models import AMI, Download
from amis.services import ami_approve, ami_deprecate, ami_reject, ami_revoke
from notifications.models import EmailNotification, NotificationSettings, Subscription, WebhookDelivery
from notifications.services import subscription_create
from ratings.services import rating_hide, rating_submit
from registry.models import Community, CommunityMembership
from sharing.models import Share
from tests.factories import AMIFactory
from tests.notifications.conftest import user_webhook

pytestmark = pytest.mark.django_db


def outbox_to(address):
    return [m for m in mail.outbox if address in m.to]


def subscribe(user, *, template=None, ami=None, types=("ami.approved",), email=True, webhook=None):
    return subscription_create(user=user, target_type="template" if template else "ami", template=template, ami=ami,
                               event_types=list(types), email=email, webhook=webhook)


def test_rejection_tells_the_author_with_the_moderators_reason(committed, pending_ami, moderator, user):
    with committed():
        ami_reject(ami=pending_ami, moderator=moderator, reason="The root volume is not encrypted.")
    [message] = mail.outbox
    assert message.to == ["alice@example.org"]
    assert message.subject == "[CWS Registry] AMI “genomics-1” was rejected"
    assert "Reason given: The root volume is not encrypted." in message.body
    assert "You receive this email because you own this AMI." in message.body
    assert f"/amis/{pending_ami.pk}/" in message.body
    html = message.alternatives[0][0]
    assert "The root volume is not encrypted." in html and "Unsubscribe" in html
    assert EmailNotification.objects.get().state == EmailNotification.State.SENT


def test_moderators_are_not_emailed_about_their_own_decision(committed, pending_ami, moderator):
    subscribe(moderator, template=pending_ami.template, types=["ami.approved"])
    with committed():
        ami_approve(ami=pending_ami, moderator=moderator)
    assert [m.to for m in mail.outbox] == [["alice@example.org"]]


def test_hidden_review_tells_its_author(committed, other_user, moderator):
    ami = AMIFactory()
    rating, _ = rating_submit(ami=ami, user=other_user, rating=1, review="rubbish")
    mail.outbox.clear()
    with committed():
        rating_hide(rating=rating, moderator=moderator, reason="Personal attack")
    [message] = outbox_to("bob@example.org")
    assert "was hidden by a moderator" in message.subject
    assert "Reason given: Personal attack" in message.body
    assert "because you wrote this review" in message.body


def test_new_review_tells_the_ami_owner(committed, user, other_user):
    ami = AMIFactory(creator=user, name="ml-box")
    with committed():
        rating_submit(ami=ami, user=other_user, rating=5, review="Great image")
    [message] = mail.outbox
    assert message.to == ["alice@example.org"] and message.subject == "[CWS Registry] New review of “ml-box”"
    assert "bob rated the AMI \"ml-box\" 5/5" in message.body and "Great image" in message.body


def test_revocation_tells_everyone_who_recorded_a_launch(committed, moderator, make_user):
    owner, l1, l2, bystander = (make_user(n) for n in ("owner", "launcher1", "launcher2", "bystander"))
    ami = AMIFactory(creator=owner, name="old-ml")
    for who in (l1, l2, l1):
        Download.objects.create(ami=ami, region="us-east-1", user=who)
    Download.objects.create(ami=ami, region="us-east-1", user=None)  # anonymous launch: nobody to tell
    with committed():
        ami_revoke(ami=ami, moderator=moderator, reason="Compromised package")
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == ["launcher1@example.org", "launcher2@example.org", "owner@example.org"]
    [to_launcher] = outbox_to("launcher1@example.org")
    assert "because you recorded a launch of this AMI" in to_launcher.body
    assert "Compromised package" in to_launcher.body and "REVOKED" in to_launcher.body


def test_revocation_of_a_private_entry_reaches_only_those_who_could_see_it(committed, moderator, make_user):
    owner, grantee, former = make_user("owner"), make_user("grantee"), make_user("former")
    ami = AMIFactory(creator=owner, visibility=AMI.Visibility.PRIVATE)
    Share.objects.create(ami=ami, grantee_type="user", grantee="grantee", user=grantee)
    for who in (grantee, former):  # `former` launched it once, then lost access
        Download.objects.create(ami=ami, region="us-east-1", user=who)
    with committed():
        ami_revoke(ami=ami, moderator=moderator, reason="bad")
    assert sorted(m.to[0] for m in mail.outbox) == ["grantee@example.org", "owner@example.org"]


def test_private_ami_approval_never_leaks_to_template_subscribers(committed, moderator, make_user, template,
                                                                  receiver, allow_private):
    owner, watcher, grantee = make_user("owner"), make_user("watcher"), make_user("grantee")
    ami = AMIFactory(creator=owner, template=template, status=AMI.Status.PENDING_REVIEW,
                     visibility=AMI.Visibility.PRIVATE, name="secret-project")
    Share.objects.create(ami=ami, grantee_type="user", grantee="grantee", user=grantee)
    subscribe(watcher, template=template, webhook=user_webhook(watcher, receiver.url))
    subscribe(grantee, template=template)
    with committed():
        ami_approve(ami=ami, moderator=moderator)
    assert sorted(m.to[0] for m in mail.outbox) == ["grantee@example.org", "owner@example.org"]
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_template_subscribers_hear_about_public_approvals_by_email_and_webhook(
        committed, moderator, make_user, pending_ami, receiver, allow_private):
    watcher = make_user("watcher")
    hook = user_webhook(watcher, receiver.url)
    sub = subscribe(watcher, template=pending_ami.template, types=["ami.approved", "ami.revoked"], webhook=hook)
    with committed():
        ami_approve(ami=pending_ami, moderator=moderator)
    [message] = outbox_to("watcher@example.org")
    assert message.subject == "[CWS Registry] AMI “genomics-1” was approved"
    assert "because you subscribed to template “genomics”" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [request] = receiver.requests
    assert request.json()["type"] == "ami.approved"
    assert EmailNotification.objects.get(user=watcher).subscription == sub


def test_subscription_event_types_filter(committed, make_user, pending_ami, moderator):
    watcher = make_user("watcher")
    subscribe(watcher, ami=pending_ami, types=["ami.revoked"])
    with committed():
        ami_approve(ami=pending_ami, moderator=moderator)
    assert outbox_to("watcher@example.org") == []


def test_one_email_per_user_whatever_the_reasons(committed, user, pending_ami, moderator):
    subscribe(user, template=pending_ami.template)
    subscribe(user, ami=pending_ami)
    with committed():
        ami_approve(ami=pending_ami, moderator=moderator)
    [message] = mail.outbox
    assert "because you own this AMI" in message.body  # the strongest reason is named


def test_switches_turn_off_unsubscribed_notifications(committed, user, pending_ami, moderator):
    NotificationSettings.objects.create(user=user, own_activity_email=False)
    with committed():
        ami_reject(ami=pending_ami, moderator=moderator, reason="no")
    assert mail.outbox == []


def test_the_owner_is_not_emailed_about_their_own_deprecation(committed, user):
    ami = AMIFactory(creator=user)
    with committed():
        ami_deprecate(ami=ami, user=user, reason="old")
    assert mail.outbox == []


def test_community_webhooks_carry_only_public_events(committed, moderator, make_user, template, receiver,
                                                     allow_private):
    admin = make_user("labadmin")
    lab = Community.objects.create(slug="lab-x", name="Lab X")
    CommunityMembership.objects.create(community=lab, user=admin, role="admin")
    hook = user_webhook(admin, receiver.url)
    hook.owner_user, hook.owner_community = None, lab
    hook.save()
    Subscription.objects.create(user=admin, target_type="template", template=template, event_types=["ami.approved"],
                                email=False, webhook=hook)
    shared = AMIFactory(template=template, status=AMI.Status.PENDING_REVIEW, visibility=AMI.Visibility.PRIVATE)
    Share.objects.create(ami=shared, grantee_type="community", grantee="lab-x", community=lab)
    public = AMIFactory(template=template, status=AMI.Status.PENDING_REVIEW, name="public-one")
    with committed():
        ami_approve(ami=shared, moderator=moderator)
        ami_approve(ami=public, moderator=moderator)
    assert [r.json()["data"]["ami"]["name"] for r in receiver.requests] == ["public-one"]


def test_someone_elses_webhook_on_my_subscription_is_never_used(committed, make_user, pending_ami, moderator,
                                                                receiver, allow_private):
    watcher, stranger = make_user("watcher"), make_user("stranger")
    Subscription.objects.create(user=watcher, target_type="ami", ami=pending_ami, event_types=["ami.approved"],
                                email=False, webhook=user_webhook(stranger, receiver.url))
    with committed():
        ami_approve(ami=pending_ami, moderator=moderator)
    assert receiver.requests == []
