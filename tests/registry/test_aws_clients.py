"""The boto3 gateway's clients: cached per process, built from one session per environment.

A session per client loaded every service model once per region (the EC2 model alone is tens
of thousands of Python objects), and a long-lived process's full garbage collections walked all
of them; with one session the model is loaded once and shared.
"""
import gc

import pytest

from registry import aws as aws_gateway

pytestmark = pytest.mark.django_db
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "sa-east-1")
ROLE = aws_gateway.AccountRole(account_id="123456789012", role_arn="arn:aws:iam::123456789012:role/cws-registry")


def _tracked_objects() -> int:
    gc.collect()
    return len(gc.get_objects())


def test_clients_are_cached_and_share_one_loader(aws):  # noqa: ARG001 — in-process moto
    clients = [aws_gateway.client("ec2", region) for region in REGIONS]
    assert aws_gateway.client("ec2", "us-east-1") is clients[0]
    assert len({id(c._loader) for c in clients}) == 1
    assert [c.meta.region_name for c in clients] == list(REGIONS)
    assert clients[2].describe_regions()["Regions"]   # a working client, not just a cached object


def test_a_region_more_costs_a_client_not_a_service_model(aws):  # noqa: ARG001
    aws_gateway.client("ec2", "us-east-1")
    before = _tracked_objects()
    aws_gateway.client("ec2", "eu-west-2")
    one_more = _tracked_objects() - before
    # The EC2 model itself is ~50,000 objects; a client around an already loaded model is a
    # small fraction of that.
    assert one_more < 20_000, one_more


def test_role_clients_share_the_loader_and_carry_the_role_credentials(aws):  # noqa: ARG001
    own = aws_gateway.client("ec2", "us-east-1")
    acting = aws_gateway.client("ec2", "us-east-1", role=ROLE)
    assert acting is not own and acting._loader is own._loader
    # The temporary credentials STS issued for the role, not the registry's own.
    assert acting._request_signer._credentials.access_key != own._request_signer._credentials.access_key
    assert acting.describe_regions()["Regions"]
