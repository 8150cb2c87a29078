"""The visibility matrix of the AMI endpoints: who sees which entry (404, never 403, when not)."""
import pytest

from amis.models import AMI
from amis.selectors import ami_get_visible, ami_is_visible
from registry.models import Community
from sharing.models import Share
from tests.amis.helpers import client_for, make_ami, url

pytestmark = pytest.mark.django_db
S, V = AMI.Status, AMI.Visibility

ENTRIES = {
    "draft": (S.DRAFT, V.PRIVATE),
    "pending": (S.PENDING_REVIEW, V.PUBLIC),
    "approved-private": (S.APPROVED, V.PRIVATE),
    "approved-public": (S.APPROVED, V.PUBLIC),
    "revoked": (S.REVOKED, V.PUBLIC),
}
VIEWERS = ["anonymous", "owner", "other", "user-grantee", "community-grantee", "moderator"]
# Who may see each entry (everything else must answer 404 on every endpoint).
VISIBLE = {
    # A draft is its owner's alone; a submission is seen by its grantees (sharing does not wait
    # for a moderator) and by the moderators who review it.
    "draft": {"owner"},
    "pending": {"owner", "user-grantee", "community-grantee", "moderator"},
    "approved-private": {"owner", "user-grantee", "community-grantee", "moderator"},
    "approved-public": set(VIEWERS),
    "revoked": {"owner", "moderator"},
}


@pytest.fixture
def world(make_user):
    people = {
        "anonymous": None,
        "owner": make_user("owner"),
        "other": make_user("other"),
        "user-grantee": make_user("grantee"),
        "community-grantee": make_user("member"),
        "moderator": make_user("moderator1", moderator=True),
    }
    lab = Community.objects.create(slug="genomics-lab", name="Genomics lab")
    lab.memberships.create(user=people["community-grantee"])
    entries = {}
    for key, (status, visibility) in ENTRIES.items():
        ami = make_ami(people["owner"], status=status, visibility=visibility, name=f"entry {key}")
        # Every entry is shared with the grantees: sharing must not reveal drafts or revoked entries.
        Share.objects.create(ami=ami, grantee_type="user", grantee="grantee", user=people["user-grantee"],
                             sync_state="synced")
        Share.objects.create(ami=ami, grantee_type="community", grantee="genomics-lab", community=lab,
                             sync_state="synced")
        entries[key] = ami
    return people, entries


MATRIX = [(entry, viewer) for entry in ENTRIES for viewer in VIEWERS]


@pytest.mark.parametrize("entry, viewer", MATRIX)
def test_visibility_check_alone_agrees_with_the_matrix(world, entry, viewer):
    """``ami_is_visible`` (what pages ask before linking to another entry) answers as the matrix,
    for every way of naming the entry."""
    people, entries = world
    ami = entries[entry]
    for ref in (str(ami.pk), ami.ami_id):
        assert ami_is_visible(user=people[viewer], ref=ref) is (viewer in VISIBLE[entry]), ref
        assert (ami_get_visible(user=people[viewer], ref=ref) is not None) is (viewer in VISIBLE[entry]), ref
    assert ami_is_visible(user=people[viewer], ref="not-an-ami") is False


@pytest.mark.parametrize("entry, viewer", MATRIX)
def test_read_endpoints(world, entry, viewer):
    people, entries = world
    ami = entries[entry]
    client = client_for(people[viewer])
    visible = viewer in VISIBLE[entry]

    detail = client.get(url(ami))
    assert detail.status_code == (200 if visible else 404)
    if not visible:
        assert detail.json()["code"] == "not_found"
    else:
        # Grants are shown to the owner and moderators only.
        assert ("shares" in detail.json()) == (viewer in {"owner", "moderator"})
    assert client.get(url(str(ami.pk))).status_code == (200 if visible else 404)  # by uuid too
    assert client.get(url(ami, "/stats")).status_code == (200 if visible else 404)
    downloads = client.post(url(ami, "/downloads"), {"region": "us-east-1"}, format="json")
    assert downloads.status_code == (404 if not visible else (409 if entry == "revoked" else 201))
    listed = {a["ami_id"] for a in client.get("/api/v1/amis/", {"status": ENTRIES[entry][0]}).json()["results"]}
    assert (ami.ami_id in listed) == visible


@pytest.mark.parametrize("entry, viewer", MATRIX)
def test_write_endpoints_hide_invisible_entries(world, entry, viewer):
    people, entries = world
    ami = entries[entry]
    client = client_for(people[viewer])
    visible = viewer in VISIBLE[entry]
    # DELETE last: it may legitimately remove the owner's draft.
    for method, suffix, body in (("patch", "", {"name": "x"}), ("post", "/submit", {}), ("post", "/approve", {}),
                                 ("post", "/reject", {"reason": "r"}), ("post", "/deprecate", {}),
                                 ("post", "/revoke", {"reason": "r"}), ("delete", "", None)):
        response = getattr(client, method)(url(ami, suffix), body, format="json")
        if viewer == "anonymous":
            assert response.status_code == 401, (method, suffix)
        elif not visible:
            assert response.status_code == 404, (method, suffix)
        else:
            # Visible: allowed or refused for a reason (403/409), never "not found".
            assert response.status_code in (200, 204, 403, 409), (method, suffix, response.status_code)
    if viewer == "anonymous" or not visible:
        assert AMI.objects.get(pk=ami.pk).status == ENTRIES[entry][0]  # nothing changed


def test_anonymous_browse_shows_only_approved_public(world):
    people, entries = world
    listed = {a["name"] for a in client_for(None).get("/api/v1/amis/").json()["results"]}
    assert listed == {"entry approved-public"}


def test_default_browse_hides_revoked_even_for_moderators(world):
    people, entries = world
    listed = {a["name"] for a in client_for(people["moderator"]).get("/api/v1/amis/").json()["results"]}
    assert "entry revoked" not in listed and len(listed) == 3  # others' drafts are not theirs to see


def test_community_visibility_reaches_every_signed_in_user(make_user):
    owner, someone = make_user("o"), make_user("s")
    ami = make_ami(owner, status=S.APPROVED, visibility=V.COMMUNITY)
    assert client_for(someone).get(url(ami)).status_code == 200
    assert client_for(None).get(url(ami)).status_code == 404


def test_grant_to_the_default_community_reaches_every_user(make_user):
    owner, someone = make_user("o"), make_user("s")
    everyone, _ = Community.objects.get_or_create(slug="cloudworkstation", defaults={"name": "CW", "is_default": True})
    ami = make_ami(owner, status=S.APPROVED, visibility=V.PRIVATE)
    assert client_for(someone).get(url(ami)).status_code == 404
    Share.objects.create(ami=ami, grantee_type="community", grantee=everyone.slug, community=everyone)
    assert client_for(someone).get(url(ami)).status_code == 200
    # Deleting the grant removes access at once.
    Share.objects.filter(ami=ami).delete()
    assert client_for(someone).get(url(ami)).status_code == 404


def test_regional_copy_id_names_the_entry(user):
    from tests.factories import AMIRegionFactory

    ami = make_ami(user)
    copy = AMIRegionFactory(ami=ami, region="eu-west-1", copied_from="us-east-1")
    body = client_for(None).get(url(copy.image_id)).json()
    assert body["id"] == str(ami.pk)
    assert {"region": "eu-west-1", "ami_id": copy.image_id, "state": "available", "source": "us-east-1",
            "last_tested": None} in body["regions"]


@pytest.mark.parametrize("ref", ["nope", "ami-zzz", "ami-0123456789abcdef0", "00000000-0000-0000-0000-000000000000",
                                 "x" * 300, "ami-%00", "ami-0123456789abcdef%00", "%00", "ami-%C3%BF"])
def test_unknown_refs_are_404(ref, user):
    assert client_for(None).get(url(ref)).status_code == 404
    assert client_for(user).post(url(ref, "/downloads"), {"region": "us-east-1"}, format="json").status_code == 404
    assert client_for(user).get(url(ref, "/stats")).status_code == 404
