"""The admin as moderators meet it: the queue on the index, lifecycle buttons on an AMI's page
(the same services as the API), a readable AMI list, findings as a list, names not ids."""
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from amis.models import AMI, ScanException, ScanResult
from ratings.models import RatingReport
from ratings.services import rating_report, rating_submit
from registry.models import AuditEvent
from tests.factories import AMIFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mod_client(moderator):
    client = Client()
    client.force_login(moderator)
    return client


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_index_opens_on_the_queue_with_counts_and_links(mod_client, moderator):
    AMIFactory(status=AMI.Status.PENDING_REVIEW)
    AMIFactory(status=AMI.Status.PENDING_REVIEW, scan_status="failed")
    AMIFactory(status=AMI.Status.REJECTED, scan_status="failed")   # not waiting for anyone
    soon = AMIFactory()
    ScanException.objects.create(ami=soon, reason="vendor fix due", expires_at=timezone.now() + timedelta(days=2))
    ScanException.objects.create(ami=soon, reason="later", expires_at=timezone.now() + timedelta(days=60))
    ami = AMIFactory()
    review, _ = rating_submit(ami=ami, user=UserFactory(username="writer"), rating=1, review="spam spam")
    rating_report(rating=review, user=UserFactory(username="reader"), reason="Spam.")

    page = mod_client.get("/admin/").content.decode()

    assert page.index('id="moderation-queue"') < page.index('class="app-amis')
    for key, count, link in (("pending_review", 2, "/admin/amis/ami/?status__exact=pending_review"),
                             ("reported_reviews", 1, "/admin/ratings/ratingreport/?status__exact=open"),
                             ("failed_scans", 1, "/admin/amis/ami/?scan_status__exact=failed"),
                             ("expiring_exceptions", 1, "/admin/amis/scanexception/?expiry=soon")):
        row = page[page.index(f'id="queue-{key}"'):]
        row = row[:row.index("</tr>")]
        assert f">{count}</a>" in row and link in row, key
    # Each link opens the list it counts.
    reports = mod_client.get("/admin/ratings/ratingreport/?status__exact=open").content.decode()
    assert "spam spam" in reports and "writer" in reports and "reader" in reports
    expiring = mod_client.get("/admin/amis/scanexception/?expiry=soon").content.decode()
    assert "vendor fix due" in expiring and "later" not in expiring


def test_buttons_on_the_ami_page_approve(mod_client, moderator):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW)
    page = mod_client.get(f"/admin/amis/ami/{ami.pk}/change/").content.decode()
    assert 'id="moderate-approve"' in page and 'id="moderate-reject"' in page and 'id="moderate-revoke"' not in page
    response = mod_client.post(f"/admin/amis/ami/{ami.pk}/moderate/approve/")
    assert response.status_code == 302 and _messages(response) == ["Approved 1 AMI."]
    ami.refresh_from_db()
    assert ami.status == AMI.Status.APPROVED and ami.approved_by == moderator
    assert AuditEvent.objects.filter(action="ami.approve", target_id=str(ami.pk)).count() == 1
    # Approved now: revoke is offered instead.
    page = mod_client.get(f"/admin/amis/ami/{ami.pk}/change/").content.decode()
    assert 'id="moderate-revoke"' in page and 'id="moderate-approve"' not in page


def test_reject_button_asks_for_a_paragraph_with_a_cancel_link(mod_client):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW)
    form = mod_client.get(f"/admin/amis/ami/{ami.pk}/moderate/reject/").content.decode()
    assert 'rows="8"' in form and f'href="/admin/amis/ami/{ami.pk}/change/"' in form and 'id="reason-cancel"' in form
    assert mod_client.post(f"/admin/amis/ami/{ami.pk}/moderate/reject/", {"reason": ""}).status_code == 200
    ami.refresh_from_db()
    assert ami.status == AMI.Status.PENDING_REVIEW
    reason = "Please list the installed Bioconductor packages.\n\nAnd the R version."
    response = mod_client.post(f"/admin/amis/ami/{ami.pk}/moderate/reject/", {"reason": reason})
    assert _messages(response) == ["Rejected 1 AMI."]
    ami.refresh_from_db()
    assert ami.status == AMI.Status.REJECTED and ami.status_reason == reason


def test_the_author_sees_the_reason_without_double_punctuation(mod_client, user):
    ami = AMIFactory(creator=user, status=AMI.Status.PENDING_REVIEW)
    mod_client.post(f"/admin/amis/ami/{ami.pk}/moderate/reject/", {"reason": "Describe the packages."})
    owner = Client()
    owner.force_login(user)
    page = owner.get(f"/amis/{ami.pk}/").content.decode()
    assert "Describe the packages." in page and "packages.." not in page


def test_refused_decision_says_why(mod_client):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW, scan_status="failed")
    ScanResult.objects.create(ami=ami, status="failed", security_score=0, findings=[])
    response = mod_client.post(f"/admin/amis/ami/{ami.pk}/moderate/approve/")
    assert len(_messages(response)) == 1 and "scan" in _messages(response)[0]
    ami.refresh_from_db()
    assert ami.status == AMI.Status.PENDING_REVIEW


def test_bulk_messages_are_worded_alike(mod_client):
    a, b = AMIFactory(status=AMI.Status.PENDING_REVIEW), AMIFactory(status=AMI.Status.PENDING_REVIEW)
    response = mod_client.post("/admin/amis/ami/", {"action": "reject", "_selected_action": [str(a.pk), str(b.pk)],
                                                    "apply": "Reject", "reason": "No description."})
    assert _messages(response) == ["Rejected 2 AMIs."]


def test_ami_list_is_compact_and_findings_are_a_list(mod_client):
    ami = AMIFactory(name="PyTorch box", scan_status="passed", security_score=7)
    ScanResult.objects.create(ami=ami, status="passed", security_score=7, checks=["imdsv2_required"], findings=[
        {"id": "imdsv2_required", "severity": "medium", "message": "IMDSv2 is not required.", "scanner": "x"}])
    listing = mod_client.get("/admin/amis/ami/").content.decode()
    header = listing[listing.index("<thead>"):listing.index("</thead>")]
    assert header.count("<th") <= 8  # the checkbox and seven short columns
    assert "Passed · 7.0/10" in listing
    page = mod_client.get(f"/admin/amis/ami/{ami.pk}/change/").content.decode()
    assert "<li><strong>IMDSv2 not required</strong> (medium, −2 points): IMDSv2 is not required.</li>" in page
    assert "&quot;imdsv2_required&quot;" not in page and '"severity"' not in page


def test_ratings_and_audit_name_the_ami_and_the_user(mod_client):
    ami = AMIFactory(name="RStudio Server")
    rating_submit(ami=ami, user=UserFactory(username="statsfan"), rating=4, review="Nice")
    ratings = mod_client.get("/admin/ratings/rating/").content.decode()
    assert "RStudio Server" in ratings and "statsfan" in ratings
    audit = mod_client.get("/admin/registry/auditevent/").content.decode()
    assert "4★ on RStudio Server by statsfan" in audit
    assert not RatingReport.objects.exists()
