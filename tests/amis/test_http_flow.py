"""The catalogue's end-to-end flow over real HTTP against a running server (Django's live server,
AWS through in-process moto): register → submit → approve → an anonymous user finds it by
search → another user rates it → the owner shares a private entry with a community → a member
sees it (and an outsider still does not)."""
import pytest
import requests

from registry.models import Community

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_catalogue_flow_over_http(live_server, aws, make_user):
    api = f"{live_server.url}/api/v1"
    make_user("mod", moderator=True, password="mod-password-123")

    def token(username, password):
        response = requests.post(f"{api}/auth/token", json={"username": username, "password": password}, timeout=10)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Token {response.json()['token']}"}

    def signup(username):
        response = requests.post(f"{api}/auth/register", timeout=10, json={
            "username": username, "email": f"{username}@example.org", "password": "s3cret-horse-battery"})
        assert response.status_code == 201, response.text
        return {"Authorization": f"Token {response.json()['token']}"}

    owner, rater, member, outsider = signup("owner"), signup("rater"), signup("member"), signup("outsider")
    moderator = token("mod", "mod-password-123")

    # The owner links the AWS account the images are in (moto: the role is assumed, so it verifies).
    linked = requests.post(f"{api}/me/aws-accounts", headers=owner, timeout=10,
                           json={"role_arn": "arn:aws:iam::123456789012:role/cws-registry"})
    assert linked.status_code == 201 and linked.json()["verified"], linked.text
    public_image = aws.image("us-east-1", "x86_64", name="flow-public")
    created = requests.post(f"{api}/amis/", headers=owner, timeout=30, json={
        "ami_id": public_image, "region": "us-east-1", "name": "Flow PyTorch", "description": "GPU image",
        "category": "Machine Learning"})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    assert requests.post(f"{api}/amis/{public_image}/submit", headers=owner, json={"public": True},
                         timeout=10).json()["status"] == "pending_review"
    assert requests.post(f"{api}/amis/{public_image}/approve", headers=moderator,
                         timeout=10).json()["status"] == "approved"

    found = requests.get(f"{api}/amis/", params={"q": "pyto"}, timeout=10).json()
    assert [a["ami_id"] for a in found["results"]] == [public_image] and found["facets"]["architecture"]

    rated = requests.post(f"{api}/amis/{public_image}/ratings/", headers=rater, json={"rating": 4, "review": "ok"},
                          timeout=10)
    assert rated.status_code == 201, rated.text
    detail = requests.get(f"{api}/amis/{public_image}", timeout=10).json()
    assert detail["rating_count"] == 1 and detail["rating_histogram"]["4"] == 1

    lab = Community.objects.create(slug="flow-lab", name="Flow lab")
    from django.contrib.auth import get_user_model

    lab.memberships.create(user=get_user_model().objects.get(username="member"))
    private_image = aws.image("us-east-1", "arm64", name="flow-private")
    assert requests.post(f"{api}/amis/", headers=owner, timeout=30, json={
        "ami_id": private_image, "region": "us-east-1", "name": "Flow private", "category": "ML"}).status_code == 201
    requests.post(f"{api}/amis/{private_image}/submit", headers=owner, json={"public": False}, timeout=10)
    requests.post(f"{api}/amis/{private_image}/approve", headers=moderator, timeout=10)
    assert requests.get(f"{api}/amis/{private_image}", headers=member, timeout=10).status_code == 404

    shared = requests.post(f"{api}/amis/{private_image}/shares/", headers=owner, timeout=10,
                           json={"grantee_type": "community", "grantee": "flow-lab"})
    assert shared.status_code == 201, shared.text
    assert requests.get(f"{api}/amis/{private_image}", headers=member, timeout=10).status_code == 200
    assert requests.get(f"{api}/amis/{private_image}", headers=outsider, timeout=10).status_code == 404
    assert requests.get(f"{api}/amis/{private_image}", timeout=10).status_code == 404
    listed = requests.get(f"{api}/amis/", headers=member, timeout=10).json()
    assert {a["ami_id"] for a in listed["results"]} == {public_image, private_image}
