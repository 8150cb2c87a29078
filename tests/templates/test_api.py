"""/api/v1/templates/...: list, detail by slug or exact name, validate (anyone, any body), create, replace."""
import json
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from registry.models import AuditEvent
from templates.models import Template
from templates.services import template_create
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

DOC = {"name": "Python ML (AMI Optimized)", "slug": "python-ml-ami", "description": "ML from an AMI",
       "base": "ami-based", "package_manager": "ami", "category": "Machine Learning",
       "ami_config": {"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"}, "ssh_user": "ubuntu",
                      "preferred_architecture": "arm64"},
       "instance_defaults": {"type": "t4g.medium", "ports": [22, 8888]}}
SOURCE = yaml.safe_dump(DOC, sort_keys=False)


@pytest.fixture
def stored(db):
    return template_create(source_yaml=SOURCE)


# --- reads ------------------------------------------------------------------------------------
def test_list_is_paginated_and_public(stored):
    template_create(source_yaml=yaml.safe_dump({"name": "R", "description": "d", "base": "ubuntu-22.04",
                                                "category": "Statistics"}))
    response = APIClient().get("/api/v1/templates/", {"page_size": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]
    first = body["results"][0]
    assert first["slug"] == "python-ml-ami" and first["architectures"] == ["arm64"]
    assert first["ami_config"]["ami_mappings"] == {"us-east-1": "ami-0123456789abcdef0"}
    assert "source_yaml" not in first
    filtered = APIClient().get("/api/v1/templates/", {"category": "statistics"}).json()
    assert [t["slug"] for t in filtered["results"]] == ["r"]
    found = APIClient().get("/api/v1/templates/", {"q": "ml AMI"}).json()
    assert [t["slug"] for t in found["results"]] == ["python-ml-ami"]
    assert APIClient().get("/api/v1/templates/", {"q": "ml nothing"}).json()["count"] == 0
    assert APIClient().get("/api/v1/templates/", {"base": "ubuntu-22.04"}).json()["count"] == 1


@pytest.mark.parametrize("ref", ["python-ml-ami", "Python ML (AMI Optimized)"])
def test_detail_by_slug_or_exact_name(stored, ref):
    response = APIClient().get(f"/api/v1/templates/{quote(ref)}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Python ML (AMI Optimized)" and body["slug"] == "python-ml-ami"
    assert body["base"] == "ami-based" and body["category"] == "Machine Learning"
    assert body["source_yaml"] == SOURCE and body["document"] == DOC
    assert body["package_manager"] == "ami" and body["strategy"] == "ami_preferred"
    assert body["instance_defaults"] == {"type": "t4g.medium", "ports": [22, 8888]}
    assert body["inherits"] == [] and body["packages"] == {"system": [], "conda": [], "spack": [], "pip": []}


def test_unknown_template_is_404_in_the_envelope():
    response = APIClient().get("/api/v1/templates/no%20such%20thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["message"] == "template 'no such thing' not found"


@pytest.mark.parametrize("path", ["a%00b", "x" * 5000, "%ff%fe", "a/b/c"])
def test_odd_template_refs_are_404_not_500(path):
    response = APIClient().get(f"/api/v1/templates/{path}")
    assert response.status_code == 404
    assert len(response.json()["message"]) < 300


# --- validate -----------------------------------------------------------------------------------
def test_validate_valid_anonymously():
    response = APIClient(enforce_csrf_checks=True).post("/api/v1/templates/validate", {"yaml": SOURCE},
                                                        format="json")
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": {}, "template": DOC}


def test_validate_reports_paths():
    bad = yaml.safe_dump({**DOC, "ami_config": {"strategy": "X", "ssh_user": "u",
                                                "ami_mappings": {"us-east-1": "ami-nope"}}})
    body = APIClient().post("/api/v1/templates/validate", {"yaml": bad}, format="json").json()
    assert body["valid"] is False
    assert body["errors"] == {
        "ami_config.strategy": ["invalid AMI strategy 'X', must be one of: ami_preferred, ami_required, ami_fallback"],
        "ami_config.ami_mappings.us-east-1": [
            "invalid AMI ID format 'ami-nope', must be ami- followed by 8 or 17 lowercase hex digits"]}
    assert body["template"]["name"] == DOC["name"]


def test_validate_looks_parents_up_among_stored_templates(stored):
    child = yaml.safe_dump({"name": "Child", "description": "d", "inherits": ["python-ml-ami"]})
    body = APIClient().post("/api/v1/templates/validate", {"yaml": child}, format="json").json()
    assert body["valid"] is True and body["template"]["base"] == "ami-based"
    orphan = yaml.safe_dump({"name": "Child", "description": "d", "inherits": ["gone"]})
    body = APIClient().post("/api/v1/templates/validate", {"yaml": orphan}, format="json").json()
    assert body == {"valid": False, "errors": {"inherits": ["parent template 'gone' not found"]},
                    "template": {"name": "Child", "description": "d", "inherits": ["gone"]}}


@pytest.mark.parametrize("payload,message", [
    ({}, "yaml is required"),
    ({"yaml": None}, "yaml is required"),
    ({"yaml": 42}, "yaml must be a string"),
    ({"yaml": ["a"]}, "yaml must be a string"),
    ({"yaml": {"name": "x"}}, "yaml must be a string"),
    ({"yaml": ""}, "document is empty"),
    ({"yaml": "- a\n- b"}, "the document must be a mapping of keys to values, not a list"),
    ({"yaml": "a: &a [*a, *a, *a]\n"}, None),
    ({"yaml": "x" * (300 * 1024)}, "document is larger than 262144 bytes (256 KiB)"),
])
def test_validate_answers_200_for_any_yaml_value(payload, message):
    response = APIClient().post("/api/v1/templates/validate", payload, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False and body["template"] is None
    if message:
        assert body["errors"] == {"yaml": [message]}
    else:
        assert list(body["errors"]) == ["yaml"]


def test_validate_a_lone_surrogate_sent_as_json_escape():
    response = APIClient().post("/api/v1/templates/validate", '{"yaml": "a: \\ud800"}',
                                content_type="application/json")
    assert response.status_code == 200
    assert response.json()["errors"] == {"yaml": ["document is not valid Unicode (character 3)"]}


@pytest.mark.parametrize("body,content_type", [
    ("{not json", "application/json"),
    ('["a", "b"]', "application/json"),
    ('"just a string"', "application/json"),
    ("null", "application/json"),
])
def test_validate_body_that_is_not_an_object_is_a_400_envelope(body, content_type):
    response = APIClient().post("/api/v1/templates/validate", body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameters"
    assert response.json()["message"].startswith("the request body must be a JSON object with a 'yaml' string")


def test_validate_accepts_a_raw_yaml_body():
    response = APIClient().post("/api/v1/templates/validate", SOURCE.encode(), content_type="application/yaml")
    assert response.status_code == 200 and response.json()["valid"] is True
    response = APIClient().post("/api/v1/templates/validate", b"name: caf\xe9", content_type="text/plain")
    assert response.json() == {"valid": False, "errors": {"yaml": ["document is not valid UTF-8 (byte 9)"]},
                               "template": None}


def test_validate_for_a_session_user_without_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/templates/validate", {"yaml": SOURCE}, format="json")
    assert response.status_code == 200 and response.json()["valid"] is True


# --- writes -------------------------------------------------------------------------------------
def test_moderator_creates(moderator):
    response = client_for(moderator).post("/api/v1/templates/", {"yaml": SOURCE}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "python-ml-ami" and response.json()["source_yaml"] == SOURCE
    template = Template.objects.get(slug="python-ml-ami")
    assert template.document == DOC
    assert AuditEvent.objects.get(action="template.create").actor == moderator


def test_create_invalid_is_400_with_errors_by_path(moderator):
    bad = yaml.safe_dump({**DOC, "instance_defaults": {"ports": [22, 70000]}, "base": "solaris"})
    response = client_for(moderator).post("/api/v1/templates/", {"yaml": bad}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_parameters"
    assert body["errors"]["instance_defaults.ports.1"] == ["port 70000 out of range, must be between 1 and 65535"]
    assert body["errors"]["base"][0].startswith("unknown base OS 'solaris'")
    assert not Template.objects.exists()


def test_create_duplicate_is_409(moderator, stored):
    response = client_for(moderator).post("/api/v1/templates/", {"yaml": SOURCE}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and response.json()["template"] == "python-ml-ami"
    assert Template.objects.count() == 1


def test_create_without_yaml_is_400(moderator):
    response = client_for(moderator).post("/api/v1/templates/", {"yml": SOURCE}, format="json")
    assert response.status_code == 400 and response.json()["errors"] == {"yaml": ["yaml is required"]}


def test_non_moderators_may_not_write(user, stored):
    assert client_for(user).post("/api/v1/templates/", {"yaml": SOURCE}, format="json").status_code == 403
    response = client_for(user).put("/api/v1/templates/python-ml-ami", {"yaml": SOURCE}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert APIClient().post("/api/v1/templates/", {"yaml": SOURCE}, format="json").status_code == 401
    assert APIClient().put("/api/v1/templates/python-ml-ami", {"yaml": SOURCE}, format="json").status_code == 401


def test_moderator_replaces_by_exact_name(moderator, stored):
    new = yaml.safe_dump({**DOC, "description": "replaced", "version": "2.0"})
    response = client_for(moderator).put(f"/api/v1/templates/{quote(DOC['name'])}", {"yaml": new}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "replaced" and response.json()["version"] == "2.0"
    stored.refresh_from_db()
    assert stored.description == "replaced" and stored.source_yaml == new
    assert AuditEvent.objects.filter(action="template.replace", actor=moderator).count() == 1


def test_put_unknown_is_404_and_invalid_is_400(moderator, stored):
    client = client_for(moderator)
    assert client.put("/api/v1/templates/nope", {"yaml": SOURCE}, format="json").status_code == 404
    response = client.put("/api/v1/templates/python-ml-ami", {"yaml": "name: [x"}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["yaml"]


def test_put_onto_another_templates_name_is_409(moderator, stored):
    template_create(source_yaml=yaml.safe_dump({"name": "Other", "description": "d", "base": "ubuntu-22.04"}))
    response = client_for(moderator).put("/api/v1/templates/other", {"yaml": SOURCE}, format="json")
    assert response.status_code == 409


def test_schema_describes_the_template_endpoints():
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/templates/", "/api/v1/templates/validate", "/api/v1/templates/{template}"} <= set(paths)
    assert set(paths["/api/v1/templates/{template}"]) >= {"get", "put"}
    validate = paths["/api/v1/templates/validate"]["post"]
    assert "200" in validate["responses"] and "requestBody" in validate


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=30)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children,
                                                                                max_size=4)),
    max_leaves=15)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(json_values, st.fixed_dictionaries({"yaml": json_values}),
                      st.fixed_dictionaries({"yaml": st.text(max_size=200)})))
def test_property_validate_never_500(db, body):
    response = APIClient().post("/api/v1/templates/validate", json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["valid"] in (True, False)
    else:
        assert response.json()["code"] == "invalid_parameters"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(json_values, st.fixed_dictionaries({"yaml": st.text(max_size=200)})))
def test_property_create_never_500(moderator, body):
    response = client_for(moderator).post("/api/v1/templates/", json.dumps(body), content_type="application/json")
    assert response.status_code in (201, 400, 409), response.content
