"""resolve(): every tier answering, strategies, architecture preference, what is never returned.

AWS is in-process moto (the ``aws`` fixture); PostgreSQL and Redis are real.
"""
import threading
import time
from datetime import timedelta

import boto3
import pytest
from django.utils import timezone

from amis.models import AMI, AMIRegion
from registry.errors import InvalidInput, NotFound, Unprocessable
from resolver import services
from resolver import tiers as resolver_tiers
from tests.factories import AMIFactory, AMIRegionFactory, UserFactory

pytestmark = pytest.mark.django_db

CWS_FIELDS = {"template_name", "target_region", "resolution_method", "ami_id", "ami_name", "ami_architecture",
              "ami_description", "launch_time_estimate_seconds", "cost_savings", "warning", "fallback_chain",
              "ami_details"}
OUR_FIELDS = {"strategy", "source_region", "registry_id", "estimated_cost", "consent_required", "copy", "tried",
              "cached", "duration_ms", "resolved_at"}


def tiers(answer):
    return [(t["tier"], t["outcome"]) for t in answer["tried"]]


# --- direct mapping --------------------------------------------------------------------------------

def test_direct_mapping_answers_with_ec2_facts(aws, make_template, aws_calls):
    image = aws.image("us-east-1", "x86_64", name="cws-direct")
    template = make_template({"ami_mappings": {"us-east-1": image}, "ssh_user": "ubuntu"})

    answer = services.resolve(template=template.slug, region="us-east-1")

    assert CWS_FIELDS | OUR_FIELDS <= set(answer)
    assert answer["resolution_method"] == "direct_mapping"
    assert answer["ami_id"] == image
    assert answer["ami_name"] == "cws-direct"
    assert answer["ami_architecture"] == "x86_64"
    assert answer["ami_details"]["owner_id"] == "123456789012"
    assert answer["ami_details"]["creation_date"]
    assert answer["fallback_chain"] == ["direct_mapping"]
    assert tiers(answer) == [("direct_mapping", "found")]
    assert answer["launch_time_estimate_seconds"] == 30
    assert answer["consent_required"] is False and answer["copy"] is None
    assert answer["cost_savings"] > 0 and answer["estimated_cost"] > 0
    assert answer["warning"] == "" and answer["cached"] is False
    assert [c[0] for c in aws_calls.calls] == ["describe_images"]


def test_direct_mapping_to_a_missing_image_is_reported_and_the_next_tier_answers(aws, make_template):
    template = make_template({"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"}, "ssh_user": "ubuntu"},
                             base="amazonlinux-2023")
    answer = services.resolve(template=template, region="us-east-1")
    assert answer["resolution_method"] == "fallback_script"
    direct = answer["tried"][0]
    assert direct["tier"] == "direct_mapping" and direct["outcome"] == "unavailable"
    assert "ami-0123456789abcdef0 is missing" in direct["reason"]
    assert answer["warning"] == "AMI not available, using script provisioning"


def test_legacy_amis_prefer_arm64_by_default_then_the_template_preference_then_the_request(aws, make_template):
    x86 = aws.image("us-east-1", "x86_64")
    arm = aws.image("us-east-1", "arm64")
    legacy = {"amis": {"us-east-1": {"x86_64": x86, "arm64": arm}}}

    assert services.resolve(template=make_template(legacy), region="us-east-1")["ami_id"] == arm
    prefers_x86 = make_template({**legacy, "preferred_architecture": "x86_64"})
    assert services.resolve(template=prefers_x86, region="us-east-1")["ami_id"] == x86
    answer = services.resolve(template=make_template(legacy), region="us-east-1", architecture="x86_64")
    assert answer["ami_id"] == x86 and answer["ami_architecture"] == "x86_64"


def test_a_mapped_image_of_the_wrong_architecture_is_not_returned(aws, make_template):
    x86 = aws.image("us-east-1", "x86_64")
    template = make_template({"ami_mappings": {"us-east-1": x86}, "fallback_strategy": "script_provisioning"})
    answer = services.resolve(template=template, region="us-east-1", architecture="arm64")
    assert answer["resolution_method"] == "fallback_script"
    assert "is x86_64, not arm64" in answer["tried"][0]["reason"]


def test_a_mapped_image_revoked_in_the_registry_is_never_returned(aws, make_template):
    image = aws.image("us-east-1", "x86_64")
    template = make_template({"ami_mappings": {"us-east-1": image}, "fallback_strategy": "script_provisioning"})
    AMIFactory(ami_id=image, status=AMI.Status.REVOKED)
    answer = services.resolve(template=template, region="us-east-1")
    assert answer["ami_id"] != image
    assert answer["tried"][0]["outcome"] == "unavailable"
    assert "revoked in the registry" in answer["tried"][0]["reason"]


# --- registry -------------------------------------------------------------------------------------------

def test_registry_answers_best_first_without_aws_calls(make_template, aws_calls):
    template = make_template({"ami_search": {"owner": "self", "name_pattern": "x-*"},
                              "fallback_strategy": "script_provisioning"})
    popular = AMIFactory(template=template, rating_sum=48, rating_count=10, download_count=5)   # 4.8 x 10
    AMIFactory(template=template, rating_sum=5, rating_count=1, download_count=50)              # one 5-star
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert answer["resolution_method"] == "registry"
    assert answer["registry_id"] == str(popular.pk) and answer["ami_id"] == popular.ami_id
    assert answer["tried"] == [
        {"tier": "direct_mapping", "outcome": "skipped", "reason": "no ami_mappings for us-east-1"},
        {"tier": "registry", "outcome": "found", "reason": f"community AMI '{popular.name}' ({popular.pk})"}]
    assert answer["fallback_chain"] == ["registry"]
    assert aws_calls.calls == []


def test_registry_order_verified_then_bayesian_rating_then_downloads_then_newest(make_template, settings):
    settings.REGISTRY_RESOLVER_CACHE_ENABLED = False   # queryset.update() below sends no signal
    template = make_template({})
    old = AMIFactory(template=template)
    new = AMIFactory(template=template)
    AMI.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))

    def best():
        return services.resolve(template=template, region="us-east-1", architecture="x86_64")["registry_id"]

    assert best() == str(new.pk)                                                   # newest
    AMI.objects.filter(pk=old.pk).update(download_count=10)
    assert best() == str(old.pk)                                                   # downloads
    AMI.objects.filter(pk=new.pk).update(rating_sum=20, rating_count=5)            # 4.0 over 5 ratings
    assert best() == str(new.pk)                                                   # rating
    AMI.objects.filter(pk=old.pk).update(verified=True)
    assert best() == str(old.pk)                                                   # verified


@pytest.mark.parametrize("status", [AMI.Status.REVOKED, AMI.Status.DEPRECATED, AMI.Status.PENDING_REVIEW,
                                    AMI.Status.REJECTED, AMI.Status.DRAFT])
def test_registry_never_returns_unapproved_entries(make_template, status):
    template = make_template({})
    AMIFactory(template=template, status=status)
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64",
                              user=UserFactory(username="someone"))
    assert answer["resolution_method"] == "fallback_script"
    assert answer["registry_id"] is None


def test_registry_respects_visibility_and_region_state(make_template, user):
    template = make_template({})
    private = AMIFactory(template=template, creator=user, visibility=AMI.Visibility.PRIVATE)
    # Visible to its owner, invisible to anonymous callers and to other users.
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64",
                            user=user)["registry_id"] == str(private.pk)
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64")["registry_id"] is None
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64",
                            user=UserFactory(username="stranger"))["registry_id"] is None
    # A copy that is not available in the region does not count.
    public = AMIFactory(template=template, source_region="eu-west-1")
    AMIRegionFactory(ami=public, region="us-east-1", state=AMIRegion.State.PENDING)
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64")["registry_id"] is None


def test_registry_matches_the_requested_architecture(make_template):
    template = make_template({})
    arm = AMIFactory(template=template, architecture=AMI.Architecture.ARM64)
    x86 = AMIFactory(template=template, architecture=AMI.Architecture.X86_64)
    assert services.resolve(template=template, region="us-east-1")["registry_id"] == str(arm.pk)   # arm64 first
    assert services.resolve(template=template, region="us-east-1",
                            architecture="x86_64")["registry_id"] == str(x86.pk)


# --- dynamic search -----------------------------------------------------------------------------------

def search_config(**extra):
    return {"ami_search": {"owner": "123456789012", "name_pattern": "cws-ml-*", "architecture": ["x86_64"],
                           **extra}, "fallback_strategy": "script_provisioning"}


def test_dynamic_search_pins_the_owner_filters_tags_and_picks_the_newest(aws, make_template, aws_calls):
    aws.image("us-east-1", "x86_64", name="cws-ml-1", tags={"Template": "ml", "Version": "v1"})
    time.sleep(1.1)  # moto's CreationDate has second resolution
    newest = aws.image("us-east-1", "x86_64", name="cws-ml-2", tags={"Template": "ml", "Version": "v1"})
    aws.image("us-east-1", "x86_64", name="cws-ml-3", tags={"Template": "ml", "Version": "v2"})
    aws.image("us-east-1", "x86_64", name="other-4", tags={"Template": "ml", "Version": "v1"})
    template = make_template(search_config(version_tag="v1", required_tags={"Template": "ml"}))

    answer = services.resolve(template=template, region="us-east-1")

    assert answer["resolution_method"] == "dynamic_search"
    assert answer["ami_id"] == newest and answer["ami_name"] == "cws-ml-2"
    (op, region, kwargs), = aws_calls.ops("describe_images")
    assert kwargs["Owners"] == ["123456789012"]
    assert {"Name": "tag:Version", "Values": ["v1"]} in kwargs["Filters"]
    assert {"Name": "tag:Template", "Values": ["ml"]} in kwargs["Filters"]
    assert {"Name": "name", "Values": ["cws-ml-*"]} in kwargs["Filters"]


def test_dynamic_search_applies_min_creation_date(aws, make_template):
    aws.image("us-east-1", "x86_64", name="cws-ml-1")
    future = (timezone.now() + timedelta(days=2)).date().isoformat()
    answer = services.resolve(template=make_template(search_config(min_creation_date=future)), region="us-east-1")
    assert answer["resolution_method"] == "fallback_script"
    assert ("dynamic_search", "not_found") in tiers(answer)
    assert f"created on/after {future}" in answer["tried"][2]["reason"]
    past = make_template(search_config(min_creation_date="2020-01-01"))
    assert services.resolve(template=past, region="us-east-1")["resolution_method"] == "dynamic_search"


def test_search_without_owner_is_refused_and_never_sent(aws, make_template, aws_calls):
    aws.image("us-east-1", "x86_64", name="cws-ml-1")
    template = make_template({"ami_search": {"name_pattern": "cws-ml-*"}, "fallback_strategy": "script_provisioning"})
    answer = services.resolve(template=template, region="us-east-1")
    dynamic = answer["tried"][2]
    assert dynamic["tier"] == "dynamic_search" and dynamic["outcome"] == "refused"
    assert "whoAMI" in dynamic["reason"]
    assert aws_calls.ops("describe_images") == []


def test_a_searched_image_revoked_in_the_registry_is_skipped(aws, make_template):
    old = aws.image("us-east-1", "x86_64", name="cws-ml-old")
    time.sleep(1.1)
    revoked = aws.image("us-east-1", "x86_64", name="cws-ml-new")
    AMIFactory(ami_id=revoked, status=AMI.Status.REVOKED)
    answer = services.resolve(template=make_template(search_config()), region="us-east-1")
    assert answer["ami_id"] == old


# --- marketplace ------------------------------------------------------------------------------------------

def test_marketplace_not_found_is_said_in_tried(aws, make_template):
    template = make_template({"marketplace_search": {"product_code": "abc123def456"},
                              "fallback_strategy": "script_provisioning"})
    answer = services.resolve(template=template, region="us-east-1")
    market = [t for t in answer["tried"] if t["tier"] == "marketplace"][0]
    assert market["outcome"] == "not_found"
    assert "abc123def456" in market["reason"]
    assert "marketplace" in answer["fallback_chain"]


def test_marketplace_answers_when_an_image_carries_the_product_code(aws, make_template, monkeypatch):
    image = aws.image("us-east-1", "x86_64", name="market")
    real = services.aws.call

    def with_product(region, service, operation, **kwargs):      # moto cannot attach product codes
        if operation == "describe_images" and kwargs.get("Owners") == ["aws-marketplace"]:
            assert {"Name": "product-code", "Values": ["prod1"]} in kwargs["Filters"]
            found = real(region, service, operation, ImageIds=[image])
            return found
        return real(region, service, operation, **kwargs)

    monkeypatch.setattr(services.aws, "call", with_product)
    template = make_template({"marketplace_search": {"product_code": "prod1"}})
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert answer["resolution_method"] == "marketplace" and answer["ami_id"] == image


# --- cross region --------------------------------------------------------------------------------------------

def test_cross_region_needs_consent_and_prices_the_copy(aws, make_template):
    image = aws.image("us-west-2", "x86_64", name="west")
    template = make_template({"ami_mappings": {"us-west-2": image}, "ssh_user": "ubuntu"})
    answer = services.resolve(template=template, region="us-east-1", details=True)
    assert answer["resolution_method"] == "cross_region"
    assert answer["consent_required"] is True
    assert answer["ami_id"] == image and answer["source_region"] == "us-west-2"
    copy = answer["copy"]
    assert copy["source_region"] == "us-west-2" and copy["source_ami_id"] == image
    assert copy["estimated_cost"] > 0 and copy["estimated_minutes"] > 0
    assert answer["launch_time_estimate_seconds"] == 30 + copy["estimated_minutes"] * 60
    assert answer["fallback_chain"] == ["registry", "cross_region"]   # no mapping for us-east-1: skipped
    assert [c["region"] for c in answer["region_checks"]] == ["us-east-2", "us-west-2", "us-west-1"]
    assert "consent" in answer["warning"]


def test_cross_region_prefers_map_order_not_the_fastest_region(aws, make_template, monkeypatch):
    west1 = aws.image("us-west-1", "x86_64")
    west2 = aws.image("us-west-2", "x86_64")
    template = make_template({"ami_mappings": {"us-west-1": west1, "us-west-2": west2}})
    real = resolver_tiers.region_lookup

    def slow_us_west_2(ctx, region):
        if region == "us-west-2":
            time.sleep(0.3)
        return real(ctx, region)

    monkeypatch.setattr(resolver_tiers, "region_lookup", slow_us_west_2)
    answer = services.resolve(template=template, region="us-east-1")
    assert answer["source_region"] == "us-west-2" and answer["ami_id"] == west2   # us-west-2 before us-west-1


def test_cross_region_regions_are_checked_concurrently(aws, make_template, monkeypatch):
    template = make_template({"ami_search": {"owner": "123456789012", "name_pattern": "none-*"}})
    real = resolver_tiers.region_lookup
    state = {"now": 0, "max": 0, "regions": [], "starts": [], "ends": []}
    lock = threading.Lock()

    def slow(ctx, region):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            state["regions"].append(region)
            state["starts"].append(time.perf_counter())
        try:
            time.sleep(0.4)
            return real(ctx, region)
        finally:
            with lock:
                state["now"] -= 1
                state["ends"].append(time.perf_counter())

    monkeypatch.setattr(resolver_tiers, "region_lookup", slow)
    answer = services.resolve(template=template, region="eu-west-1")
    assert sorted(state["regions"]) == sorted(["eu-west-2", "eu-central-1", "us-east-1"])
    assert state["max"] == 3                                 # all three fallback regions in flight at once
    assert max(state["starts"]) < min(state["ends"])         # every lookup began before any finished
    assert max(state["starts"]) - min(state["starts"]) < 0.2  # sequentially they'd be >= 0.4 s apart
    assert answer["resolution_method"] == "fallback_script"


def test_cross_region_finds_registry_copies_of_fallback_regions(make_template):
    template = make_template({})
    ami = AMIFactory(template=template, source_region="us-east-2")
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert answer["resolution_method"] == "cross_region"
    assert answer["registry_id"] == str(ami.pk) and answer["copy"]["source_region"] == "us-east-2"


@pytest.mark.parametrize("fallback", ["script_provisioning", "error"])
def test_cross_region_only_when_fallback_strategy_allows(aws, make_template, fallback):
    image = aws.image("us-west-2", "x86_64")
    template = make_template({"ami_mappings": {"us-west-2": image}, "fallback_strategy": fallback})
    if fallback == "error":
        with pytest.raises(Unprocessable) as err:
            services.resolve(template=template, region="us-east-1")
        assert ("cross_region", "skipped") in [(t["tier"], t["outcome"]) for t in err.value.extra["tried"]]
        return
    answer = services.resolve(template=template, region="us-east-1")
    assert answer["resolution_method"] == "fallback_script"
    assert ("cross_region", "skipped") in tiers(answer)


# --- script fallback and strategies -----------------------------------------------------------------------------

def test_script_fallback_uses_the_ssm_base_image(aws, make_template):
    template = make_template({"ami_mappings": {"eu-west-1": "ami-0123456789abcdef0"}}, base="amazonlinux-2023",
                             packages={"system": ["a", "b"], "conda": ["c"], "pip": ["d", "e", "f"]})
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    ssm_value = boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    assert answer["resolution_method"] == "fallback_script"
    assert answer["ami_id"] == ssm_value
    assert answer["launch_time_estimate_seconds"] == 180 + 2 * 10 + 20 + 3 * 5
    assert answer["warning"] == "AMI not available, using script provisioning"
    assert answer["tried"][-1]["tier"] == "fallback_script" and answer["tried"][-1]["outcome"] == "found"
    assert answer["cost_savings"] == 0


def test_script_fallback_without_a_public_parameter_says_so(aws, make_template):
    template = make_template(None, base="ubuntu-22.04")
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert answer["resolution_method"] == "fallback_script"
    assert answer["ami_id"] == ""
    param = "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"
    assert answer["warning"] == (f"No AMI configuration found, using script provisioning "
                                 f"(SSM parameter {param} not found in us-east-1)")
    assert param in answer["tried"][-1]["reason"]


def test_template_without_ami_config_resolves_to_script(aws, make_template):
    answer = services.resolve(template=make_template(None, base="amazonlinux-2023"), region="us-west-2")
    assert answer["resolution_method"] == "fallback_script"
    assert answer["warning"] == "No AMI configuration found, using script provisioning"
    assert answer["ami_id"].startswith("ami-")


def test_ami_required_gives_422_with_chain_and_tried(aws, make_template):
    template = make_template({"strategy": "ami_required", "ami_mappings": {"us-east-1": "ami-0123456789abcdef0"},
                              "fallback_strategy": "cross_region"})
    with pytest.raises(Unprocessable) as err:
        services.resolve(template=template, region="us-east-1")
    exc = err.value
    assert exc.code == "no_ami_available" and exc.status_code == 422
    assert exc.extra["fallback_chain"] == ["direct_mapping", "registry", "cross_region"]
    assert [t["tier"] for t in exc.extra["tried"]] == ["direct_mapping", "registry", "dynamic_search",
                                                        "marketplace", "cross_region", "fallback_script"]
    assert exc.extra["tried"][-1]["reason"] == "strategy ami_required forbids script provisioning"


def test_strategy_argument_overrides_the_template(aws, make_template):
    template = make_template({"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"}}, base="amazonlinux-2023")
    assert services.resolve(template=template, region="us-east-1")["resolution_method"] == "fallback_script"
    with pytest.raises(Unprocessable):
        services.resolve(template=template, region="us-east-1", strategy="ami_required")


def test_ami_fallback_provisions_by_script_first_when_it_can(aws, make_template):
    image = aws.image("us-east-1", "x86_64")
    template = make_template({"strategy": "ami_fallback", "ami_mappings": {"us-east-1": image}},
                             base="amazonlinux-2023", package_manager="conda")
    answer = services.resolve(template=template, region="us-east-1")
    assert answer["resolution_method"] == "fallback_script"
    assert answer["fallback_chain"] == ["fallback_script"] and answer["warning"] == ""


def test_ami_fallback_without_script_manager_uses_the_ami_with_a_warning(aws, make_template):
    image = aws.image("us-east-1", "x86_64")
    template = make_template({"strategy": "ami_fallback", "ami_mappings": {"us-east-1": image}},
                             base="ami-based", package_manager="ami", packages={})
    answer = services.resolve(template=template, region="us-east-1")
    assert answer["resolution_method"] == "direct_mapping" and answer["ami_id"] == image
    assert answer["warning"] == "Script provisioning not available, using AMI"
    missing = make_template({"strategy": "ami_fallback", "ami_mappings": {"us-east-1": "ami-0123456789abcdef0"},
                             "fallback_strategy": "script_provisioning"}, package_manager="ami", packages={})
    with pytest.raises(Unprocessable) as err:
        services.resolve(template=missing, region="us-east-1")
    assert "no script package manager" in err.value.message


# --- bad input ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [({"region": "mars-1"}, "region"),
                                           ({"region": "us-east-1", "strategy": "yolo"}, "strategy"),
                                           ({"region": "us-east-1", "architecture": "sparc"}, "architecture")])
def test_bad_region_strategy_architecture_are_invalid_input(make_template, kwargs, field):
    with pytest.raises(InvalidInput) as err:
        services.resolve(template=make_template({}), **kwargs)
    assert field in err.value.errors


def test_unknown_template_is_not_found(db):
    with pytest.raises(NotFound):
        services.resolve(template="no-such-template", region="us-east-1")
