"""The Redis cache backend reuses one client per connection pool (registry.redis_cache)."""
from django.core.cache import cache, caches

from registry.cache import cache_count, cache_ttl
from registry.redis_cache import PooledRedisCache


def test_the_configured_cache_reuses_its_client():
    assert isinstance(caches["default"], PooledRedisCache)
    client = cache._cache.get_client("a")
    assert cache._cache.get_client("b") is client and cache._cache.get_client("c", write=True) is client


def test_operations_still_work_through_the_shared_client():
    cache.delete_many(["registry-cache-probe", "registry-cache-count"])
    cache.set("registry-cache-probe", {"n": 1}, 30)
    assert cache.get("registry-cache-probe") == {"n": 1}
    assert cache.add("registry-cache-count", 1, 30) and cache.incr("registry-cache-count") == 2
    cache.delete_many(["registry-cache-probe", "registry-cache-count"])
    assert cache.get_many(["registry-cache-probe", "registry-cache-count"]) == {}


def test_cache_count_counts_in_one_round_trip_and_keeps_the_first_expiry():
    cache.delete("count-test")
    assert [cache_count("count-test", 300) for _ in range(3)] == [1, 2, 3]
    assert cache.get("count-test") == 3  # readable as Django stores integers
    assert 0 < cache_ttl("count-test") <= 300
    cache_count("count-test", 9999)  # a later count never extends the key's life
    assert cache_ttl("count-test") <= 300
    cache.delete("count-test")
