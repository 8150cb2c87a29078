"""Racing grants on real PostgreSQL with real threads: duplicates end as one row and 409s."""
import threading

import pytest
from django.db import connection

from registry.errors import Conflict
from sharing.models import Share
from sharing.services import share_create
from tests.factories import AMIFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_grant_posted_concurrently_is_created_once():
    owner = UserFactory(username="owner")
    UserFactory(username="friend")
    ami = AMIFactory(creator=owner)
    barrier = threading.Barrier(8)
    outcomes, unexpected = [], []

    def post():
        try:
            barrier.wait(timeout=30)
            share_create(ami=ami, user=owner, grantee_type="user", grantee="friend")
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:  # anything else (an IntegrityError leaking as a 500) fails the test
            unexpected.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert unexpected == []
    assert sorted(outcomes) == ["conflict"] * 7 + ["created"]
    assert Share.objects.filter(ami=ami, grantee_type="user", grantee="friend").count() == 1
