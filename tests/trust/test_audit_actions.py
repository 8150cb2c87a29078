"""Every listed state change writes exactly one audit event (through the real API)."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from registry.models import AuditEvent
from tests.conftest import client_for
from tests.trust.conftest import openssh_public

pytestmark = pytest.mark.django_db


class Recorder:
    """Runs one step and asserts it added exactly one event, with the expected action."""

    def __init__(self):
        self.seen = []

    def step(self, action, call, status):
        before = AuditEvent.objects.count()
        last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        resp = call()
        assert resp.status_code == status, (action, resp.status_code, getattr(resp, "content", b"")[:300])
        new = list(AuditEvent.objects.filter(id__gt=last).values_list("action", flat=True))
        assert new == [action], (action, new)
        assert AuditEvent.objects.count() == before + 1
        self.seen.append(action)
        return resp


def test_each_action_writes_exactly_one_event(aws, user, other_user, moderator, ed_key):
    rec = Recorder()
    owner, rater, mod = client_for(user), client_for(other_user), client_for(moderator)
    image, image2 = aws.image(), aws.image()

    def register(ami_id, name):
        return owner.post("/api/v1/amis/", {"ami_id": ami_id, "region": "us-east-1", "name": name,
                                            "category": "ML"}, format="json")

    rec.step("ami.register", lambda: register(image, "one"), 201)
    rec.step("ami.register", lambda: register(image2, "two"), 201)
    rec.step("ami.update", lambda: owner.patch(f"/api/v1/amis/{image}", {"description": "new"}, format="json"), 200)
    rec.step("ami.submit", lambda: owner.post(f"/api/v1/amis/{image}/submit", {"public": True}, format="json"), 200)
    rec.step("ami.submit", lambda: owner.post(f"/api/v1/amis/{image2}/submit", {"public": True}, format="json"), 200)
    rec.step("ami.reject", lambda: mod.post(f"/api/v1/amis/{image2}/reject", {"reason": "no"}, format="json"), 200)
    rec.step("ami.approve", lambda: mod.post(f"/api/v1/amis/{image}/approve", format="json"), 200)
    share = rec.step("share.create", lambda: owner.post(f"/api/v1/amis/{image}/shares/", {
        "grantee_type": "account", "grantee": "444455556666"}, format="json"), 201).json()
    rec.step("share.delete", lambda: owner.delete(f"/api/v1/amis/{image}/shares/{share['id']}"), 204)
    rec.step("rating.create", lambda: rater.post(f"/api/v1/amis/{image}/ratings/", {"rating": 4}, format="json"), 201)
    rating = rec.step("rating.replace", lambda: rater.post(f"/api/v1/amis/{image}/ratings/", {"rating": 2},
                                                           format="json"), 200).json()
    rec.step("rating.hide", lambda: mod.post(f"/api/v1/amis/{image}/ratings/{rating['id']}/hide",
                                             {"reason": "spam"}, format="json"), 200)
    rec.step("rating.delete", lambda: rater.delete(f"/api/v1/amis/{image}/ratings/mine"), 204)
    key = rec.step("key.add", lambda: owner.post("/api/v1/me/keys/", {"public_key": openssh_public(ed_key)},
                                                 format="json"), 201).json()
    rec.step("key.revoke", lambda: owner.delete(f"/api/v1/me/keys/{key['id']}"), 204)
    rec.step("ami.deprecate", lambda: owner.post(f"/api/v1/amis/{image}/deprecate", {"reason": "old"},
                                                 format="json"), 200)
    rec.step("ami.revoke", lambda: mod.post(f"/api/v1/amis/{image}/revoke", {"reason": "bad"}, format="json"), 200)
    # A refused request writes nothing.
    before = AuditEvent.objects.count()
    assert mod.post(f"/api/v1/amis/{image}/approve", format="json").status_code == 409
    assert AuditEvent.objects.count() == before
    assert len(rec.seen) == 17


def test_trust_actions_write_exactly_one_event(user, moderator):
    from registry.models import Community, CommunityMembership
    from tests.factories import AMIFactory

    rec = Recorder()
    inst = Community.objects.create(slug="uni", name="Uni", kind="institution")
    CommunityMembership.objects.create(community=inst, user=user)
    ami = AMIFactory(status="pending_review", scan_status="failed")
    mod = client_for(moderator)
    rec.step("policy.update", lambda: mod.put("/api/v1/communities/uni/policy", {"policy": {"min_rating": 3}},
                                              format="json"), 200)
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    rec.step("scan.exception", lambda: mod.post(f"/api/v1/amis/{ami.ami_id}/scan-exception", {
        "reason": "accepted risk", "expires_at": expires}, format="json"), 201)
    rec.step("ami.approve", lambda: mod.post(f"/api/v1/amis/{ami.ami_id}/approve", format="json"), 200)
    rec.step("auth.login_failed", lambda: client_for(None).post("/api/v1/auth/token", {
        "username": "alice", "password": "wrong"}), 400)
    # Another name: a second failure of the same (username, IP) in one window is only counted.
    rec.step("auth.login_failed", lambda: Client().post("/admin/login/", {"username": "bob", "password": "x"}), 200)
    rec.step("user.export", lambda: client_for(user).get("/api/v1/me/export"), 200)
    rec.step("user.erase", lambda: client_for(user).delete("/api/v1/me", {"reviews": "anonymise"}, format="json"), 204)
    assert rec.seen == ["policy.update", "scan.exception", "ami.approve", "auth.login_failed", "auth.login_failed",
                        "user.export", "user.erase"]
