"""The notifications REST API: subscriptions and webhooks CRUD, the delivery log, test events,
switches — status codes, the error envelope, database state, and nobody else's data."""
import pytest

from amis.models import AMI
from notifications.models import NotificationSettings, Subscription, Webhook, WebhookDelivery
from registry.models import AuditEvent, Community, CommunityMembership
from tests.conftest import client_for
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db


def test_event_types_catalogue(api_client):
    body = api_client.get("/api/v1/notifications/event-types").json()
    assert [t["type"] for t in body][:4] == ["ami.approved", "ami.rejected", "ami.deprecated", "ami.revoked"]
    assert {"version.published", "channel.moved", "review.hidden"} <= {t["type"] for t in body}
    assert "webhook.test" not in {t["type"] for t in body}


def test_anonymous_gets_401(api_client):
    for path in ("/api/v1/subscriptions/", "/api/v1/webhooks/", "/api/v1/me/notifications"):
        resp = api_client.get(path)
        assert resp.status_code == 401 and resp.json()["code"] == "unauthorized"


def test_subscription_crud(auth_client, user, template):
    ami = AMIFactory(name="ml")
    resp = auth_client.post("/api/v1/subscriptions/", {"target_type": "template", "template": "genomics",
                                                       "event_types": ["ami.revoked", "ami.approved"]}, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["template"] == {"slug": "genomics", "name": "Genomics"} and body["email"] is True
    assert body["event_types"] == ["ami.approved", "ami.revoked"]  # canonical order
    resp = auth_client.post("/api/v1/subscriptions/", {"target_type": "ami", "ami": ami.ami_id,
                                                       "event_types": ["copy.completed"]}, format="json")
    assert resp.status_code == 201 and resp.json()["ami"]["id"] == str(ami.pk)
    listing = auth_client.get("/api/v1/subscriptions/").json()
    assert listing["count"] == 2 and {"count", "next", "previous", "results"} <= set(listing)
    sub_id = body["id"]
    resp = auth_client.patch(f"/api/v1/subscriptions/{sub_id}", {"event_types": ["ami.deprecated"]}, format="json")
    assert resp.status_code == 200 and resp.json()["event_types"] == ["ami.deprecated"]
    assert auth_client.delete(f"/api/v1/subscriptions/{sub_id}").status_code == 204
    assert Subscription.objects.filter(user=user).count() == 1
    actions = list(AuditEvent.objects.filter(action__startswith="subscription.").values_list("action", flat=True))
    assert sorted(actions) == ["subscription.create", "subscription.create", "subscription.delete",
                               "subscription.update"]


@pytest.mark.parametrize("payload, field", [
    ({"target_type": "template", "template": "nope", "event_types": ["ami.approved"]}, "template"),
    ({"target_type": "template", "template": "genomics", "event_types": []}, "event_types"),
    ({"target_type": "template", "template": "genomics", "event_types": ["ami.exploded"]}, "event_types"),
    ({"target_type": "template", "template": "genomics", "event_types": ["webhook.test"]}, "event_types"),
    ({"target_type": "template", "template": "genomics", "event_types": ["ami.approved"], "email": False}, "email"),
    ({"target_type": "lineage", "event_types": ["ami.approved"]}, "lineage"),
    ({"target_type": "ami", "ami": "ami-00000000", "event_types": ["ami.approved"]}, "ami"),
    ({"target_type": "template", "template": "genomics", "event_types": ["ami.approved"], "webhook": 999}, "webhook"),
])
def test_subscription_bad_input_is_a_400_naming_the_field(auth_client, template, payload, field):
    resp = auth_client.post("/api/v1/subscriptions/", payload, format="json")
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["code"] == "invalid_parameters", body
    assert any(key.split(".")[0] == field for key in body["errors"]), body  # e.g. "event_types.0"


def test_cannot_subscribe_to_an_invisible_ami(auth_client, make_user):
    private = AMIFactory(creator=make_user("owner"), visibility=AMI.Visibility.PRIVATE)
    resp = auth_client.post("/api/v1/subscriptions/", {"target_type": "ami", "ami": str(private.pk),
                                                       "event_types": ["ami.revoked"]}, format="json")
    assert resp.status_code == 400 and resp.json()["errors"] == {"ami": ["Unknown AMI."]}


def test_duplicate_subscription_is_a_409(auth_client, template):
    payload = {"target_type": "template", "template": "genomics", "event_types": ["ami.approved"]}
    assert auth_client.post("/api/v1/subscriptions/", payload, format="json").status_code == 201
    resp = auth_client.post("/api/v1/subscriptions/", payload, format="json")
    assert resp.status_code == 409 and resp.json()["code"] == "duplicate_subscription"


def test_other_peoples_subscriptions_and_webhooks_are_404(auth_client, other_user, template):
    sub = Subscription.objects.create(user=other_user, target_type="template", template=template,
                                      event_types=["ami.approved"])
    hook = Webhook.objects.create(owner_user=other_user, name="theirs", url="https://x.example.org/", secret="s")
    for method, path in (("get", f"/api/v1/subscriptions/{sub.pk}"), ("delete", f"/api/v1/subscriptions/{sub.pk}"),
                         ("get", f"/api/v1/webhooks/{hook.pk}"), ("post", f"/api/v1/webhooks/{hook.pk}/test"),
                         ("get", f"/api/v1/webhooks/{hook.pk}/deliveries/"),
                         ("post", f"/api/v1/webhooks/{hook.pk}/rotate-secret")):
        resp = getattr(auth_client, method)(path)
        assert resp.status_code == 404 and resp.json()["code"] == "not_found", (method, path)
    assert auth_client.get("/api/v1/webhooks/").json()["count"] == 0
    sub.refresh_from_db()
    assert Subscription.objects.filter(pk=sub.pk).exists()


def test_webhook_crud_secret_shown_once(auth_client, user):
    resp = auth_client.post("/api/v1/webhooks/", {"name": "ci", "url": "https://ci.example.org/hooks/cws"},
                            format="json")
    assert resp.status_code == 201
    body = resp.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and body["secret_hint"] == "…" + secret[-4:] and body["owner_type"] == "user"
    detail = auth_client.get(f"/api/v1/webhooks/{body['id']}").json()
    assert "secret" not in detail
    rotated = auth_client.post(f"/api/v1/webhooks/{body['id']}/rotate-secret").json()
    assert rotated["secret"] != secret
    resp = auth_client.patch(f"/api/v1/webhooks/{body['id']}", {"is_active": False, "name": "ci2"}, format="json")
    assert resp.status_code == 200 and resp.json()["is_active"] is False and resp.json()["name"] == "ci2"
    assert auth_client.delete(f"/api/v1/webhooks/{body['id']}").status_code == 204
    assert not Webhook.objects.exists()
    audit = AuditEvent.objects.filter(action__startswith="webhook.")
    assert sorted(audit.values_list("action", flat=True)) == ["webhook.create", "webhook.delete",
                                                              "webhook.secret_rotate", "webhook.update"]
    assert not any(secret in str(e.after) + str(e.before) for e in audit)  # secrets stay out of the audit log


def test_webhook_private_url_is_a_400(auth_client):
    resp = auth_client.post("/api/v1/webhooks/", {"name": "x", "url": "http://169.254.169.254/latest"}, format="json")
    assert resp.status_code == 400
    assert "link-local" in resp.json()["errors"]["url"][0]


def test_community_webhooks_belong_to_admins_and_moderators(make_user, moderator):
    lab = Community.objects.create(slug="lab-x", name="Lab X")
    admin, member = make_user("labadmin"), make_user("member")
    CommunityMembership.objects.create(community=lab, user=admin, role="admin")
    CommunityMembership.objects.create(community=lab, user=member, role="member")
    payload = {"name": "lab slack", "url": "https://hooks.example.org/lab", "community": "lab-x"}
    resp = client_for(member).post("/api/v1/webhooks/", payload, format="json")
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
    resp = client_for(admin).post("/api/v1/webhooks/", payload, format="json")
    assert resp.status_code == 201 and resp.json()["owner_type"] == "community" and resp.json()["community"] == "lab-x"
    hook_id = resp.json()["id"]
    assert client_for(moderator).get(f"/api/v1/webhooks/{hook_id}").status_code == 200
    assert client_for(member).get(f"/api/v1/webhooks/{hook_id}").status_code == 404
    resp = client_for(admin).post("/api/v1/webhooks/", {**payload, "community": "nope"}, format="json")
    assert resp.status_code == 400 and "community" in resp.json()["errors"]


def test_test_event_endpoint_and_delivery_log(auth_client, user, receiver, allow_private, committed):
    hook_id = auth_client.post("/api/v1/webhooks/", {"name": "ci", "url": receiver.url}, format="json").json()["id"]
    with committed():
        resp = auth_client.post(f"/api/v1/webhooks/{hook_id}/test")
    assert resp.status_code == 202 and resp.json()["event_type"] == "webhook.test" and resp.json()["is_test"]
    [request] = receiver.requests
    assert request.json()["data"]["requested_by"] == "alice"
    log = auth_client.get(f"/api/v1/webhooks/{hook_id}/deliveries/").json()
    assert log["count"] == 1
    [entry] = log["results"]
    assert entry["state"] == "succeeded" and entry["attempt_log"][0]["status_code"] == 200
    assert entry["attempt_log"][0]["number"] == 1 and entry["attempt_log"][0]["latency_ms"] >= 0
    assert WebhookDelivery.objects.get().is_test


def test_subscription_through_my_webhook(auth_client, user, template):
    hook = Webhook.objects.create(owner_user=user, name="mine", url="https://x.example.org/", secret="s")
    resp = auth_client.post("/api/v1/subscriptions/", {"target_type": "template", "template": "Genomics",
                                                       "event_types": ["ami.approved"], "email": False,
                                                       "webhook": hook.pk}, format="json")
    assert resp.status_code == 201 and resp.json()["webhook"] == hook.pk and resp.json()["email"] is False


def test_settings_get_and_patch(auth_client, user):
    assert auth_client.get("/api/v1/me/notifications").json() == {"own_activity_email": True,
                                                                  "launched_revocation_email": True}
    resp = auth_client.patch("/api/v1/me/notifications", {"launched_revocation_email": False}, format="json")
    assert resp.status_code == 200 and resp.json()["launched_revocation_email"] is False
    assert NotificationSettings.objects.get(user=user).own_activity_email is True
    assert auth_client.patch("/api/v1/me/notifications", {"own_activity_email": "maybe"},
                             format="json").status_code == 400


def test_schema_describes_the_notification_endpoints(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    for path in ("/api/v1/subscriptions/", "/api/v1/subscriptions/{id}", "/api/v1/webhooks/",
                 "/api/v1/webhooks/{id}", "/api/v1/webhooks/{id}/test", "/api/v1/webhooks/{id}/rotate-secret",
                 "/api/v1/webhooks/{id}/deliveries/", "/api/v1/me/notifications",
                 "/api/v1/notifications/event-types"):
        assert path in schema["paths"], path
    listing = schema["paths"]["/api/v1/webhooks/{id}/deliveries/"]["get"]["responses"]["200"]
    ref = listing["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "results" in schema["components"]["schemas"][ref]["properties"]  # paginated like every list
