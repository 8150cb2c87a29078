"""Publishing with the client against the live registry and the AWS emulator: register, submit
(with a publisher signature), moderation, share/unshare, deprecate, revoke, copy."""
import boto3
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from amis.models import AMI, AMIRegion
from sharing.models import Share

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def publisher_key(registry, tmp_path, username: str):
    """An Ed25519 key pair: the public half registered with the registry, the private one on disk."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    answer = httpx.post(f"{registry.url}/api/v1/me/keys/", json={"public_key": public, "name": "laptop"},
                        headers={"Authorization": f"Token {registry.token(username)}"}, timeout=30)
    assert answer.status_code == 201, answer.text
    path = tmp_path / "publisher.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def test_register_submit_signed_approve_deprecate_revoke(registry, cli, tmp_path):
    image = registry.new_image(name="cli-publishing-test")
    registry.sign_in("researcher")
    registered = cli("ami", "register", image, "--region", "us-east-1", "--template", "python-ml-ami",
                     "--name", "CLI ML box", "--tag", "team=ml", "--tag", "gpu=", "--json").ok().json()
    assert (registered["ami_id"], registered["status"], registered["template"]) == (image, "draft", "python-ml-ami")
    assert registered["tags"] == {"team": "ml", "gpu": ""}
    again = cli("ami", "register", image, "--region", "us-east-1", "--category", "ML")
    assert again.exit_code == 1 and f"{image} is already registered" in again.stderr
    bad_tag = cli("ami", "register", image, "-r", "us-east-1", "--category", "ML", "--tag", "novalue")
    assert bad_tag.exit_code == 2 and "'novalue' is not KEY=VALUE" in bad_tag.stderr

    key_file = publisher_key(registry, tmp_path, "researcher")
    submitted = cli("ami", "submit", image, "--public", "--sign", str(key_file))
    assert submitted.ok().stdout.strip() == (f"Submitted CLI ML box ({image}) for review: pending_review, "
                                             "visibility public; signature valid.")
    assert f"signing the manifest of {image} (us-east-1" in submitted.stderr
    entry = AMI.objects.get(ami_id=image)
    assert (entry.status, entry.visibility, entry.signature_valid) == ("pending_review", "public", True)

    not_moderator = cli("ami", "approve", image)
    assert not_moderator.exit_code == 1 and "only moderators may do this" in not_moderator.stderr
    registry.sign_in("moderator")
    assert cli("ami", "approve", image, "--json").ok().json()["status"] == "approved"
    twice = cli("ami", "approve", image)
    assert twice.exit_code == 1 and "current status: approved" in twice.stderr

    registry.sign_in("researcher")
    deprecated = cli("ami", "deprecate", image, "--reason", "superseded", "--replacement",
                     AMI.objects.get(name="PyTorch 2.4 GPU Workstation").ami_id, "--json").ok().json()
    assert deprecated["status"] == "deprecated" and deprecated["replacement"]
    forbidden = cli("ami", "revoke", image, "--reason", "mine")
    assert forbidden.exit_code == 1 and "only moderators" in forbidden.stderr
    missing_reason = cli("ami", "revoke", image)
    assert missing_reason.exit_code == 2 and "Missing option '--reason'" in missing_reason.stderr
    registry.sign_in("moderator")
    assert cli("ami", "revoke", image, "--reason", "bad OpenSSL").ok().stdout.strip() == (
        f"Revoked CLI ML box ({image}): status revoked.")

    spark = AMI.objects.get(name__startswith="Spark")
    rejected = cli("ami", "reject", spark.ami_id, "--reason", "describe the software", "--json").ok().json()
    assert (rejected["status"], rejected["status_reason"]) == ("rejected", "describe the software")


def test_register_offers_the_claim_tag_when_asked(registry, cli):
    image = registry.new_image(name="cli-claim-test")
    registry.sign_in("researcher")
    claimed = cli("ami", "register", image, "-r", "us-east-1", "--category", "ML", "--claim", "--yes").ok()
    # The image now carries the caller's own claim tag (the value GET /me/claim gives them) and is theirs.
    expected = cli("whoami", "--json").ok().json()["claim"]
    tags = {t["Key"]: t["Value"] for t in registry.ec2().describe_images(ImageIds=[image])["Images"][0].get("Tags", [])}
    assert expected["key"] == "cws-registry-claim" and tags[expected["key"]] == expected["value"]
    assert AMI.objects.get(ami_id=image).creator.username == "researcher", claimed.stdout


def organization(registry) -> dict:
    client = boto3.client("organizations", region_name="us-east-1", endpoint_url=registry.moto)
    try:
        return client.describe_organization()["Organization"]
    except client.exceptions.AWSOrganizationsNotInUseException:
        return client.create_organization(FeatureSet="ALL")["Organization"]


def test_share_with_every_kind_of_grantee_and_unshare(registry, cli):
    ami = AMI.objects.get(name="PyTorch 2.4 GPU Workstation")
    registry.sign_in("researcher")
    account = cli("ami", "share", ami.ami_id, "--account", "123456789012", "--json").ok().json()
    assert (account["grantee_type"], account["grantee"], account["permission"]) == ("account", "123456789012",
                                                                                    "launch")
    bad = cli("ami", "share", ami.ami_id, "--account", "12345")
    assert bad.exit_code == 1 and "Error: grantee: Must be a 12-digit AWS account id." in bad.stderr
    org = organization(registry)
    by_org = cli("ami", "share", ami.ami_id, "--org", org["Id"], "--json").ok().json()
    assert by_org["grantee"] == org["Arn"]
    by_ou = cli("ami", "share", ami.ami_id, "--ou", "ou-ab12-34cd56ef", "--json").ok().json()
    assert by_ou["grantee"] == f"arn:aws:organizations::{org['MasterAccountId']}:ou/{org['Id']}/ou-ab12-34cd56ef"
    cli("ami", "share", ami.ami_id, "--user", "moderator").ok()
    community = cli("ami", "share", ami.ami_id, "--community", "cloudworkstation", "--permission",
                    "launch_and_copy").ok()
    assert "with community cloudworkstation (launch_and_copy)" in community.stdout
    two = cli("ami", "share", ami.ami_id, "--account", "123456789012", "--user", "moderator")
    assert two.exit_code == 2 and "give one of --account, --org, --ou, --user, --community" in two.stderr
    none = cli("ami", "share", ami.ami_id)
    assert none.exit_code == 2 and "say whom to share with" in none.stderr

    listed = cli("ami", "shares", ami.ami_id, "--json").ok().json()
    assert sorted(g["grantee_type"] for g in listed) == ["account", "community", "organization",
                                                         "organizational_unit", "user"]
    human = cli("ami", "shares", ami.ami_id).ok().stdout
    assert "123456789012" in human and "AWS SYNC" in human

    cli("ami", "unshare", ami.ami_id, "--user", "moderator").ok()
    cli("ami", "unshare", ami.ami_id, str(account["id"])).ok()
    assert set(Share.objects.filter(ami=ami).values_list("grantee_type", flat=True)) == {
        "community", "organization", "organizational_unit"}
    gone = cli("ami", "unshare", ami.ami_id, "--user", "moderator")
    assert gone.exit_code == 1 and "is not shared with user moderator" in gone.stderr

    registry.sign_in("moderator")  # a moderator may see the grants…
    assert len(cli("ami", "shares", ami.ami_id, "--json").ok().json()) == 3
    registry.sign_in(None)  # …anonymous callers may not
    assert cli("ami", "shares", ami.ami_id).exit_code == 1


def test_copy_follows_each_region_to_the_end(registry, cli):
    ami = AMI.objects.get(name="PyTorch 2.4 GPU Workstation")
    registry.sign_in("researcher")
    copied = cli("ami", "copy", ami.ami_id, "--regions", "eu-west-2,ap-south-1", "--regions", "us-east-1").ok()
    assert "already there (skipped): us-east-1" in copied.stderr
    lines = copied.stdout.splitlines()
    assert any(line.startswith("eu-west-2") and "completed    100%" in line for line in lines), copied.stdout
    assert any(line.startswith("ap-south-1") and "completed    100%" in line for line in lines), copied.stdout
    assert lines[-1] == "Copied " + ami.ami_id + " to eu-west-2, ap-south-1."
    rows = {r.region: r for r in AMIRegion.objects.filter(ami=ami)}
    assert rows["eu-west-2"].state == rows["ap-south-1"].state == "available"
    for region in ("eu-west-2", "ap-south-1"):  # the copies exist in AWS, with the ids the registry holds
        assert registry.ec2(region).describe_images(ImageIds=[rows[region].image_id])["Images"]

    again = cli("ami", "copy", ami.ami_id, "--regions", "eu-west-2", "--json").ok().json()
    assert again["operations"] == [] and again["skipped"] == ["eu-west-2"]
    other = AMI.objects.get(name="Genomics Pipeline")  # the admin's
    refused = cli("ami", "copy", other.ami_id, "--regions", "eu-west-2")
    assert refused.exit_code == 1 and "only the owner or a moderator may copy this AMI" in refused.stderr
