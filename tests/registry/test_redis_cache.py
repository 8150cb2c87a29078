"""The Redis cache backend reuses one client per connection pool (registry.redis_cache)."""
from django.core.cache import cache, caches

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
