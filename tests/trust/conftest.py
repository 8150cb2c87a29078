"""Fixtures for the trust & compliance tests: Ed25519 keys and signed moto images."""
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from amis.models import AMI
from amis.signatures import manifest_canonical_bytes, manifest_from_image
from tests.factories import AMIFactory


def openssh_public(private: Ed25519PrivateKey, comment: str = "alice@laptop") -> str:
    line = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} {comment}"


def pem_public(private: Ed25519PrivateKey) -> str:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(private: Ed25519PrivateKey, manifest: dict) -> str:
    import base64

    return base64.b64encode(private.sign(manifest_canonical_bytes(manifest))).decode()


@pytest.fixture
def ed_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def moto_ami(aws, user):
    """A registry entry (draft, owned by ``user``) for a real moto image in us-east-1."""
    image_id = aws.image("us-east-1", "x86_64")
    image = aws.ec2().describe_images(ImageIds=[image_id])["Images"][0]
    ami = AMIFactory(ami_id=image_id, creator=user, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE,
                     owner_account_id=image["OwnerId"], image_name=image["Name"],
                     image_creation_date=image["CreationDate"])
    ami.aws_image = image
    ami.manifest = manifest_from_image(image, "us-east-1")
    return ami


def moto_image(image_id: str, region: str = "us-east-1"):
    """The moto backend's image object (to simulate AWS-side changes moto has no API for)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    return ec2_backends[DEFAULT_ACCOUNT_ID][region].amis[image_id]

