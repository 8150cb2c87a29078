"""Cross-app fixtures. Tests use the real PostgreSQL and Redis configured in registry.settings.test."""
import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty Django cache (Redis db 15 in tests)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def make_user(db, django_user_model):
    def make(username="alice", *, moderator=False, superuser=False, password="correct-horse-battery", **extra):
        if superuser:
            return django_user_model.objects.create_superuser(username=username, password=password,
                                                             email=f"{username}@example.org", **extra)
        user = django_user_model.objects.create_user(username=username, password=password,
                                                     email=f"{username}@example.org", **extra)
        if moderator:
            user.groups.add(Group.objects.get(name="moderators"))
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def other_user(make_user):
    return make_user("bob")


@pytest.fixture
def moderator(make_user):
    return make_user("mod", moderator=True)


@pytest.fixture
def auth_client(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def client_for(user):
    """An APIClient authenticated as ``user`` (None → anonymous)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
