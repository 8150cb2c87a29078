import pytest

pytestmark = pytest.mark.django_db


def test_register_returns_token_and_me_works(api_client):
    resp = api_client.post("/api/v1/auth/register",
                           {"username": "carol", "email": "carol@example.org", "password": "s3cure-enough-pass"})
    assert resp.status_code == 201, resp.content
    token = resp.json()["token"]
    assert resp.json()["username"] == "carol"
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api_client.get("/api/v1/me").json()
    assert me == {"username": "carol", "email": "carol@example.org", "is_moderator": False,
                  "communities": ["cloudworkstation"], "default_region": ""}
