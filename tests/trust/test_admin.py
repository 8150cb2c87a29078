"""Moderators see signatures, scan findings and exceptions in admin, and can act on scans."""
import pytest
from django.test import Client

from amis.models import AMI, AMISignature, ScanException, ScanResult
from registry.models import AuditEvent
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db


def test_ami_admin_page_shows_trust_information(moderator):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW)
    AMISignature.objects.create(ami=ami, signer_username="alice", key_fingerprint="SHA256:abc", signature="x",
                                valid=True)
    ScanResult.objects.create(ami=ami, status="failed", security_score=7,
                              findings=[{"id": "root_volume_encrypted", "severity": "high",
                                         "message": "Root volume snapshot is not encrypted"}])
    client = Client()
    client.force_login(moderator)
    page = client.get(f"/admin/amis/ami/{ami.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    # Findings read as a list of explained findings, not raw JSON ids.
    assert "SHA256:abc" in html and "Root volume snapshot is not encrypted" in html and "alice" in html
    assert "<li><strong>" in html


def test_scan_exception_admin_action(moderator):
    ami = AMIFactory(status=AMI.Status.PENDING_REVIEW, scan_status="failed")
    client = Client()
    client.force_login(moderator)
    resp = client.post("/admin/amis/ami/", {"action": "scan_exception", "_selected_action": [str(ami.pk)],
                                            "apply": "1", "reason": "Known false positive"})
    assert resp.status_code == 302
    exception = ScanException.objects.get(ami=ami)
    assert exception.reason == "Known false positive" and exception.created_by == moderator
    assert AuditEvent.objects.filter(action="scan.exception").count() == 1


def test_publisher_keys_are_read_only_in_admin(moderator, user, ed_key):
    from amis.signatures import publisher_key_add
    from tests.trust.conftest import openssh_public

    key = publisher_key_add(user=user, public_key=openssh_public(ed_key))
    client = Client()
    client.force_login(moderator)
    assert client.get("/admin/registry/publisherkey/").status_code == 200
    assert client.get("/admin/registry/publisherkey/add/").status_code == 403
    assert key.fingerprint in client.get(f"/admin/registry/publisherkey/{key.pk}/change/").content.decode()
