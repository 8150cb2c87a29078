"""register / token / me: happy paths and every kind of bad input (clear 400/409, never 500)."""
import pytest

from registry.models import AuditEvent

pytestmark = pytest.mark.django_db

GOOD = {"username": "carol", "email": "carol@example.org", "password": "s3cure-enough-pass"}


def _envelope_ok(body, status):
    assert body["status_code"] == status
    assert body["detail"] == body["message"] and body["message"]
    assert isinstance(body["code"], str)


def test_register_then_token_then_me(api_client):
    reg = api_client.post("/api/v1/auth/register", GOOD)
    assert reg.status_code == 201
    tok = api_client.post("/api/v1/auth/token", {"username": "carol", "password": GOOD["password"]})
    assert tok.status_code == 200
    assert tok.json()["token"] == reg.json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {tok.json()['token']}")
    assert api_client.get("/api/v1/me").json()["username"] == "carol"
    assert AuditEvent.objects.filter(action="user.register", actor_username="carol").count() == 1


def test_duplicate_username_is_409_conflict(api_client, user):
    resp = api_client.post("/api/v1/auth/register", {**GOOD, "username": user.username.upper()})
    assert resp.status_code == 409
    body = resp.json()
    _envelope_ok(body, 409)
    assert "username" in body["errors"]


@pytest.mark.parametrize("password,fragment", [
    ("short", "too short"), ("password123", "too common"), ("1234567890123", "entirely numeric"),
])
def test_weak_password_is_400_naming_the_field(api_client, password, fragment):
    resp = api_client.post("/api/v1/auth/register", {**GOOD, "password": password})
    assert resp.status_code == 400
    body = resp.json()
    _envelope_ok(body, 400)
    assert body["code"] == "invalid_parameters"
    assert any(fragment in m for m in body["errors"]["password"])


@pytest.mark.parametrize("payload,field", [
    ({"email": "x@example.org", "password": "s3cure-enough-pass"}, "username"),
    ({**GOOD, "email": "not-an-email"}, "email"),
    ({**GOOD, "username": "bad name!"}, "username"),
    ({**GOOD, "username": "u" * 151}, "username"),
    ({**GOOD, "username": ["a", "list"]}, "username"),
    ({"username": "carol", "email": "carol@example.org"}, "password"),
])
def test_bad_register_input_is_400_naming_the_field(api_client, payload, field):
    resp = api_client.post("/api/v1/auth/register", payload, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()["errors"]


def test_non_json_body_is_a_clear_400(api_client):
    resp = api_client.post("/api/v1/auth/register", "{not json", content_type="application/json")
    assert resp.status_code == 400
    _envelope_ok(resp.json(), 400)


def test_wrong_password_is_400_and_audited(api_client, user):
    resp = api_client.post("/api/v1/auth/token", {"username": user.username, "password": "wrong-password"})
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "invalid_credentials"
    assert "Unable to log in" in body["message"]
    assert AuditEvent.objects.filter(action="auth.login_failed", target_repr=user.username).count() == 1


def test_me_requires_authentication_with_the_envelope(api_client):
    resp = api_client.get("/api/v1/me")
    assert resp.status_code == 401
    body = resp.json()
    _envelope_ok(body, 401)
    assert body["code"] == "unauthorized"


def test_bad_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token deadbeef")
    assert api_client.get("/api/v1/me").status_code == 401


def test_moderator_flag_and_communities(api_client, moderator):
    from registry.models import Community

    uni = Community.objects.create(slug="uni", name="Uni", kind="institution")
    uni.memberships.create(user=moderator)
    api_client.force_authenticate(moderator)
    me = api_client.get("/api/v1/me").json()
    assert me["is_moderator"] is True
    assert me["communities"] == ["cloudworkstation", "uni"]


def test_superuser_is_a_moderator(api_client, make_user):
    api_client.force_authenticate(make_user("root", superuser=True))
    assert api_client.get("/api/v1/me").json()["is_moderator"] is True


def test_unknown_api_path_is_a_json_404(api_client):
    resp = api_client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.json()["code"] == "not_found"


def test_wrong_method_is_405_envelope(api_client):
    resp = api_client.get("/api/v1/auth/register")
    assert resp.status_code == 405
    _envelope_ok(resp.json(), 405)
