"""The resolver's Redis cache: hits, TTLs, invalidation, and revoked AMIs never served."""
import time

import pytest
from django.core.cache import cache as django_cache

from amis.models import AMI, AMIRegion
from amis.services import ami_deprecate, ami_revoke
from resolver import cache, services
from tests.factories import AMIFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_second_resolution_is_served_from_cache_without_aws_calls(aws, make_template, aws_calls):
    image = aws.image("us-east-1", "x86_64")
    template = make_template({"ami_mappings": {"us-east-1": image}})
    first = services.resolve(template=template.name, region="us-east-1")
    calls = len(aws_calls.calls)
    second = services.resolve(template=template.name, region="us-east-1")
    assert first["cached"] is False and second["cached"] is True
    assert second["ami_id"] == first["ami_id"] and second["resolved_at"] == first["resolved_at"]
    assert len(aws_calls.calls) == calls == 1


def test_a_warm_hit_costs_one_database_query(make_template, django_assert_num_queries):
    template = make_template({})
    AMIFactory(template=template)
    services.resolve(template=template.name, region="us-east-1", architecture="x86_64")
    with django_assert_num_queries(1):      # the PK re-check of the registry AMI; no template lookup
        hit = services.resolve(template=template.name, region="us-east-1", architecture="x86_64")
    assert hit["cached"] is True and hit["resolution_method"] == "registry"


def test_availability_is_cached_per_region_and_image(aws, make_template, aws_calls):
    image = aws.image("us-east-1", "x86_64")
    template = make_template({"ami_mappings": {"us-east-1": image}})
    services.resolve(template=template, region="us-east-1")
    # A different cache key for the whole resolution (strategy), same image: no second DescribeImages.
    services.resolve(template=template, region="us-east-1", strategy="ami_required")
    assert len(aws_calls.ops("describe_images")) == 1
    assert cache.availability_get("us-east-1", image)["state"] == "available"


def test_keys_differ_by_region_architecture_strategy_and_visibility_scope(make_template, user, moderator):
    template = make_template({})
    keys = {cache.resolution_key(template_ref=template.slug, region=r, architecture=a, strategy=s, user=u)
            for r in ("us-east-1", "eu-west-1") for a in (None, "arm64") for s in (None, "ami_required")
            for u in (None, user, moderator)}
    assert len(keys) == 2 * 2 * 2 * 3
    other = UserFactory(username="carol")
    assert (cache.resolution_key(template_ref="t", region="us-east-1", architecture=None, strategy=None, user=user)
            != cache.resolution_key(template_ref="t", region="us-east-1", architecture=None, strategy=None,
                                    user=other))


def test_a_users_private_answer_is_not_served_to_anonymous_callers(make_template, user):
    template = make_template({})
    private = AMIFactory(template=template, creator=user, visibility=AMI.Visibility.PRIVATE)
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64",
                            user=user)["registry_id"] == str(private.pk)
    anonymous = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert anonymous["registry_id"] is None and anonymous["cached"] is False


def test_resolutions_expire_after_the_ttl(make_template, settings):
    settings.REGISTRY_RESOLUTION_CACHE_TTL = 1
    template = make_template({})
    AMIFactory(template=template)
    services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64")["cached"] is True
    time.sleep(1.3)
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64")["cached"] is False


def test_revoke_invalidates_cached_resolutions(make_template, moderator):
    template = make_template({"fallback_strategy": "script_provisioning"})
    ami = AMIFactory(template=template)
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64")["registry_id"] == str(ami.pk)
    generation = cache.generation()

    ami_revoke(ami=ami, moderator=moderator, reason="malware")

    assert cache.generation() > generation
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert answer["cached"] is False
    assert answer["registry_id"] is None and answer["resolution_method"] == "fallback_script"


def test_deprecate_invalidates_and_the_next_best_answers(make_template, moderator):
    template = make_template({})
    first = AMIFactory(template=template, verified=True)
    second = AMIFactory(template=template)
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert answer["registry_id"] == str(first.pk)
    ami_deprecate(ami=first, user=moderator, reason="old")
    assert services.resolve(template=template, region="us-east-1",
                            architecture="x86_64")["registry_id"] == str(second.pk)


def test_a_revoked_ami_is_never_served_from_cache_even_without_invalidation(make_template):
    """The cache entry survives (no signal: a raw UPDATE); the PK re-check still refuses it."""
    template = make_template({"fallback_strategy": "script_provisioning"})
    ami = AMIFactory(template=template)
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64")["registry_id"] == str(ami.pk)
    generation = cache.generation()

    AMI.objects.filter(pk=ami.pk).update(status=AMI.Status.REVOKED)     # no save(), no signal

    assert cache.generation() == generation                           # nothing invalidated the entry
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert answer["registry_id"] is None and answer["ami_id"] != ami.ami_id
    assert answer["cached"] is False


def test_a_cached_copy_that_stopped_being_available_is_not_served(make_template):
    template = make_template({"fallback_strategy": "script_provisioning"})
    ami = AMIFactory(template=template)
    services.resolve(template=template, region="us-east-1", architecture="x86_64")
    AMIRegion.objects.filter(ami=ami).update(state=AMIRegion.State.DEREGISTERED)
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64")["registry_id"] is None


def test_a_cached_direct_mapping_whose_image_got_revoked_is_not_served(aws, make_template):
    image = aws.image("us-east-1", "x86_64")
    template = make_template({"ami_mappings": {"us-east-1": image}, "fallback_strategy": "script_provisioning"})
    assert services.resolve(template=template, region="us-east-1")["ami_id"] == image
    ami = AMIFactory(ami_id=image)
    AMI.objects.filter(pk=ami.pk).update(status=AMI.Status.REVOKED)
    assert services.resolve(template=template, region="us-east-1")["ami_id"] != image


def test_template_change_invalidates(make_template):
    template = make_template({"fallback_strategy": "script_provisioning"}, base="amazonlinux-2023")
    first = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert first["resolution_method"] == "fallback_script"
    template.document = {**template.document, "packages": {"system": ["a"] * 6}}
    template.save()
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert answer["cached"] is False
    assert answer["launch_time_estimate_seconds"] == 180 + 60


def test_template_changed_signal_bumps_the_generation(make_template):
    from templates.signals import template_changed

    template = make_template({})
    generation = cache.generation()
    template_changed.send(sender=type(template), template=template)
    assert cache.generation() > generation


def test_ami_changed_signal_bumps_the_generation(make_template):
    from amis.signals import ami_changed

    ami = AMIFactory(template=make_template({}))
    generation = cache.generation()
    ami_changed.send(sender=AMI, ami_id=ami.pk)
    assert cache.generation() > generation


def test_generation_survives_a_flushed_cache():
    django_cache.clear()
    cache.generation_bump()
    assert cache.generation() >= 1


def test_caching_can_be_disabled(make_template, settings):
    settings.REGISTRY_RESOLVER_CACHE_ENABLED = False
    template = make_template({})
    AMIFactory(template=template)
    services.resolve(template=template, region="us-east-1", architecture="x86_64")
    assert services.resolve(template=template, region="us-east-1", architecture="x86_64")["cached"] is False


def test_refresh_bypasses_the_cache_for_moderators_only(make_template, moderator, user):
    from registry.errors import Forbidden

    template = make_template({})
    AMIFactory(template=template)
    services.resolve(template=template, region="us-east-1", architecture="x86_64", user=moderator)
    fresh = services.resolve(template=template, region="us-east-1", architecture="x86_64", user=moderator,
                             refresh=True)
    assert fresh["cached"] is False
    with pytest.raises(Forbidden):
        services.resolve(template=template, region="us-east-1", user=user, refresh=True)


def test_an_answer_is_served_only_in_the_generation_it_was_computed_in():
    key = cache.resolution_key(template_ref="t-gen", region="us-east-1", architecture=None, strategy=None, user=None)
    assert cache.resolution_get(key) == (None, cache.generation())
    seen = cache.generation()
    cache.resolution_set(key, {"ami_id": "ami-0123456789abcdef0"}, generation_seen=seen)
    assert cache.resolution_get(key) == ({"ami_id": "ami-0123456789abcdef0"}, seen)
    cache.generation_bump()   # same key, newer generation: the entry is no longer an answer
    assert cache.resolution_get(key) == (None, seen + 1)
