"""Rules that several endpoints share have one home; here each is checked on every path that uses it.

* visible or 404 (``amis.selectors.ami_get_visible_or_404``): an AMI the caller may not see is
  "not found" on every endpoint and page, never "forbidden";
* owner or moderator (``ami_require_manage``): another user who *can* see the AMI gets 403 on
  every endpoint that changes it or shows its grants, the owner and moderators get through;
* the tag limit (``amis.metadata.TAGS_MAX``, AWS's 50 per resource) on registration, editing and
  create-from-instance (where the registry's own five image tags count too).
"""
import pytest

from amis.aws_create import REGISTRY_IMAGE_TAGS
from amis.metadata import TAGS_MAX
from amis.models import AMI
from tests.conftest import client_for
from tests.factories import AMIFactory, TemplateFactory

pytestmark = pytest.mark.django_db

# Every API endpoint and page that takes an AMI reference, with a body that is otherwise valid.
READS = [
    ("get", "/api/v1/amis/{ref}", None),
    ("get", "/api/v1/amis/{ref}/stats", None),
    ("get", "/api/v1/amis/{ref}/ratings/", None),
    ("get", "/api/v1/amis/{ref}/shares/", None),
    ("get", "/api/v1/amis/{ref}/manifest", None),
    ("get", "/api/v1/amis/{ref}/scan", None),
    ("get", "/api/v1/amis/{ref}/signature", None),
    ("get", "/api/v1/operations/?ami={ref}", None),
    ("post", "/api/v1/amis/{ref}/copy", {"regions": ["us-west-2"]}),
    ("post", "/api/v1/amis/{ref}/downloads", {"region": "us-east-1"}),
    ("patch", "/api/v1/amis/{ref}", {"name": "x"}),
    ("get", "/amis/{ref}/", None),
]
# Endpoints for the owner or a moderator only (403 for another user who can see the AMI).
MANAGE = [
    ("get", "/api/v1/amis/{ref}/shares/", None),
    # A registry-side grant: AWS grants are the image account's publisher's alone (tests/aws/test_accounts.py).
    ("post", "/api/v1/amis/{ref}/shares/", {"grantee_type": "user", "grantee": "stranger"}),
    ("post", "/api/v1/amis/{ref}/copy", {"regions": ["us-west-2"]}),
    ("post", "/api/v1/amis/{ref}/scan", None),
    ("get", "/api/v1/amis/{ref}/signature", None),
    ("patch", "/api/v1/amis/{ref}", {"name": "renamed"}),
    ("post", "/api/v1/amis/{ref}/deprecate", {"reason": "old"}),
]


def _call(client, method, path, body, ami):
    url = path.format(ref=ami.ami_id)
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


@pytest.mark.parametrize("method, path, body", READS)
def test_an_invisible_ami_is_not_found_everywhere(make_user, method, path, body):
    owner, stranger = make_user("owner"), make_user("stranger")
    private = AMIFactory(creator=owner, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE)
    client = client_for(stranger)
    if not path.startswith("/api/"):
        client.force_login(stranger)
    assert _call(client, method, path, body, private).status_code == 404


@pytest.mark.parametrize("method, path, body", MANAGE)
def test_only_the_owner_or_a_moderator_may_manage(make_user, aws, method, path, body):
    owner, stranger, moderator = make_user("owner"), make_user("stranger"), make_user("mod", moderator=True)
    for who, expected in ((stranger, 403), (owner, None), (moderator, None)):
        listed = AMIFactory(creator=owner, ami_id=aws.image("us-east-1"))  # real images: scans, copies read them
        response = _call(client_for(who), method, path, body, listed)
        if expected == 403:
            assert response.status_code == 403, response.content
            assert "owner or a moderator" in response.json()["message"]
        else:
            assert response.status_code < 400, (who.username, response.content)


def test_the_tag_limit_on_registration_and_editing(aws, user):
    image_id = aws.image("us-east-1")
    body = {"ami_id": image_id, "region": "us-east-1", "name": "tagged", "category": "ML"}
    too_many = {f"k{i}": "v" for i in range(TAGS_MAX + 1)}
    assert client_for(user).post("/api/v1/amis/", {**body, "tags": too_many}, format="json").status_code == 400
    created = client_for(user).post("/api/v1/amis/", {**body, "tags": {f"k{i}": "v" for i in range(TAGS_MAX)}},
                                    format="json")
    assert created.status_code == 201 and len(created.json()["tags"]) == TAGS_MAX
    edit = client_for(user).patch(f"/api/v1/amis/{image_id}", {"tags": too_many}, format="json")
    assert edit.status_code == 400 and "tags" in edit.json()["errors"]
    reserved = client_for(user).patch(f"/api/v1/amis/{image_id}", {"tags": {"aws:owner": "me"}}, format="json")
    assert reserved.status_code == 400 and "aws:" in reserved.json()["message"]


def test_the_tag_limit_on_create_counts_the_registrys_own_image_tags(aws, user):
    TemplateFactory(slug="python-ml", name="Python ML")
    room = TAGS_MAX - len(REGISTRY_IMAGE_TAGS)
    body = {"instance_id": aws.instance("us-east-1"), "template_name": "python-ml"}
    refused = client_for(user).post("/api/v1/ami/create", {**body, "tags": {f"k{i}": "v" for i in range(room + 1)}},
                                    format="json")
    assert refused.status_code == 400 and refused.json()["errors"]["tags"] == [f"At most {room} tags."]
    accepted = client_for(user).post("/api/v1/ami/create", {**body, "tags": {f"k{i}": "v" for i in range(room)}},
                                     format="json")
    assert accepted.status_code == 202, accepted.content
