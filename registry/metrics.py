"""Prometheus metrics, exposed at /metrics (registry.health.metrics_view)."""
from prometheus_client import REGISTRY, Counter, Histogram

AWS_CALLS = Counter("registry_aws_calls_total", "AWS API calls made", ["operation", "region"])
RESOLUTIONS = Counter("registry_resolutions_total", "Resolutions answered", ["method", "outcome"])
RESOLUTION_LATENCY = Histogram(
    "registry_resolution_seconds", "Time to answer a resolution",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
CACHE_EVENTS = Counter("registry_resolver_cache_total", "Resolver cache lookups", ["cache", "result"])
TASKS = Counter("registry_tasks_total", "Celery tasks finished", ["task", "outcome"])
CACHE_ERRORS = Counter("registry_cache_errors_total", "Cache (Redis) calls that failed; served without it",
                       ["operation"])
BROKER_REFUSALS = Counter("registry_broker_unavailable_total",
                          "Writes refused with 503 because the Celery broker was unreachable", ["task"])

# Collectors computed at scrape time (gauges read from the database), registered by the apps
# that own the numbers (in their AppConfig.ready); /metrics adds them in multiprocess mode too.
SCRAPE_COLLECTORS: list = []


def collector_register(collector) -> None:
    """Expose ``collector`` on /metrics (once per process, whatever the number of calls)."""
    if any(type(c) is type(collector) for c in SCRAPE_COLLECTORS):
        return
    SCRAPE_COLLECTORS.append(collector)
    REGISTRY.register(collector)
