"""URL names are namespaced (``api:`` for the REST API, ``web:`` for pages) and unique in each."""
from collections import Counter

from django.urls import get_resolver, reverse


def _names(patterns, namespace=""):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _names(pattern.url_patterns, pattern.namespace or namespace)
        elif pattern.name:
            yield namespace, pattern.name


def test_every_name_exists_once_per_namespace():
    counts = Counter(_names(get_resolver().url_patterns))
    assert [key for key, n in counts.items() if n > 1] == []
    assert ("api", "ami-detail") in counts and ("web", "ami-detail") in counts


def test_the_same_name_reverses_to_the_api_or_the_page():
    ref = "ami-0123456789abcdef0"
    assert reverse("api:ami-detail", args=[ref]) == f"/api/v1/amis/{ref}"
    assert reverse("web:ami-detail", args=[ref]) == f"/amis/{ref}/"
