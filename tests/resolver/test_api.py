"""The resolver endpoints over HTTP: cws field names, errors in the envelope, preview, test, costs."""
import time
from urllib.parse import quote

import pytest
from django.db import connection

from amis.models import AMI
from resolver.serializers import (CostAnalysisSerializer, PreviewOutputSerializer, ResolutionOutputSerializer,
                                  AmiTestOutputSerializer)
from tests.conftest import client_for
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db

CWS_FIELDS = ["template_name", "target_region", "resolution_method", "ami_id", "ami_name", "ami_architecture",
              "ami_description", "launch_time_estimate_seconds", "cost_savings", "warning", "fallback_chain",
              "ami_details"]


def url(kind, template, **query):
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/v1/ami/{kind}/{quote(template, safe='')}" + (f"?{qs}" if qs else "")


def test_resolve_by_exact_name_with_spaces_and_parentheses(api_client, aws, make_template):
    image = aws.image("us-east-1", "arm64", name="cws-python-ml-1")
    template = make_template({"ami_mappings": {"us-east-1": image}, "ssh_user": "ubuntu"},
                             name="Python ML (AMI Optimized)", slug="python-ml-ami")
    response = api_client.get(url("resolve", template.name, region="us-east-1"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert all(field in body for field in CWS_FIELDS)
    assert body["template_name"] == "Python ML (AMI Optimized)"
    assert body["resolution_method"] == "direct_mapping" and body["ami_id"] == image
    assert isinstance(body["launch_time_estimate_seconds"], int)
    assert set(body["ami_details"]) == {"creation_date", "owner_id", "public", "marketplace_cost", "platform",
                                        "virtualization", "root_device"}
    assert body["ami_details"]["virtualization"] and body["ami_details"]["root_device"]
    assert "region_checks" not in body and "cost_analysis" not in body
    # Every key the service returns is described in the OpenAPI output serializer.
    assert set(body) <= set(ResolutionOutputSerializer().fields)
    again = api_client.get(url("resolve", template.name, region="us-east-1")).json()
    assert again["cached"] is True and again["ami_id"] == image
    by_slug = api_client.get(url("resolve", "python-ml-ami", region="us-east-1")).json()
    assert by_slug["ami_id"] == image and by_slug["template_name"] == template.name


def test_resolve_details_adds_cost_analysis_and_region_checks(api_client, make_template):
    template = make_template({})
    AMIFactory(template=template, source_region="us-east-2")
    body = api_client.get(url("resolve", template.slug, region="us-east-1", architecture="x86_64",
                              details="true")).json()
    assert body["resolution_method"] == "cross_region"
    assert body["consent_required"] is True and body["copy"]["source_region"] == "us-east-2"
    assert body["cost_analysis"]["region"] == "us-east-1"
    assert [c["region"] for c in body["region_checks"]] == ["us-east-2", "us-west-2", "us-west-1"]


def test_resolve_422_no_ami_available_body(api_client, aws, make_template):
    template = make_template({"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"}, "fallback_strategy": "error"})
    response = api_client.get(url("resolve", template.slug, region="us-east-1"))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "no_ami_available" and body["status_code"] == 422
    assert body["detail"] == body["message"] and "no AMI available" in body["message"]
    assert body["fallback_chain"] == ["direct_mapping", "registry"]
    assert [t["tier"] for t in body["tried"]] == ["direct_mapping", "registry", "dynamic_search", "marketplace",
                                                   "cross_region", "fallback_script"]
    assert body["resolution_method"] == "failed"


def test_strategy_query_parameter_overrides_the_template(api_client, aws, make_template):
    template = make_template({"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"}}, base="amazonlinux-2023")
    assert api_client.get(url("resolve", template.slug, region="us-east-1")).json()["resolution_method"] == \
        "fallback_script"
    response = api_client.get(url("resolve", template.slug, region="us-east-1", strategy="ami_required"))
    assert response.status_code == 422 and response.json()["code"] == "no_ami_available"


@pytest.mark.parametrize("query, field", [({"region": "us-north-9"}, "region"),
                                          ({"region": "us-east-1", "strategy": "whatever"}, "strategy"),
                                          ({"region": "us-east-1", "architecture": "mips"}, "architecture")])
def test_resolve_bad_query_is_400(api_client, make_template, query, field):
    response = api_client.get(url("resolve", make_template({}).slug, **query))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_parameters" and field in body["errors"]


def test_unknown_template_is_404(api_client, db):
    for kind in ("resolve", "preview", "costs"):
        response = api_client.get(url(kind, "No Such Template (v2)", region="us-east-1"))
        assert response.status_code == 404, kind
        assert response.json()["code"] == "not_found"


def test_refresh_is_for_moderators(api_client, make_template, moderator):
    template = make_template({})
    assert api_client.get(url("resolve", template.slug, region="us-east-1", refresh="true")).status_code == 403
    response = client_for(moderator).get(url("resolve", template.slug, region="us-east-1", refresh="true"))
    assert response.status_code == 200 and response.json()["cached"] is False


def test_signed_in_callers_get_what_is_shared_with_them(make_template, user):
    template = make_template({})
    mine = AMIFactory(template=template, creator=user, visibility=AMI.Visibility.PRIVATE)
    assert client_for(user).get(url("resolve", template.slug, region="us-east-1", architecture="x86_64")
                                ).json()["registry_id"] == str(mine.pk)
    assert client_for(None).get(url("resolve", template.slug, region="us-east-1", architecture="x86_64")
                                ).json()["registry_id"] is None


# --- preview ------------------------------------------------------------------------------------------

def test_preview_makes_no_aws_calls(api_client, make_template, aws_calls):
    template = make_template({"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"},
                              "ami_search": {"owner": "123456789012", "name_pattern": "x-*"}})
    response = api_client.get(url("preview", template.slug, region="us-east-1"))
    assert response.status_code == 200
    body = response.json()
    assert body["resolution_method"] == "direct_mapping" and body["ami_id"] == "ami-0123456789abcdef0"
    assert body["preview"] is True and body["aws_calls"] == 0
    assert set(body) <= set(PreviewOutputSerializer().fields)
    assert aws_calls.calls == []


def test_preview_reports_registry_cross_region_and_search_uncertainty(api_client, make_template):
    template = make_template({"ami_search": {"owner": "123456789012", "name_pattern": "x-*"}})
    ami = AMIFactory(template=template, source_region="us-west-2")
    body = api_client.get(url("preview", template.slug, region="us-east-1", architecture="x86_64")).json()
    assert body["resolution_method"] == "cross_region"
    assert body["source_region"] == "us-west-2" and body["registry_id"] == str(ami.pk)
    assert body["consent_required"] is True
    assert body["may_answer_first"] == ["dynamic_search"]
    outcomes = {t["tier"]: t["outcome"] for t in body["tried"]}
    assert outcomes["dynamic_search"] == "may_answer" and outcomes["registry"] == "not_found"


def test_preview_refuses_ownerless_search(api_client, make_template):
    template = make_template({"ami_search": {"name_pattern": "x-*"}})
    body = api_client.get(url("preview", template.slug, region="us-east-1")).json()
    assert {t["tier"]: t["outcome"] for t in body["tried"]}["dynamic_search"] == "refused"
    assert body["resolution_method"] == "fallback_script"


# --- costs -----------------------------------------------------------------------------------------------------

def test_costs_endpoint_fields(api_client, make_template):
    template = make_template({}, instance_defaults={"type": "t3.medium"},
                             packages={"system": ["a"] * 6, "conda": ["c"] * 3, "pip": []})
    response = api_client.get(url("costs", template.name, region="eu-west-1", instance_type="t3.large"))
    assert response.status_code == 200
    body = response.json()
    for field in ("template_name", "region", "ami_launch_cost", "ami_storage_cost", "ami_setup_cost",
                  "script_launch_cost", "script_setup_cost", "script_setup_time", "break_even_point",
                  "cost_savings_1h", "cost_savings_8h", "time_savings", "recommendation", "reasoning"):
        assert field in body, field
    assert set(body) <= set(CostAnalysisSerializer().fields)
    assert body["region"] == "eu-west-1" and body["instance_type"] == "t3.large"
    assert body["script_setup_time"] == round((180 + 60 + 60) / 60)
    assert body["ami_storage_cost"] == pytest.approx(8 * 0.11)
    assert body["recommendation"] == "ami_recommended"


def test_costs_bad_input(api_client, make_template):
    template = make_template({})
    assert api_client.get(url("costs", template.slug, region="xx-1")).status_code == 400
    bad = api_client.get(url("costs", template.slug, instance_type="';drop"))
    assert bad.status_code == 400 and "instance_type" in bad.json()["errors"]


# --- test (many regions) -----------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_test_endpoint_resolves_default_regions_concurrently(api_client, aws, make_template):
    image = aws.image("us-east-1", "x86_64")
    template = make_template({"ami_mappings": {"us-east-1": image}, "strategy": "ami_required",
                              "fallback_strategy": "script_provisioning"})
    response = api_client.post("/api/v1/ami/test", {"template_name": template.name}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) <= set(AmiTestOutputSerializer().fields)
    assert body["total_regions"] == 4 and body["available_regions"] == 1
    assert body["overall_status"] == "partial"
    assert set(body["region_results"]) == {"us-east-1", "us-west-2", "eu-west-1", "ap-south-1"}
    east = body["region_results"]["us-east-1"]
    assert east["status"] == "passed" and east["ami_id"] == image and east["resolution_method"] == "direct_mapping"
    west = body["region_results"]["us-west-2"]
    assert west["status"] == "failed" and "no AMI available" in west["error"]
    assert west["resolution_method"] == "failed"


@pytest.mark.django_db(transaction=True)
def test_test_endpoint_counts_script_fallback_as_passed_in_all_regions(api_client, aws, make_template):
    template = make_template(None, base="amazonlinux-2023")
    body = api_client.post("/api/v1/ami/test", {"template_name": template.slug, "all_regions": True},
                           format="json").json()
    assert body["overall_status"] == "passed"
    assert body["total_regions"] == body["available_regions"] == 33
    assert {r["resolution_method"] for r in body["region_results"].values()} == {"fallback_script"}
    # The pool threads closed their database connections: only this test's connection remains ours.
    # (A closed connection's backend exits asynchronously: give it a moment.)
    for _ in range(40):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND state = 'idle'")
            idle = cursor.fetchone()[0]
        if idle == 0:
            break
        time.sleep(0.05)
    assert idle == 0


def test_test_endpoint_bad_input(api_client, make_template):
    template = make_template({})
    bad_region = api_client.post("/api/v1/ami/test", {"template_name": template.slug, "regions": ["nowhere-1"]},
                                 format="json")
    assert bad_region.status_code == 400 and "regions" in bad_region.json()["errors"]
    assert api_client.post("/api/v1/ami/test", {}, format="json").status_code == 400
    assert api_client.post("/api/v1/ami/test", {"template_name": "nope"}, format="json").status_code == 404


def test_test_endpoint_all_failed(api_client, make_template):
    template = make_template({"strategy": "ami_required", "fallback_strategy": "error"})
    body = api_client.post("/api/v1/ami/test", {"template_name": template.slug, "regions": ["us-east-1"]},
                           format="json").json()
    assert body["overall_status"] == "failed" and body["available_regions"] == 0


# --- schema and metrics -------------------------------------------------------------------------------------------

def test_schema_describes_every_resolver_endpoint(api_client, db):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for path in ("/api/v1/ami/resolve/{template}", "/api/v1/ami/preview/{template}", "/api/v1/ami/costs/{template}",
                 "/api/v1/ami/test"):
        assert path in paths, path
    resolve = paths["/api/v1/ami/resolve/{template}"]["get"]
    assert {"200", "400", "404", "422"} <= set(resolve["responses"])
    assert {p["name"] for p in resolve["parameters"]} >= {"template", "region", "architecture", "strategy", "details"}


def test_metrics_count_resolutions_cache_events_and_aws_calls(api_client, aws, make_template):
    image = aws.image("us-east-1", "x86_64")
    template = make_template({"ami_mappings": {"us-east-1": image}})
    api_client.get(url("resolve", template.slug, region="us-east-1"))
    api_client.get(url("resolve", template.slug, region="us-east-1"))
    text = api_client.get("/metrics").content.decode()
    assert 'registry_resolutions_total{method="direct_mapping",outcome="resolved"}' in text
    assert 'registry_resolutions_total{method="direct_mapping",outcome="cached"}' in text
    assert 'registry_resolver_cache_total{cache="resolution",result="hit"}' in text
    assert 'registry_aws_calls_total{operation="describe_images",region="us-east-1"}' in text
    assert "registry_resolution_seconds_bucket" in text


@pytest.mark.django_db(transaction=True)
def test_test_endpoint_deep_queues_validation_of_registry_answers(api_client, aws, make_template):
    from amis.models import Operation

    template = make_template({"fallback_strategy": "script_provisioning"})
    ami = AMIFactory(template=template, source_region="us-east-1")
    body = api_client.post("/api/v1/ami/test", {"template_name": template.slug, "regions": ["us-east-1"],
                                                "architecture": "x86_64", "deep": True}, format="json").json()
    assert body["region_results"]["us-east-1"]["resolution_method"] == "registry"
    assert body["deep_validation"]["status"] == "queued"
    operation = Operation.objects.get(ami=ami, kind=Operation.Kind.VALIDATE)
    assert body["deep_validation"]["operations"] == {"us-east-1": str(operation.pk)}


def test_hostile_template_references_are_404_not_500(api_client, db):
    for ref in ("a%00b", "x" * 400, "%F0%9F%92%A5", "..%2F..%2Fetc%2Fpasswd"):
        response = api_client.get(f"/api/v1/ami/resolve/{ref}?region=us-east-1")
        assert response.status_code == 404, (ref, response.status_code)
        assert response.json()["code"] == "not_found"
