"""Publisher keys and signature verification: each failure has its own precise outcome."""
import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives import serialization

from amis.models import AMI, AMISignature
from amis.signatures import fingerprint_of, manifest_canonical_bytes, publisher_key_add
from registry.models import AuditEvent, PublisherKey
from tests.conftest import client_for
from tests.factories import AMIFactory
from tests.trust.conftest import moto_image, openssh_public, pem_public, sign

pytestmark = pytest.mark.django_db


def _verify(user, ami, signature, **extra):
    return client_for(user).post(f"/api/v1/amis/{ami.ami_id}/signature", {"signature": signature, **extra},
                                 format="json")


# --- keys ----------------------------------------------------------------------------------

def test_add_openssh_and_pem_keys_show_the_openssh_fingerprint(user, ed_key):
    client = client_for(user)
    ssh = client.post("/api/v1/me/keys/", {"public_key": openssh_public(ed_key), "name": "laptop"}, format="json")
    assert ssh.status_code == 201, ssh.content
    expected = fingerprint_of(openssh_public(ed_key))
    assert ssh.json()["fingerprint"] == expected and expected.startswith("SHA256:") and "=" not in expected
    assert ssh.json()["public_key"].startswith("ssh-ed25519 ")
    # The same key in PEM is the same key: a second active registration is a conflict.
    pem = client.post("/api/v1/me/keys/", {"public_key": pem_public(ed_key)}, format="json")
    assert pem.status_code == 409 and pem.json()["code"] == "key_exists"
    other = Ed25519PrivateKey.generate()
    pem2 = client.post("/api/v1/me/keys/", {"public_key": pem_public(other)}, format="json")
    assert pem2.status_code == 201 and pem2.json()["fingerprint"] == fingerprint_of(openssh_public(other))
    listed = client.get("/api/v1/me/keys/").json()
    assert listed["count"] == 2
    assert AuditEvent.objects.filter(action="key.add", actor=user).count() == 2


@pytest.mark.parametrize("text,code", [
    ("not a key", "malformed_key"),
    ("ssh-ed25519 AAAAnotbase64!!", "malformed_key"),
    ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "malformed_key"),
])
def test_malformed_keys_are_400(user, text, code):
    resp = client_for(user).post("/api/v1/me/keys/", {"public_key": text}, format="json")
    assert resp.status_code == 400
    assert resp.json()["code"] == code and "public_key" in resp.json()["errors"]
    assert not PublisherKey.objects.exists()


def test_rsa_key_is_refused_as_unsupported(user):
    rsa = generate_private_key(public_exponent=65537, key_size=2048).public_key()
    text = rsa.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    resp = client_for(user).post("/api/v1/me/keys/", {"public_key": text}, format="json")
    assert resp.status_code == 400 and resp.json()["code"] == "unsupported_key_type"


def test_keys_are_private_to_their_owner(user, other_user, ed_key):
    key = publisher_key_add(user=user, public_key=openssh_public(ed_key))
    assert client_for(other_user).get(f"/api/v1/me/keys/{key.pk}").status_code == 404
    assert client_for(other_user).delete(f"/api/v1/me/keys/{key.pk}").status_code == 404
    assert client_for(None).get("/api/v1/me/keys/").status_code == 401
    key.refresh_from_db()
    assert key.revoked_at is None


# --- verification --------------------------------------------------------------------------

def test_valid_signature_sets_verified(user, ed_key, moto_ami):
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    manifest_resp = client_for(user).get(f"/api/v1/amis/{moto_ami.ami_id}/manifest")
    assert manifest_resp.status_code == 200
    assert manifest_resp.json()["manifest"] == moto_ami.manifest
    assert manifest_resp.json()["canonical"].encode() == manifest_canonical_bytes(moto_ami.manifest)
    assert moto_ami.manifest["root_snapshot_ids"] and moto_ami.manifest["owner_id"]

    resp = _verify(user, moto_ami, sign(ed_key, moto_ami.manifest))
    assert resp.status_code == 200, resp.content
    assert resp.json()["valid"] is True and resp.json()["code"] == "valid"
    moto_ami.refresh_from_db()
    assert moto_ami.verified is True and moto_ami.signature_valid is True
    row = AMISignature.objects.get(ami=moto_ami)
    assert row.signer == user and row.key_fingerprint == fingerprint_of(openssh_public(ed_key))
    assert AuditEvent.objects.filter(action="ami.signature_verify", target_id=str(moto_ami.pk)).count() == 1


def test_wrong_key(user, ed_key, moto_ami):
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    resp = _verify(user, moto_ami, sign(Ed25519PrivateKey.generate(), moto_ami.manifest))
    assert resp.status_code == 422 and resp.json()["code"] == "wrong_key"
    moto_ami.refresh_from_db()
    assert moto_ami.verified is False and moto_ami.signature_valid is False


def test_revoked_key_and_reverification_on_revoke(user, ed_key, moto_ami):
    key = publisher_key_add(user=user, public_key=openssh_public(ed_key))
    signature = sign(ed_key, moto_ami.manifest)
    assert _verify(user, moto_ami, signature).status_code == 200
    # Revoking the key re-verifies every AMI relying on it at once.
    resp = client_for(user).delete(f"/api/v1/me/keys/{key.pk}")
    assert resp.status_code == 204
    moto_ami.refresh_from_db()
    assert moto_ami.verified is False and moto_ami.signature_valid is False
    assert AMISignature.objects.filter(ami=moto_ami).first().failure_code == "revoked_key"
    event = AuditEvent.objects.get(action="key.revoke")
    assert event.after["reverified_amis"] == [moto_ami.ami_id]
    # Submitting the same signature again names the revoked key.
    again = _verify(user, moto_ami, signature)
    assert again.status_code == 422 and again.json()["code"] == "revoked_key"
    # Revoking twice is a no-op (no second event).
    assert client_for(user).delete(f"/api/v1/me/keys/{key.pk}").status_code == 204
    assert AuditEvent.objects.filter(action="key.revoke").count() == 1


def test_signature_over_another_image(user, ed_key, moto_ami, aws):
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    other_id = aws.image("us-east-1", "x86_64")
    other_image = aws.ec2().describe_images(ImageIds=[other_id])["Images"][0]
    from amis.signatures import manifest_from_image
    other_manifest = manifest_from_image(other_image, "us-east-1")
    AMIFactory(ami_id=other_id, creator=user, status=AMI.Status.DRAFT, owner_account_id=other_image["OwnerId"],
               image_name=other_image["Name"], image_creation_date=other_image["CreationDate"],
               root_snapshot_ids=other_manifest["root_snapshot_ids"])
    resp = _verify(user, moto_ami, sign(ed_key, other_manifest))
    assert resp.status_code == 422 and resp.json()["code"] == "other_image"
    assert resp.json()["signature"]["details"]["signed_ami_id"] == other_id


def test_tampered_manifest(user, ed_key, moto_ami):
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    # The publisher signed a manifest whose name differs from what AWS reports.
    tampered = dict(moto_ami.manifest, name="totally-official-image")
    resp = _verify(user, moto_ami, sign(ed_key, tampered), manifest=tampered)
    assert resp.status_code == 422 and resp.json()["code"] == "tampered_manifest"
    assert resp.json()["signature"]["details"]["fields"] == ["name"]
    # A correct signature whose accompanying manifest was edited afterwards: also tampering.
    edited = dict(moto_ami.manifest, architecture="arm64")
    resp = _verify(user, moto_ami, sign(ed_key, dict(moto_ami.manifest, name="x")), manifest=edited)
    assert resp.status_code == 422 and resp.json()["code"] == "tampered_manifest"
    moto_ami.refresh_from_db()
    assert moto_ami.verified is False


def test_image_replaced_after_signing(user, ed_key, moto_ami):
    from amis.signatures import ami_signature_reverify

    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    assert _verify(user, moto_ami, sign(ed_key, moto_ami.manifest)).status_code == 200
    # AWS now reports other content behind the id (moto has no API for this: edit its backend).
    import datetime
    moto_image(moto_ami.ami_id).creation_date = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    row = ami_signature_reverify(ami=moto_ami)
    assert row.valid is False and row.failure_code == "image_replaced"
    assert row.details["fields"] == ["creation_date"]
    moto_ami.refresh_from_db()
    assert moto_ami.verified is False


@pytest.mark.parametrize("signature", ["not base64 at all!!", base64.b64encode(b"short").decode(), "", "A" * 300])
def test_malformed_signature(user, ed_key, moto_ami, signature):
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    resp = _verify(user, moto_ami, signature)
    if signature == "" or len(signature) > 200 + 200:
        assert resp.status_code == 400
        return
    assert resp.status_code == 422 and resp.json()["code"] == "malformed_signature"


def test_unknown_fingerprint_and_no_keys(user, ed_key, moto_ami):
    resp = _verify(user, moto_ami, sign(ed_key, moto_ami.manifest))
    assert resp.status_code == 422 and resp.json()["code"] == "no_keys"
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    resp = _verify(user, moto_ami, sign(ed_key, moto_ami.manifest), key_fingerprint="SHA256:nope")
    assert resp.status_code == 422 and resp.json()["code"] == "unknown_key"


def test_only_owner_may_submit_a_signature(other_user, user, ed_key, moto_ami):
    moto_ami.visibility = AMI.Visibility.PUBLIC
    moto_ami.status = AMI.Status.APPROVED
    moto_ami.save()
    resp = _verify(other_user, moto_ami, sign(ed_key, moto_ami.manifest))
    assert resp.status_code == 403
    assert not AMISignature.objects.exists()


# --- registration with a signature (verified inside ami_register) ------------------------------

def test_register_with_valid_signature_is_verified(user, ed_key, aws):
    from amis.signatures import manifest_from_image

    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    image_id = aws.image()
    manifest = manifest_from_image(aws.ec2().describe_images(ImageIds=[image_id])["Images"][0], "us-east-1")
    resp = client_for(user).post("/api/v1/amis/", {"ami_id": image_id, "region": "us-east-1", "name": "signed",
                                                   "category": "ML", "signature": sign(ed_key, manifest)},
                                 format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["verified"] is True
    ami = AMI.objects.get(ami_id=image_id)
    assert ami.verified and ami.signatures.get().signer == user


def test_register_with_bad_signature_is_refused_with_the_reason(user, ed_key, aws):
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    image_id = aws.image()
    resp = client_for(user).post("/api/v1/amis/", {"ami_id": image_id, "region": "us-east-1", "name": "signed",
                                                   "category": "ML", "signature": "bm90IGEgc2lnbmF0dXJl"},
                                 format="json")
    assert resp.status_code == 422 and resp.json()["code"] == "malformed_signature"
    assert not AMI.objects.filter(ami_id=image_id).exists() and not AMISignature.objects.exists()
    wrong = sign(Ed25519PrivateKey.generate(), {"ami_id": image_id})
    resp = client_for(user).post("/api/v1/amis/", {"ami_id": image_id, "region": "us-east-1", "name": "signed",
                                                   "category": "ML", "signature": wrong}, format="json")
    assert resp.status_code == 422 and resp.json()["code"] == "wrong_key"
    # Without a signature the same registration works (unverified).
    ok = client_for(user).post("/api/v1/amis/", {"ami_id": image_id, "region": "us-east-1", "name": "plain",
                                                 "category": "ML"}, format="json")
    assert ok.status_code == 201 and ok.json()["verified"] is False


def test_submit_with_signature(user, ed_key, moto_ami):
    publisher_key_add(user=user, public_key=openssh_public(ed_key))
    bad = client_for(user).post(f"/api/v1/amis/{moto_ami.ami_id}/submit",
                                {"signature": sign(Ed25519PrivateKey.generate(), moto_ami.manifest)}, format="json")
    assert bad.status_code == 422 and bad.json()["code"] == "wrong_key"
    moto_ami.refresh_from_db()
    assert moto_ami.status == "draft"          # the refused submission changed nothing
    ok = client_for(user).post(f"/api/v1/amis/{moto_ami.ami_id}/submit",
                               {"signature": sign(ed_key, moto_ami.manifest)}, format="json")
    # Private: ready at once, no moderator (the sharing rule); the signature is verified all the same.
    assert ok.status_code == 200 and ok.json()["status"] == "approved" and ok.json()["verified"] is True
