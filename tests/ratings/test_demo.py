"""ratings/demo.py: polite without AMIs, idempotent, consistent aggregates."""
import io

import pytest

from amis.models import AMI, Download
from ratings import demo
from ratings.models import Rating
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db


def test_seed_without_approved_amis_adds_nothing(user, other_user, moderator):
    AMIFactory(status=AMI.Status.DRAFT)
    out = io.StringIO()
    demo.seed(stdout=out, admin=moderator, researcher=user, moderator=other_user)
    assert "no approved AMIs" in out.getvalue()
    assert not Rating.objects.exists()


def test_seed_is_idempotent_and_keeps_aggregates_exact(user, other_user, moderator):
    owner_ami = AMIFactory(creator=user)          # the researcher's own: not rated by them
    others = [AMIFactory() for _ in range(2)]
    kwargs = dict(stdout=io.StringIO(), admin=moderator, researcher=user, moderator=other_user)

    demo.seed(**kwargs)
    ratings, downloads = Rating.objects.count(), Download.objects.count()
    demo.seed(**kwargs)

    assert (Rating.objects.count(), Download.objects.count()) == (ratings, downloads)
    assert not Rating.objects.filter(ami=owner_ami, user=user).exists()
    assert ratings == 3 * 6 - 1   # six reviewers on three AMIs, minus the owner on their own
    for ami in [owner_ami, *others]:
        ami.refresh_from_db()
        rows = list(Rating.objects.filter(ami=ami).values_list("rating", flat=True))
        assert ami.rating_count == len(rows) and ami.rating_sum == sum(rows)
        assert ami.download_count == Download.objects.filter(ami=ami).count() > 0
