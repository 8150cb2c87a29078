"""Throttling of the catalogue API (DRF throttles on the real Redis cache): 429, Retry-After,
code rate_limited. Rates are off in test settings; the throttles read the current settings, so
each test overrides them."""
import pytest

from tests.amis.helpers import client_for, make_ami, url

pytestmark = pytest.mark.django_db
LIST = "/api/v1/amis/"


@pytest.fixture
def rates(settings):
    def set_rates(**values):
        table = {"anon": None, "user": None, "write": None, "login": None, **values}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": table}

    return set_rates


def assert_throttled(response):
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "rate_limited" and body["status_code"] == 429
    assert 0 < int(response["Retry-After"]) <= 60


def test_anonymous_reads_are_throttled(rates):
    rates(anon="3/min")
    client = client_for(None)
    for _ in range(3):
        assert client.get(LIST).status_code == 200
    assert_throttled(client.get(LIST))


def test_users_are_counted_separately(rates, user, other_user):
    rates(user="2/min")
    first, second = client_for(user), client_for(other_user)
    assert [first.get(LIST).status_code for _ in range(2)] == [200, 200]
    assert_throttled(first.get(LIST))
    assert second.get(LIST).status_code == 200  # another user's budget is untouched


def test_writes_have_their_own_stricter_budget(rates, user):
    rates(user="100/min", write="2/min")
    ami = make_ami(user)
    client = client_for(user)
    for _ in range(2):
        assert client.post(url(ami, "/downloads"), {"region": "us-east-1"}, format="json").status_code == 201
    assert_throttled(client.post(url(ami, "/downloads"), {"region": "us-east-1"}, format="json"))
    assert client.get(url(ami)).status_code == 200  # reads still pass
    ami.refresh_from_db()
    assert ami.download_count == 2  # the throttled call recorded nothing
