"""Channels under real concurrency: real PostgreSQL, real threads, one connection each.

``transaction=True`` so every thread's transaction really commits and really waits on the
lineage row lock. The history must read as one chain (each move starts where the previous one
ended) whatever order the moves land in, and a revocation racing moves onto the revoked version
must leave no channel pointing at it.
"""
import pytest
from django.contrib.auth import get_user_model

from amis import services
from amis.lineages import channel_move
from amis.models import AMI, Channel, ChannelMove, Lineage
from registry.errors import Conflict
from tests.factories import AMIFactory
from tests.ratings.test_concurrency import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def _setup(n_versions: int):
    users = get_user_model().objects
    owner = users.create_user(username="owner", password="x-correct-horse")
    moderator = users.create_superuser(username="root", password="x-correct-horse", email="root@example.org")
    lineage = Lineage.objects.create(owner=owner, name="line")
    Channel.objects.create(lineage=lineage, name="latest", managed=True)
    versions = [AMIFactory(creator=owner, lineage=lineage, version=f"1.{i}.0", status=AMI.Status.APPROVED)
                for i in range(n_versions)]
    return owner, moderator, lineage, versions


def test_concurrent_moves_of_one_channel_form_one_history_chain():
    owner, _moderator, lineage, versions = _setup(8)

    run_concurrently([lambda v=v: channel_move(ami=v, channel="stable", user=owner) for v in versions])

    moves = list(ChannelMove.objects.filter(channel__lineage=lineage, channel__name="stable").order_by("id"))
    assert len(moves) == 8
    assert moves[0].from_ami_id is None
    for earlier, later in zip(moves, moves[1:]):
        assert later.from_ami_id == earlier.to_ami_id        # nobody moved from a stale position
    assert Channel.objects.get(lineage=lineage, name="stable").ami_id == moves[-1].to_ami_id
    assert {m.to_ami_id for m in moves} == {v.pk for v in versions}


def test_revocation_racing_moves_leaves_no_channel_on_the_revoked_version():
    owner, moderator, lineage, versions = _setup(3)
    target = versions[2]
    outcomes = []

    def move(name):
        try:
            channel_move(ami=AMI.objects.get(pk=target.pk), channel=name, user=owner)
            outcomes.append("moved")
        except Conflict:
            outcomes.append("refused")

    calls = [lambda n=n: move(n) for n in ("stable", "testing", "beta", "edge")]
    calls.append(lambda: services.ami_revoke(ami=AMI.objects.get(pk=target.pk), moderator=moderator,
                                             reason="found a backdoor"))
    run_concurrently(calls)

    assert AMI.objects.get(pk=target.pk).status == AMI.Status.REVOKED
    assert not Channel.objects.filter(lineage=lineage, ami_id=target.pk).exists()
    # Every move that landed before the revocation was moved back to the previous version.
    for channel in Channel.objects.filter(lineage=lineage, managed=False):
        assert channel.ami_id == versions[1].pk
    assert len(outcomes) == 4
