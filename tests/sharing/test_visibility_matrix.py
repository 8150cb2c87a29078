"""The visibility matrix for the ratings and shares endpoints (ARCHITECTURE.md, *Lifecycle*: who sees what).

Who (anonymous, owner, another user, a user grantee, a member of a grantee community, a
moderator) × what (draft, pending, approved-private, approved-public, revoked) × which endpoint.
Whatever the caller cannot see answers 404 — never 403, which would leak that it exists.
"""
import pytest

from amis.models import AMI
from ratings.models import Rating
from registry.models import Community
from sharing.models import Share
from tests.conftest import client_for
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db

ACTORS = ["anonymous", "owner", "other", "grantee_user", "grantee_community", "moderator"]
ENTRIES = {
    "draft": dict(status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE),
    "pending": dict(status=AMI.Status.PENDING_REVIEW, visibility=AMI.Visibility.PRIVATE),
    "approved_private": dict(status=AMI.Status.APPROVED, visibility=AMI.Visibility.PRIVATE),
    "approved_public": dict(status=AMI.Status.APPROVED, visibility=AMI.Visibility.PUBLIC),
    "revoked": dict(status=AMI.Status.REVOKED, visibility=AMI.Visibility.PUBLIC),
}
# The rule under test, written out once (ARCHITECTURE.md, *Lifecycle*; amis.selectors).
VISIBLE = {
    "anonymous": {"approved_public"},
    "owner": set(ENTRIES),
    "other": {"approved_public"},
    # Grants count once the entry is submitted: sharing does not wait for a moderator.
    "grantee_user": {"pending", "approved_private", "approved_public"},
    "grantee_community": {"pending", "approved_private", "approved_public"},
    "moderator": set(ENTRIES) - {"draft"},   # a draft is its owner's alone
}
MANAGERS = {"owner", "moderator"}
LISTED = {"approved_private", "approved_public"}


@pytest.fixture
def world(make_user):
    users = {
        "owner": make_user("owner"),
        "other": make_user("other"),
        "grantee_user": make_user("guser"),
        "grantee_community": make_user("gmember"),
        "moderator": make_user("mod", moderator=True),
        "anonymous": None,
    }
    lab = Community.objects.create(slug="matrix-lab", name="Matrix lab")
    lab.memberships.create(user=users["grantee_community"])
    amis = {}
    for name, fields in ENTRIES.items():
        ami = AMIFactory(creator=users["owner"], **fields)
        # Rows written directly: the service refuses grants on revoked entries, but a grant made
        # before the revocation may exist, and must not make the entry visible.
        Share.objects.create(ami=ami, grantee_type="user", grantee="guser", user=users["grantee_user"],
                             sync_state="synced")
        Share.objects.create(ami=ami, grantee_type="community", grantee="matrix-lab", community=lab,
                             sync_state="synced")
        amis[name] = ami
    return users, amis


def expected(actor, entry, *, visible_anonymous, manager, other_visible, write=False):
    """404 when invisible; otherwise the endpoint's own answer for this kind of caller.

    Anonymous writes are refused (401) before anything is looked up, which tells nothing either."""
    if actor == "anonymous" and write:
        return 401
    if entry not in VISIBLE[actor]:
        return 404
    if actor == "anonymous":
        return visible_anonymous
    if actor in MANAGERS:
        return manager(entry)
    return other_visible


def _ratings_post(actor, entry):
    if actor == "anonymous":
        return 401  # authentication is checked first and tells nothing about the entry
    if entry not in VISIBLE[actor]:
        return 404
    if actor == "owner":
        return 403
    if entry not in LISTED:
        return 409  # a grantee or moderator sees submissions, a moderator revoked entries: neither is rated
    return 201


CASES = [(actor, entry) for actor in ACTORS for entry in ENTRIES]


@pytest.mark.parametrize("actor, entry", CASES)
def test_ratings_list(world, actor, entry):
    users, amis = world
    response = client_for(users[actor]).get(f"/api/v1/amis/{amis[entry].ami_id}/ratings/")
    assert response.status_code == (200 if entry in VISIBLE[actor] else 404)


@pytest.mark.parametrize("actor, entry", CASES)
def test_ratings_post(world, actor, entry):
    users, amis = world
    response = client_for(users[actor]).post(f"/api/v1/amis/{amis[entry].pk}/ratings/", {"rating": 4})
    want = _ratings_post(actor, entry)
    assert response.status_code == want, response.content
    assert Rating.objects.filter(ami=amis[entry]).count() == (1 if want == 201 else 0)


@pytest.mark.parametrize("actor, entry", CASES)
def test_shares_list(world, actor, entry):
    users, amis = world
    response = client_for(users[actor]).get(f"/api/v1/amis/{amis[entry].pk}/shares/")
    want = expected(actor, entry, visible_anonymous=401, manager=lambda e: 200, other_visible=403)
    assert response.status_code == want
    if want == 200:
        assert {s["grantee"] for s in response.json()} == {"guser", "matrix-lab"}


@pytest.mark.parametrize("actor, entry", CASES)
def test_shares_create(world, actor, entry):
    users, amis = world
    response = client_for(users[actor]).post(f"/api/v1/amis/{amis[entry].pk}/shares/",
                                              {"grantee_type": "user", "grantee": "other"})
    want = expected(actor, entry, visible_anonymous=401, manager=lambda e: 409 if e == "revoked" else 201,
                    other_visible=403, write=True)
    assert response.status_code == want, response.content
    assert Share.objects.filter(ami=amis[entry], grantee="other").exists() == (want == 201)


@pytest.mark.parametrize("actor, entry", CASES)
def test_shares_delete(world, actor, entry):
    users, amis = world
    share = Share.objects.get(ami=amis[entry], grantee_type="user")
    response = client_for(users[actor]).delete(f"/api/v1/amis/{amis[entry].pk}/shares/{share.pk}")
    want = expected(actor, entry, visible_anonymous=401, manager=lambda e: 204, other_visible=403,
                    write=True)
    assert response.status_code == want
    assert Share.objects.filter(pk=share.pk).exists() == (want != 204)
