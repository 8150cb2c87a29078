"""Bad input on every catalogue write endpoint → 400 naming the field (never a 500), and
nothing changes in the database."""
import pytest

from amis.models import AMI
from tests.amis.helpers import client_for, make_ami, url

pytestmark = pytest.mark.django_db

VALID = {"ami_id": "ami-0123456789abcdef0", "region": "us-east-1", "name": "A name", "category": "ML"}


@pytest.mark.parametrize("change, field", [
    ({"ami_id": None}, "ami_id"),
    ({"ami_id": 12345}, "ami_id"),
    ({"ami_id": "ami-xyz"}, "ami_id"),
    ({"ami_id": "ami-" + "0" * 10_000}, "ami_id"),
    ({"region": "mars-north-1"}, "region"),
    ({"region": ["us-east-1"]}, "region"),
    ({"region": ""}, "region"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "n" * 10_000}, "name"),
    ({"name": 42}, "name"),
    ({"name": {"a": 1}}, "name"),
    ({"description": "d" * 10_001}, "description"),
    ({"description": False}, "description"),
    ({"version": "v" * 51}, "version"),
    ({"category": "c" * 101}, "category"),
    ({"category": ""}, "category"),  # required when no template is given
    ({"tags": "gpu"}, "tags"),
    ({"tags": 5}, "tags"),
    ({"tags": {"k": {"nested": 1}}}, "tags"),
    ({"tags": {"k" * 129: "v"}}, "tags"),
    ({"tags": {f"k{i}": "v" for i in range(51)}}, "tags"),
    ({"tags": [1, 2]}, "tags"),
    ({"visibility": "everyone"}, "visibility"),
    ({"template": 7}, "template"),
    ({"signature": "s" * 5000}, "signature"),
    ({"name": "nul\x00byte"}, "name"),
])
def test_register_bad_input(user, mocker, change, field):
    describe = mocker.patch("amis.services.aws.describe_image")  # must never be reached
    response = client_for(user).post("/api/v1/amis/", {**VALID, **change}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_parameters" and field in body["errors"], body
    assert field in body["message"]
    describe.assert_not_called()
    assert not AMI.objects.exists()


@pytest.mark.parametrize("missing", ["ami_id", "region", "name"])
def test_register_missing_fields(user, missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    response = client_for(user).post("/api/v1/amis/", body, format="json")
    assert response.status_code == 400 and missing in response.json()["errors"]


@pytest.mark.parametrize("payload", [[], "text", 5, None])
def test_register_non_object_body(user, payload):
    response = client_for(user).post("/api/v1/amis/", payload, format="json")
    assert response.status_code == 400


def test_register_malformed_json(user):
    response = client_for(user).post("/api/v1/amis/", data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_parameters"


@pytest.mark.parametrize("change, field", [
    ({"name": ""}, "name"), ({"name": "n" * 10_000}, "name"), ({"name": 3}, "name"),
    ({"description": ["x"]}, "description"), ({"tags": "x"}, "tags"), ({"tags": {"": "v"}}, "tags"),
    ({"category": "c" * 101}, "category"), ({"version": 1.5}, "version"),
    ({"ami_id": "ami-0123456789abcdef0"}, "ami_id"), ({"creator": "bob"}, "creator"),
])
def test_patch_bad_input(user, change, field):
    ami = make_ami(user, status=AMI.Status.DRAFT)
    response = client_for(user).patch(url(ami), change, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    fresh = AMI.objects.get(pk=ami.pk)
    assert (fresh.name, fresh.tags, fresh.category) == (ami.name, ami.tags, ami.category)


@pytest.mark.parametrize("body, field", [({"public": "perhaps"}, "public"), ({"description": 5}, "description"),
                                         ({"description": "d" * 10_001}, "description")])
def test_submit_bad_input(user, body, field):
    ami = make_ami(user, status=AMI.Status.DRAFT)
    response = client_for(user).post(url(ami, "/submit"), body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert AMI.objects.get(pk=ami.pk).status == AMI.Status.DRAFT


@pytest.mark.parametrize("action, body, field", [
    ("reject", {"reason": "r" * 2001}, "reason"), ("revoke", {"reason": ["x"]}, "reason"),
    ("deprecate", {"reason": 1}, "reason"), ("deprecate", {"replacement": 5}, "replacement"),
    ("deprecate", {"replacement": "x" * 10_000}, "replacement"),
])
def test_moderation_bad_input(user, moderator, action, body, field):
    status = AMI.Status.PENDING_REVIEW if action == "reject" else AMI.Status.APPROVED
    ami = make_ami(user, status=status)
    response = client_for(moderator).post(url(ami, f"/{action}"), body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert AMI.objects.get(pk=ami.pk).status == status
