"""Template admin: moderators edit the YAML; saving goes through the services (validated, audited)."""
import pytest
import yaml

from registry.models import AuditEvent
from templates.models import Template
from templates.services import template_create

pytestmark = pytest.mark.django_db

DOC = {"name": "Admin Made", "description": "d", "base": "ubuntu-22.04", "packages": {"pip": ["a"]}}


@pytest.fixture
def admin_client(client, moderator):
    client.force_login(moderator)
    return client


def test_moderator_adds_a_template_from_yaml(admin_client, moderator):
    response = admin_client.post("/admin/templates/template/add/", {"source_yaml": yaml.safe_dump(DOC)})
    assert response.status_code == 302, response.content.decode()[:2000]
    template = Template.objects.get(slug="admin-made")
    assert template.document == DOC
    assert AuditEvent.objects.get(action="template.create").actor == moderator


def test_invalid_yaml_shows_every_error_on_the_form(admin_client):
    bad = yaml.safe_dump({**DOC, "base": "plan9", "services": [{"name": "x", "port": 0}]})
    response = admin_client.post("/admin/templates/template/add/", {"source_yaml": bad})
    assert response.status_code == 200
    page = response.content.decode()
    assert "base: unknown base OS &#x27;plan9&#x27;" in page
    assert "services.0.port: port 0 out of range, must be between 1 and 65535" in page
    assert not Template.objects.exists() and not AuditEvent.objects.exists()


def test_change_replaces_and_a_conflicting_change_is_refused_on_the_form(admin_client):
    template = template_create(source_yaml=yaml.safe_dump(DOC))
    template_create(source_yaml=yaml.safe_dump({**DOC, "name": "Child", "inherits": ["admin-made"]}))
    url = f"/admin/templates/template/{template.pk}/change/"
    response = admin_client.post(url, {"source_yaml": yaml.safe_dump({**DOC, "packages": {"pip": ["b"]}})})
    assert response.status_code == 302
    assert Template.objects.get(slug="child").document["packages"]["pip"] == ["b", "a"]   # re-merged
    # Renaming would leave the child's `inherits` dangling: refused, shown on the form, nothing changed.
    response = admin_client.post(url, {"source_yaml": yaml.safe_dump({**DOC, "name": "Renamed"})})
    assert response.status_code == 200
    assert "child.inherits: parent template &#x27;admin-made&#x27; not found" in response.content.decode()
    assert Template.objects.get(pk=template.pk).name == "Admin Made"
    assert AuditEvent.objects.filter(action="template.replace").count() == 1


def test_ordinary_users_cannot_reach_the_template_admin(client, user):
    client.force_login(user)
    response = client.get("/admin/templates/template/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
