"""GDPR export and erasure: everything exported, erasure keeps aggregates exact, both audited."""
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from amis.lineages import channel_move
from amis.models import AMI, AMISignature, Channel, Download, Lineage
from amis.signatures import publisher_key_add
from notifications.models import Subscription
from ratings.models import Rating
from ratings.services import rating_submit
from registry.models import AuditEvent, Community, CommunityMembership, PublisherKey
from sharing.models import Share
from tests.conftest import client_for
from tests.factories import AMIFactory
from tests.trust.conftest import openssh_public

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(user, other_user, ed_key):
    """alice owns two AMIs (approved, draft), rated bob's AMI, downloaded, shared, has a key."""
    mine = AMIFactory(creator=user, name="alice-approved")
    draft = AMIFactory(creator=user, status=AMI.Status.DRAFT, name="alice-draft")
    bobs = AMIFactory(creator=other_user)
    rating_submit(ami=bobs, user=user, rating=1, review="meh")
    rating_submit(ami=bobs, user=get_user_model().objects.create_user("carol", password="x" * 12), rating=5)
    for _ in range(3):
        Download.objects.create(ami=bobs, region="us-east-1", user=user)
    bobs.download_count = 3
    bobs.save(update_fields=["download_count"])
    Share.objects.create(ami=mine, grantee_type="user", grantee="bob", user=other_user, created_by=user)
    Share.objects.create(ami=bobs, grantee_type="user", grantee="alice", user=user, created_by=other_user)
    inst = Community.objects.create(slug="uni", name="Uni", kind="institution")
    CommunityMembership.objects.create(community=inst, user=user)
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    return {"mine": mine, "draft": draft, "bobs": bobs}


def test_export_contains_everything_and_is_audited(user, world):
    resp = client_for(user).get("/api/v1/me/export")
    assert resp.status_code == 200
    data = resp.json()
    assert data["profile"]["username"] == "alice" and data["profile"]["email"] == "alice@example.org"
    assert {a["name"] for a in data["amis"]} == {"alice-approved", "alice-draft"}
    assert [r["review"] for r in data["ratings"]] == ["meh"]
    assert len(data["downloads"]) == 3
    assert [s["grantee"] for s in data["shares_made"]] == ["bob"]
    assert [s["ami__ami_id"] for s in data["shares_received"]] == [world["bobs"].ami_id]
    assert [m["community"] for m in data["memberships"]] == ["uni"]
    assert len(data["publisher_keys"]) == 1
    assert "key.add" in {e["action"] for e in data["audit_events"]}
    assert AuditEvent.objects.filter(action="user.export", actor=user).count() == 1
    assert client_for(None).get("/api/v1/me/export").status_code == 401


def test_erase_anonymising_reviews(user, world):
    bobs = world["bobs"]
    before = AMI.objects.get(pk=bobs.pk)
    token_key = Token.objects.get_or_create(user=user)[0].key
    resp = client_for(user).delete("/api/v1/me", {"reviews": "anonymise"}, format="json")
    assert resp.status_code == 204
    assert not get_user_model().objects.filter(username="alice").exists()
    assert not Token.objects.filter(key=token_key).exists() and not PublisherKey.objects.exists()
    # Review kept, anonymised; aggregates unchanged and exact.
    kept = Rating.objects.get(ami=bobs, rating=1)
    assert kept.user is None and kept.review == "meh"
    after = AMI.objects.get(pk=bobs.pk)
    assert (after.rating_count, after.rating_sum, after.rating_avg) == (before.rating_count, before.rating_sum,
                                                                        before.rating_avg) == (2, 6, 3)
    # Downloads de-linked, counts exact.
    assert Download.objects.filter(ami=bobs).count() == 3 == after.download_count
    assert not Download.objects.filter(user__isnull=False).exists()
    # AMIs: approved revoked, draft deleted; share alice received is gone.
    assert AMI.objects.get(pk=world["mine"].pk).status == "revoked"
    assert not AMI.objects.filter(pk=world["draft"].pk).exists()
    assert not Share.objects.filter(grantee="alice").exists()
    event = AuditEvent.objects.get(action="user.erase")
    assert event.after["amis_revoked"] == [world["mine"].ami_id] and event.after["ratings_anonymised"] == 1
    # The legal record remains, pseudonymised.
    assert not AuditEvent.objects.filter(actor_username="alice").exists()
    assert AuditEvent.objects.filter(actor_username=f"deleted-user-{user.pk}", action="key.add").count() == 1


def test_erase_deleting_reviews_recomputes_aggregates(user, world):
    resp = client_for(user).delete("/api/v1/me", {"reviews": "delete"}, format="json")
    assert resp.status_code == 204
    bobs = AMI.objects.get(pk=world["bobs"].pk)
    assert not Rating.objects.filter(ami=bobs, rating=1).exists()
    assert (bobs.rating_count, bobs.rating_sum, float(bobs.rating_avg)) == (1, 5, 5.0)


def test_bad_choice_is_400(user, world):
    resp = client_for(user).delete("/api/v1/me", {"reviews": "shred"}, format="json")
    assert resp.status_code == 400 and "reviews" in resp.json()["errors"]
    assert get_user_model().objects.filter(username="alice").exists()


def test_moderator_erases_and_transfers(user, other_user, moderator, world):
    url = "/api/v1/users/alice"
    assert client_for(other_user).delete(url, {}, format="json").status_code == 403
    assert client_for(moderator).delete(url, {"transfer_to": "nobody"}, format="json").status_code == 400
    assert client_for(moderator).delete("/api/v1/users/nobody", {}, format="json").status_code == 404
    resp = client_for(moderator).delete(url, {"transfer_to": "mod"}, format="json")
    assert resp.status_code == 200, resp.content
    assert set(resp.json()["amis_transferred"]) == {world["mine"].ami_id, world["draft"].ami_id}
    assert AMI.objects.get(pk=world["mine"].pk).creator == moderator
    assert AMI.objects.get(pk=world["mine"].pk).status == "approved"
    event = AuditEvent.objects.get(action="user.erase")
    assert event.actor == moderator and event.after["transferred_to"] == "mod"


def test_erasure_unverifies_signed_amis(user, ed_key, aws):
    from tests.trust.conftest import sign
    from amis.signatures import ami_signature_verify, manifest_from_image

    image_id = aws.image()
    image = aws.ec2().describe_images(ImageIds=[image_id])["Images"][0]
    ami = AMIFactory(ami_id=image_id, creator=user)
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    assert ami_signature_verify(ami=ami, user=user, signature=sign(ed_key, manifest_from_image(image, "us-east-1"))).valid
    moderator = get_user_model().objects.create_superuser("root", password="x" * 12)
    client_for(moderator).delete("/api/v1/users/alice", {"transfer_to": "root"}, format="json")
    ami.refresh_from_db()
    assert ami.verified is False and AMISignature.objects.filter(ami=ami).first().failure_code == "no_keys"


def test_lineages_subscriptions_and_moves_in_the_export_and_erasure(user, other_user, moderator, world):
    lineage = Lineage.objects.create(owner=user, name="alice-line")
    Channel.objects.create(lineage=lineage, name="latest", managed=True)
    version = AMIFactory(creator=user, lineage=lineage, version="1.0.0")
    channel_move(ami=version, channel="stable", user=user)
    Subscription.objects.create(user=user, target_type="lineage", lineage_key=lineage.key,
                                event_types=["version.published"])

    data = client_for(user).get("/api/v1/me/export").json()

    assert [x["name"] for x in data["lineages"]] == ["alice-line"]
    assert [(m["channel__name"], m["to_version"]) for m in data["channel_moves"]] == [("stable", "1.0.0")]
    assert [s["lineage_key"] for s in data["subscriptions"]] == [lineage.key]
    assert next(a for a in data["amis"] if a["id"] == str(version.pk))["version"] == "1.0.0"

    resp = client_for(moderator).delete("/api/v1/users/alice", {"transfer_to": "mod"}, format="json")
    assert resp.status_code == 200 and resp.json()["lineages_transferred"] == [lineage.key]
    assert Lineage.objects.get(pk=lineage.pk).owner == moderator
    assert AuditEvent.objects.filter(action="lineage.transfer", target_id=lineage.key).exists()
