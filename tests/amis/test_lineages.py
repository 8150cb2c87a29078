"""Lineages, versions and channels: registration with a lineage, the managed ``latest``, moving a
channel (API, permissions, history, audit), and the cascades of deprecation and revocation."""
import boto3
import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from amis import services
from amis.lineages import channel_move
from amis.models import AMI, Channel, ChannelMove, Lineage
from registry.aws_accounts import aws_account_link
from registry.errors import Conflict
from registry.models import AuditEvent
from tests.amis.helpers import client_for
from tests.factories import AMIFactory, TemplateFactory, UserFactory

pytestmark = pytest.mark.django_db
S = AMI.Status


def register_body(image_id, **kw):
    return {"ami_id": image_id, "region": "us-east-1", "name": "Genomics", "template": "genomics",
            "lineage": "genomics-pipeline", "version": "1.0.0", **kw}


def version_of(owner, version, *, status=S.APPROVED, name="genomics-pipeline", template=None) -> AMI:
    """A version of ``owner``'s lineage ``name``, made through the services (DB only)."""
    template = template or TemplateFactory(slug="genomics", name="Genomics")
    lineage, created = Lineage.objects.get_or_create(owner=owner, name=name, defaults={"template": template})
    if created:
        Channel.objects.create(lineage=lineage, name="latest", managed=True)
    ami = AMIFactory(creator=owner, template=template, lineage=lineage, version=version, status=S.PENDING_REVIEW)
    if status == S.APPROVED:
        services.ami_approve(ami=ami, moderator=_moderator())
    elif status != S.PENDING_REVIEW:
        AMI.objects.filter(pk=ami.pk).update(status=status)
    ami.refresh_from_db()
    return ami


def _moderator():
    mod = UserFactory(username="the-moderator")
    mod.groups.add(Group.objects.get_or_create(name="moderators")[0])
    return mod


def channel(ami_or_lineage, name):
    lineage = ami_or_lineage.lineage if isinstance(ami_or_lineage, AMI) else ami_or_lineage
    return Channel.objects.filter(lineage=lineage, name=name).select_related("ami").first()


# --- registration -------------------------------------------------------------------------------------

def test_register_with_lineage_creates_it_with_latest(aws, user):
    TemplateFactory(slug="genomics", name="Genomics")
    image_id = aws.image()

    response = client_for(user).post("/api/v1/amis/", register_body(image_id), format="json")

    assert response.status_code == 201, response.json()
    ami = AMI.objects.get(ami_id=image_id)
    assert ami.lineage.name == "genomics-pipeline" and ami.lineage.owner == user and ami.version == "1.0.0"
    assert ami.lineage.template.slug == "genomics"
    assert response.json()["lineage"] == str(ami.lineage_id)
    assert response.json()["version_info"]["lineage"]["name"] == "genomics-pipeline"
    latest = channel(ami, "latest")
    assert latest.managed and latest.ami is None          # a draft is no published version
    assert AuditEvent.objects.filter(action="lineage.create", target_id=str(ami.lineage_id)).exists()
    assert AuditEvent.objects.get(action="version.create").after["version"] == "1.0.0"


@pytest.mark.parametrize("body, field", [
    ({"version": "1.4"}, "version"),
    ({"version": ""}, "version"),
    ({"lineage": "Bad Name"}, "lineage"),
    ({"lineage": 7}, "lineage"),
])
def test_register_with_lineage_validates_fields(aws, user, body, field):
    TemplateFactory(slug="genomics", name="Genomics")
    response = client_for(user).post("/api/v1/amis/", register_body(aws.image(), **body), format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not AMI.objects.exists()


def test_register_same_version_twice_is_409_naming_version(aws, user):
    TemplateFactory(slug="genomics", name="Genomics")
    client = client_for(user)
    assert client.post("/api/v1/amis/", register_body(aws.image()), format="json").status_code == 201

    response = client.post("/api/v1/amis/", register_body(aws.image()), format="json")

    assert response.status_code == 409 and response.json()["code"] == "version_exists"
    assert "version" in response.json()["errors"]


def test_register_into_a_lineage_of_another_template_is_400(aws, user):
    TemplateFactory(slug="genomics", name="Genomics")
    TemplateFactory(slug="other", name="Other")
    client = client_for(user)
    assert client.post("/api/v1/amis/", register_body(aws.image()), format="json").status_code == 201

    response = client.post("/api/v1/amis/", register_body(aws.image(), template="other", version="2.0.0"),
                           format="json")

    assert response.status_code == 400 and "lineage" in response.json()["errors"]


def test_another_publisher_has_their_own_lineage_of_the_same_name(aws, user, other_user):
    TemplateFactory(slug="genomics", name="Genomics")
    assert client_for(user).post("/api/v1/amis/", register_body(aws.image()), format="json").status_code == 201
    # The other publisher registers an image of their own AWS account (the first one's is taken).
    link, _created = aws_account_link(user=other_user, role_arn="arn:aws:iam::222222222222:role/cws-registry")
    assert link.verified_at is not None
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=link.role_arn, RoleSessionName="owner")["Credentials"]
    theirs = boto3.client("ec2", region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"],
                          aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    base = theirs.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = theirs.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = theirs.create_image(InstanceId=instance, Name="their-genomics")["ImageId"]
    assert client_for(other_user).post("/api/v1/amis/", register_body(image), format="json").status_code == 201
    assert Lineage.objects.filter(name="genomics-pipeline").count() == 2


def test_version_is_frozen_once_approved(user, moderator):
    ami = version_of(user, "1.0.0")
    response = client_for(user).patch(f"/api/v1/amis/{ami.ami_id}", {"version": "1.0.1"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "version_frozen"
    draft = version_of(user, "1.1.0", status=S.DRAFT)
    response = client_for(user).patch(f"/api/v1/amis/{draft.ami_id}", {"version": "1.1"}, format="json")
    assert response.status_code == 400 and "version" in response.json()["errors"]
    response = client_for(user).patch(f"/api/v1/amis/{draft.ami_id}", {"version": "1.1.1"}, format="json")
    assert response.status_code == 200 and response.json()["version"] == "1.1.1"


def test_database_refuses_a_duplicate_version():
    ami = AMIFactory(version="1.0.0", lineage=Lineage.objects.create(name="x", owner=None))
    with pytest.raises(IntegrityError), transaction.atomic():
        AMIFactory(version="1.0.0", lineage=ami.lineage)
    with pytest.raises(IntegrityError), transaction.atomic():
        AMIFactory(version="", lineage=ami.lineage)


# --- latest and publishing -------------------------------------------------------------------------

def test_approval_publishes_and_moves_latest_to_the_newest_only(user):
    v1 = version_of(user, "1.0.0")
    assert channel(v1, "latest").ami == v1
    v2 = version_of(user, "2.0.0")
    assert channel(v1, "latest").ami == v2
    version_of(user, "1.5.0")                       # a backport: not the newest
    assert channel(v1, "latest").ami == v2
    published = AuditEvent.objects.filter(action="version.publish").order_by("id")
    assert [e.after["version"] for e in published] == ["1.0.0", "2.0.0", "1.5.0"]
    assert all(e.after["lineage_key"] == str(v1.lineage_id) for e in published)
    moves = ChannelMove.objects.filter(channel__name="latest").order_by("id")
    assert [(m.from_version, m.to_version, m.cause) for m in moves] == [
        ("", "1.0.0", "published"), ("1.0.0", "2.0.0", "published")]


# --- moving channels ---------------------------------------------------------------------------------

def test_owner_moves_a_channel_over_the_api(user):
    v1, v2 = version_of(user, "1.0.0"), version_of(user, "1.1.0")
    client = client_for(user)

    first = client.post(f"/api/v1/amis/{v1.ami_id}/channel", {"channel": "stable"}, format="json")
    second = client.post(f"/api/v1/amis/{v2.ami_id}/channel", {"channel": "stable", "reason": "tested"},
                         format="json")
    again = client.post(f"/api/v1/amis/{v2.ami_id}/channel", {"channel": "stable"}, format="json")

    assert first.status_code == second.status_code == again.status_code == 200
    assert first.json()["moved"] and second.json()["move"]["from_version"] == "1.0.0"
    assert again.json()["moved"] is False                       # idempotent: no second history row
    assert channel(v1, "stable").ami == v2
    moves = ChannelMove.objects.filter(channel__name="stable").order_by("id")
    assert [(m.from_version, m.to_version, m.actor) for m in moves] == [("", "1.0.0", user), ("1.0.0", "1.1.0", user)]
    event = AuditEvent.objects.filter(action="channel.move", after__channel="stable").latest("id")
    assert event.reason == "tested" and event.after["to_version"] == "1.1.0" and event.after["ami"] == str(v2.pk)


@pytest.mark.parametrize("body, status, code", [
    ({"channel": "latest"}, 400, "invalid_parameters"),
    ({"channel": "Not OK"}, 400, "invalid_parameters"),
    ({}, 400, "invalid_parameters"),
])
def test_bad_channel_names(user, body, status, code):
    v1 = version_of(user, "1.0.0")
    response = client_for(user).post(f"/api/v1/amis/{v1.ami_id}/channel", body, format="json")
    assert response.status_code == status and response.json()["code"] == code
    assert "channel" in response.json()["errors"]


def test_who_may_move_and_what(user, other_user, moderator):
    v1 = version_of(user, "1.0.0")
    pending = version_of(user, "1.1.0", status=S.PENDING_REVIEW)
    loose = AMIFactory(creator=user)
    assert client_for(other_user).post(f"/api/v1/amis/{v1.ami_id}/channel", {"channel": "stable"},
                                       format="json").status_code == 403
    assert client_for(moderator).post(f"/api/v1/amis/{v1.ami_id}/channel", {"channel": "stable"},
                                      format="json").status_code == 200
    assert client_for(other_user).post(f"/api/v1/amis/{pending.ami_id}/channel", {"channel": "stable"},
                                       format="json").status_code == 404        # invisible to others
    response = client_for(user).post(f"/api/v1/amis/{pending.ami_id}/channel", {"channel": "stable"},
                                          format="json")
    assert response.status_code == 409 and response.json()["current_status"] == "pending_review"
    response = client_for(user).post(f"/api/v1/amis/{loose.ami_id}/channel", {"channel": "stable"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "not_in_lineage"


# --- deprecation and revocation -------------------------------------------------------------------------

def test_revoking_moves_channels_back_and_says_so(user, moderator):
    v1, v2, v3 = version_of(user, "1.0.0"), version_of(user, "1.1.0"), version_of(user, "2.0.0")
    channel_move(ami=v2, channel="stable", user=user)
    channel_move(ami=v3, channel="testing", user=user)

    response = client_for(moderator).post(f"/api/v1/amis/{v3.ami_id}/revoke", {"reason": "broken"}, format="json")

    assert response.status_code == 200, response.json()
    moved = {m["channel"]: m for m in response.json()["channels_moved"]}
    assert moved == {"testing": {"channel": "testing", "from_version": "2.0.0", "to_version": "1.1.0",
                                 "to_ami": v2.ami_id},
                     "latest": {"channel": "latest", "from_version": "2.0.0", "to_version": "1.1.0",
                                "to_ami": v2.ami_id}}
    assert channel(v1, "stable").ami == v2                     # pointed elsewhere: untouched
    event = AuditEvent.objects.get(action="ami.revoke", target_id=str(v3.pk))
    assert {m["channel"] for m in event.after["channels_moved"]} == {"testing", "latest"}
    assert ChannelMove.objects.filter(from_ami=v3, cause="revoked").count() == 2


def test_revoking_the_only_version_empties_its_channels(user, moderator):
    v1 = version_of(user, "1.0.0")
    channel_move(ami=v1, channel="stable", user=user)

    services.ami_revoke(ami=v1, moderator=moderator, reason="malware")

    assert channel(v1, "stable").ami is None and channel(v1, "latest").ami is None
    assert Channel.objects.filter(lineage=v1.lineage, ami__status=S.REVOKED).count() == 0
    response = client_for(moderator).get(f"/api/v1/lineages/{v1.lineage_id}")
    stable = next(c for c in response.json()["channels"] if c["name"] == "stable")
    assert stable["empty"] and stable["version"] is None


def test_deprecating_supersedes_by_the_next_version_and_moves_channels_to_it(user):
    v1, v2 = version_of(user, "1.0.0"), version_of(user, "1.1.0")
    channel_move(ami=v1, channel="stable", user=user)

    response = client_for(user).post(f"/api/v1/amis/{v1.ami_id}/deprecate", {"reason": "old"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["replacement"] == v2.ami_id
    assert response.json()["channels_moved"] == [{"channel": "stable", "from_version": "1.0.0",
                                                  "to_version": "1.1.0", "to_ami": v2.ami_id}]
    assert channel(v1, "stable").ami == v2


def test_revoke_then_move_onto_it_is_refused(user, moderator):
    v1 = version_of(user, "1.0.0")
    services.ami_revoke(ami=v1, moderator=moderator, reason="bad")
    v1.refresh_from_db()
    with pytest.raises(Conflict):
        channel_move(ami=v1, channel="stable", user=moderator)


# --- reading ---------------------------------------------------------------------------------------------

def test_lineage_endpoint_lists_versions_channels_and_history(user, moderator, api_client):
    v1, v2 = version_of(user, "1.0.0"), version_of(user, "1.10.0")
    version_of(user, "1.2.0", status=S.DRAFT)              # invisible to others
    channel_move(ami=v1, channel="stable", user=user)

    body = api_client.get(f"/api/v1/lineages/{v1.lineage_id}").json()

    assert body["name"] == "genomics-pipeline" and body["owner"] == user.username and body["template"] == "genomics"
    assert [v["version"] for v in body["versions"]] == ["1.10.0", "1.0.0"]        # SemVer order, not text
    assert body["versions"][0]["approved_by"] == "the-moderator"
    assert body["versions"][0]["channels"] == ["latest"] and body["versions"][1]["channels"] == ["stable"]
    assert body["versions"][0]["regions"][0]["region"] == "us-east-1"
    assert {c["name"]: c["version"] for c in body["channels"]} == {"latest": "1.10.0", "stable": "1.0.0"}
    assert [h["to_version"] for h in body["history"]][:1] == ["1.0.0"]
    own = client_for(user).get(f"/api/v1/lineages/{v1.lineage_id}").json()
    assert [v["version"] for v in own["versions"]] == ["1.10.0", "1.2.0", "1.0.0"]
    listed = api_client.get("/api/v1/lineages/?template=genomics").json()
    assert [row["id"] for row in listed["results"]] == [str(v1.lineage_id)]
    assert api_client.get("/api/v1/lineages/?template=nope").status_code == 400
    assert api_client.get("/api/v1/lineages/not-a-uuid").status_code == 404
    detail = api_client.get(f"/api/v1/amis/{v1.ami_id}").json()
    assert detail["version_info"]["channels"] == ["stable"]
    assert detail["version_info"]["newer_version"]["version"] == "1.10.0"
    assert api_client.get(f"/api/v1/amis/{v2.ami_id}").json()["version_info"]["newer_version"] is None


# --- pages -----------------------------------------------------------------------------------------------

def test_lineage_page_and_the_ami_page_badges(user, client):
    v1, v2 = version_of(user, "1.0.0"), version_of(user, "1.1.0")
    AMI.objects.filter(pk=v2.pk).update(description="Adds samtools 1.20")
    channel_move(ami=v1, channel="stable", user=user)

    page = client.get(f"/lineages/{v1.lineage_id}/")
    old = client.get(f"/amis/{v1.pk}/")
    new = client.get(f"/amis/{v2.pk}/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "1.1.0" in html and "Adds samtools 1.20" in html and "the-moderator" in html and "us-east-1" in html
    assert "Channel history" in html and "stable" in html
    assert 'id="newer-version"' in old.content.decode() and ">stable</span>" in old.content.decode()
    assert 'id="newer-version"' not in new.content.decode() and ">latest</span>" in new.content.decode()
    assert client.get("/lineages/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_subscribe_to_a_lineage_and_its_feed(user, other_user, client):
    v1 = version_of(user, "1.0.0")
    response = client_for(other_user).post("/api/v1/subscriptions/", {
        "target_type": "lineage", "lineage": str(v1.lineage_id), "event_types": ["version.published"]},
        format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["lineage_key"] == str(v1.lineage_id)
    unknown = client_for(other_user).post("/api/v1/subscriptions/", {
        "target_type": "lineage", "lineage": "nope", "event_types": ["version.published"]}, format="json")
    assert unknown.status_code == 400 and "lineage" in unknown.json()["errors"]
    feed = client.get(f"/feeds/lineages/{v1.lineage_id}.atom")
    assert feed.status_code == 200 and b"<feed" in feed.content and v1.name.encode() in feed.content
    client.force_login(other_user)
    page = client.get(f"/me/notifications/?lineage={v1.lineage_id}")
    assert page.status_code == 200 and str(v1.lineage_id).encode() in page.content
