"""Resolving by channel and by version constraint: ``?channel=``, ``template@channel``,
``ami_config.channel``, ``?version=~> 1.4`` — answered from the template's lineages, and the
tiers that know no versions step aside."""
import pytest
from django.contrib.auth.models import Group

from amis import services as ami_services
from amis.lineages import channel_move
from amis.models import AMI, Channel, Lineage
from resolver import services
from tests.amis.helpers import client_for
from tests.factories import AMIFactory, UserFactory

pytestmark = pytest.mark.django_db
S = AMI.Status


@pytest.fixture
def publisher():
    return UserFactory(username="lab-x")


@pytest.fixture
def mod():
    user = UserFactory(username="resolver-mod")
    user.groups.add(Group.objects.get_or_create(name="moderators")[0])
    return user


def versions(template, owner, mod, *numbers, name="line"):
    lineage, created = Lineage.objects.get_or_create(owner=owner, name=name, defaults={"template": template})
    if created:
        Channel.objects.create(lineage=lineage, name="latest", managed=True)
    made = []
    for number in numbers:
        ami = AMIFactory(template=template, creator=owner, lineage=lineage, version=number, status=S.PENDING_REVIEW)
        ami_services.ami_approve(ami=ami, moderator=mod)
        ami.refresh_from_db()
        made.append(ami)
    return made


def test_channel_answers_the_version_it_points_at(make_template, publisher, mod):
    template = make_template({"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"}})
    v1, v2 = versions(template, publisher, mod, "1.0.0", "1.1.0")
    channel_move(ami=v1, channel="stable", user=publisher)

    stable = services.resolve(template=template, region="us-east-1", channel="stable")
    latest = services.resolve(template=f"{template.slug}@latest", region="us-east-1")

    assert stable["ami_id"] == v1.ami_id and stable["version"] == "1.0.0" and stable["channel"] == "stable"
    assert latest["ami_id"] == v2.ami_id and latest["channel"] == "latest"
    # The direct mapping would have answered first: with a channel, only versions answer.
    assert stable["tried"][0] == {"tier": "direct_mapping", "outcome": "skipped",
                                  "reason": "channel 'stable' asked: only the registry's versions answer"}
    assert stable["resolution_method"] == "registry"
    assert "channel 'stable' → version 1.0.0" in stable["tried"][1]["reason"]


def test_channel_move_changes_the_answer_through_the_cache(make_template, publisher, mod):
    template = make_template({})
    v1, v2 = versions(template, publisher, mod, "1.0.0", "1.1.0")
    channel_move(ami=v1, channel="stable", user=publisher)
    assert services.resolve(template=template, region="us-east-1", channel="stable")["ami_id"] == v1.ami_id

    channel_move(ami=v2, channel="stable", user=publisher)

    assert services.resolve(template=template, region="us-east-1", channel="stable")["ami_id"] == v2.ami_id


def test_template_ami_config_channel_is_the_default(make_template, publisher, mod):
    template = make_template({"channel": "stable"})
    v1, _v2 = versions(template, publisher, mod, "1.0.0", "1.1.0")
    channel_move(ami=v1, channel="stable", user=publisher)

    assert services.resolve(template=template, region="us-east-1")["ami_id"] == v1.ami_id
    overridden = services.resolve(template=template, region="us-east-1", channel="latest")
    assert overridden["version"] == "1.1.0"


def test_empty_channel_falls_back_by_strategy(make_template, publisher, mod):
    template = make_template({"strategy": "ami_required"})
    versions(template, publisher, mod, "1.0.0")
    response = client_for(None).get(f"/api/v1/ami/resolve/{template.slug}?region=us-east-1&channel=stable")
    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "no_ami_available"
    registry = next(t for t in response.json()["tried"] if t["tier"] == "registry")
    assert "for channel 'stable'" in registry["reason"]


@pytest.mark.parametrize("constraint, expected", [
    ("~> 1.4", "1.9.0"), ("~> 1.4.0", "1.4.2"), (">= 1.2, < 1.5", "1.4.2"), ("1.2.0", "1.2.0"),
    ("~> 2.0", None),
])
def test_version_constraints_pick_the_newest_match(make_template, publisher, mod, constraint, expected):
    template = make_template({"strategy": "ami_required"})
    made = {v.version: v for v in versions(template, publisher, mod, "1.2.0", "1.4.0", "1.4.2", "1.9.0",
                                           "2.0.0-rc.1")}
    response = client_for(None).get(f"/api/v1/ami/resolve/{template.slug}", {"region": "us-east-1",
                                                                           "version": constraint})
    if expected is None:
        assert response.status_code == 422
        return
    assert response.status_code == 200, response.json()
    assert response.json()["ami_id"] == made[expected].ami_id and response.json()["version"] == expected


def test_channel_and_constraint_together(make_template, publisher, mod):
    template = make_template({"strategy": "ami_required"})
    v1, v2 = versions(template, publisher, mod, "1.4.0", "2.0.0")
    assert services.resolve(template=template, region="us-east-1", channel="latest",
                            version="~> 2.0")["ami_id"] == v2.ami_id
    with pytest.raises(Exception) as refused:
        services.resolve(template=template, region="us-east-1", channel="latest", version="~> 1.4")
    assert getattr(refused.value, "code", "") == "no_ami_available"


def test_revoked_version_is_never_answered_by_its_channel(make_template, publisher, mod):
    template = make_template({})
    v1, v2 = versions(template, publisher, mod, "1.0.0", "1.1.0")
    channel_move(ami=v2, channel="stable", user=publisher)
    assert services.resolve(template=template, region="us-east-1", channel="stable")["ami_id"] == v2.ami_id

    ami_services.ami_revoke(ami=v2, moderator=mod, reason="bad")

    assert services.resolve(template=template, region="us-east-1", channel="stable")["ami_id"] == v1.ami_id


def test_lineages_of_two_publishers_are_ranked_like_any_registry_answer(make_template, publisher, mod):
    template = make_template({})
    (mine,) = versions(template, publisher, mod, "3.0.0")
    (theirs,) = versions(template, UserFactory(username="lab-y"), mod, "1.0.0")
    AMI.objects.filter(pk=theirs.pk).update(verified=True)
    answer = services.resolve(template=template, region="us-east-1", channel="latest")
    assert answer["ami_id"] == theirs.ami_id        # verified first, whatever the version number
    assert mine.ami_id != answer["ami_id"]


@pytest.mark.parametrize("query, field", [
    ({"channel": "Bad!"}, "channel"), ({"version": "~> x"}, "version"), ({"version": ">= 1,"}, "version"),
])
def test_bad_channel_or_version_is_400_naming_the_field(make_template, query, field):
    template = make_template({})
    response = client_for(None).get(f"/api/v1/ami/resolve/{template.slug}", {"region": "us-east-1", **query})
    assert response.status_code == 400 and field in response.json()["errors"]


def test_path_and_parameter_naming_different_channels_is_400(make_template):
    template = make_template({})
    response = client_for(None).get(f"/api/v1/ami/resolve/{template.slug}@stable",
                                    {"region": "us-east-1", "channel": "testing"})
    assert response.status_code == 400 and "channel" in response.json()["errors"]
    response = client_for(None).get(f"/api/v1/ami/resolve/{template.slug}@Bad", {"region": "us-east-1"})
    assert response.status_code == 400 and "channel" in response.json()["errors"]


def test_preview_takes_the_channel_too(make_template, publisher, mod):
    template = make_template({"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"}})
    v1, = versions(template, publisher, mod, "1.0.0")
    body = client_for(None).get(f"/api/v1/ami/preview/{template.slug}@latest", {"region": "us-east-1"}).json()
    assert body["resolution_method"] == "registry" and body["ami_id"] == v1.ami_id
