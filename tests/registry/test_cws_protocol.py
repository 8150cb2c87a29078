"""What the real cws client needs of every request: X-API-Key auth, the region precedence, the
daemon's ping/status, and JSON (never HTML) for unknown API paths."""
import pytest
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry.models import AuditEvent
from registry.regions import region_for, user_default_region_set
from tests.resolver.conftest import make_template  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def test_x_api_key_is_token_auth_and_a_wrong_key_is_401(user):
    token = Token.objects.create(user=user)
    client = APIClient()
    me = client.get("/api/v1/me", HTTP_X_API_KEY=token.key)
    assert me.status_code == 200 and me.json()["username"] == "alice"
    for bad in ("not-a-token", "0" * 40, "two words"):
        response = client.get("/api/v1/ami/list", HTTP_X_API_KEY=bad)
        assert response.status_code == 401, bad
        assert response.json()["code"] == "unauthorized"
    # a wrong key on a page anonymous callers may read is still a 401, never anonymous
    assert client.get("/api/v1/templates/", HTTP_X_API_KEY="wrong").status_code == 401
    assert client.get("/api/v1/templates/").status_code == 200


def test_region_precedence(user):
    with override_settings(AWS_DEFAULT_REGION="us-east-2"):
        assert region_for(user=None) == "us-east-2"
        assert region_for(user=user) == "us-east-2"
        user_default_region_set(user=user, region="ap-south-1")
        assert region_for(user=user) == "ap-south-1"
        assert region_for(header="eu-west-1", user=user) == "eu-west-1"
        assert region_for(explicit="us-west-2", header="eu-west-1", user=user) == "us-west-2"
    with pytest.raises(Exception) as exc:
        region_for(header="mars-north-1")
    assert "X-AWS-Region" in str(exc.value)


def test_default_region_is_set_on_me_and_audited(auth_client, user):
    assert auth_client.get("/api/v1/me").json()["default_region"] == ""
    response = auth_client.patch("/api/v1/me", {"default_region": "eu-central-1"}, format="json")
    assert response.status_code == 200 and response.json()["default_region"] == "eu-central-1"
    assert AuditEvent.objects.filter(action="user.default_region_set").count() == 1
    bad = auth_client.patch("/api/v1/me", {"default_region": "eu-nowhere-9"}, format="json")
    assert bad.status_code == 400 and "default_region" in bad.json()["errors"]
    export = auth_client.get("/api/v1/me/export").json()
    assert export["profile"]["default_region"] == "eu-central-1"


def test_resolver_endpoints_take_the_region_from_header_then_profile(api_client, user, aws, make_template):
    image = aws.image("eu-west-1")
    template = make_template({"ami_mappings": {"eu-west-1": image}})
    path = f"/api/v1/ami/resolve/{template.slug}"
    with override_settings(AWS_DEFAULT_REGION="us-east-1"):
        anonymous = api_client.get(path)
        assert anonymous.status_code == 200 and anonymous.json()["target_region"] == "us-east-1"
        by_header = api_client.get(path, HTTP_X_AWS_REGION="eu-west-1").json()
        assert by_header["target_region"] == "eu-west-1" and by_header["ami_id"] == image
        assert api_client.get(path + "?region=us-west-2", HTTP_X_AWS_REGION="eu-west-1").json()[
            "target_region"] == "us-west-2"
        user_default_region_set(user=user, region="eu-west-1")
        api_client.force_authenticate(user)
        assert api_client.get(path).json()["ami_id"] == image
        preview = api_client.get(f"/api/v1/ami/preview/{template.slug}").json()
        assert preview["target_region"] == "eu-west-1"
        assert preview["fallback_chain"][-1] == preview["resolution_method"] == "direct_mapping"
        assert preview["launch_time_estimate_seconds"] > 0
        costs = api_client.get(f"/api/v1/ami/costs/{template.slug}").json()
        assert costs["region"] == "eu-west-1"
        assert costs["cost_savings_1_hour"] > 0 and costs["cost_savings_8_hour"] != 0
        test = api_client.post("/api/v1/ami/test", {"template_name": template.slug}, format="json").json()
        assert test["region_results"]["eu-west-1"]["ami"] == image
    bad = api_client.get(path, HTTP_X_AWS_REGION="nowhere-1")
    assert bad.status_code == 400 and "X-AWS-Region" in bad.json()["detail"]


def test_ping_and_status_satisfy_the_clients_version_check(api_client):
    assert api_client.get("/api/v1/ping").json() == {"status": "ok"}
    status = api_client.get("/api/v1/status").json()
    major, minor, *_ = (int(p) for p in status["version"].lstrip("v").split("."))
    assert (major, minor) == (0, 5) or (major == 0 and minor > 5)  # client 0.5.5: same major, minor >= 5
    assert status["status"] == "running" and status["aws_region"]


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_answer_the_envelope(api_client, debug):
    with override_settings(DEBUG=debug):
        response = api_client.get("/api/v1/no/such/thing")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["code"] == "not_found"
        wrong_method = api_client.post("/api/v1/ping")
        assert wrong_method.status_code == 405 and wrong_method.json()["status_code"] == 405
