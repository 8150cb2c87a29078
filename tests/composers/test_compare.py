"""Comparison grids: 2–8 AMIs (or a template's candidates) side by side, the numbers taken from
the cost model, the manifests and the ranking; API and page."""
import pytest
from django.test import Client

from amis.models import AMI, AMIRegion
from amis.software import ami_software_declare
from resolver import costs
from tests.amis.helpers import client_for, make_ami
from tests.factories import AMIRegionFactory, TemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trio(user):
    template = TemplateFactory(slug="dl", name="DL", base="ubuntu-22.04", document={
        "name": "DL", "package_manager": "conda", "instance_defaults": {"type": "g5.xlarge"},
        "packages": {"conda": ["python=3.11", "pytorch-cuda=12.1"], "pip": ["torch==2.3.1"]}})
    gpu = make_ami(user, name="GPU", template=template, size_gb=60, rating_avg=4.5, rating_count=4,
                   download_count=9, verified=True, scan_status="passed", security_score=9.1)
    AMIRegionFactory(ami=gpu, region="eu-west-1")
    graviton = make_ami(user, name="Graviton", architecture="arm64", source_region="us-west-2", with_region=False)

    AMIRegion.objects.create(ami=graviton, region="us-west-2", image_id=graviton.ami_id, state="available",
                             is_source=True)
    plain = make_ami(user, name="Plain", doi="10.5281/zenodo.7", license="MIT")
    ami_software_declare(ami=plain, user=user, document={"packages": [], "r": "4.4.1", "kernel": "6.8.0"})
    return gpu, graviton, plain


def test_compare_api_rows_in_the_order_given(trio, api_client):
    gpu, graviton, plain = trio
    body = api_client.get("/api/v1/compare", {"amis": f"{plain.ami_id},{gpu.ami_id},{graviton.ami_id}"}).json()
    assert body["count"] == 3 and [r["name"] for r in body["amis"]] == ["Plain", "GPU", "Graviton"]
    assert body["requested"] == [plain.ami_id, gpu.ami_id, graviton.ami_id] and body["template"] is None
    row = body["amis"][1]
    assert row["architecture"] == "x86_64" and sorted(row["regions"]) == ["eu-west-1", "us-east-1"] and row["size_gb"] == 60
    assert row["launch_time_estimate_seconds"] == costs.ami_launch_seconds()
    assert row["script_setup_seconds"] == costs.script_setup_seconds(gpu.template.document)
    # The recommended GPU type from the instance advice, priced by the cost model in the source region.
    assert row["cost"]["instance_types"][0] == {**row["cost"]["instance_types"][0], "instance_type": "g4dn.xlarge",
                                                "hourly_price": pytest.approx(costs.instance_hourly("g4dn.xlarge",
                                                                                                    "us-east-1"))}
    assert row["highlights"]["cuda"] == "12.1" and row["highlights"]["pytorch"] == "2.3.1"
    assert row["highlights"]["python"] == "3.11"
    assert row["verified"] is True and row["scan_status"] == "passed" and row["security_score"] == 9.1
    assert row["rating_avg"] == 4.5 and row["download_count"] == 9
    assert body["amis"][0]["highlights"]["r"] == "4.4.1" and body["amis"][0]["doi"] == "10.5281/zenodo.7"
    arm = body["amis"][2]["cost"]["instance_types"][0]
    assert arm["architecture"] == "arm64" and arm["instance_type"] == "t4g.medium"   # no template: the default
    assert body["cheapest_hourly_price"] == min(r["cost"]["instance_types"][0]["hourly_price"] for r in body["amis"])
    stale = {s["name"] for s in body["amis"][0]["freshness"]["stale"]}
    assert "stale_scan" in stale  # never scanned


def test_compare_in_one_region_adds_the_copy_time_where_there_is_no_copy(trio, api_client):
    gpu, graviton, _plain = trio
    body = api_client.get("/api/v1/compare", {"amis": f"{gpu.ami_id},{graviton.ami_id}", "region": "eu-west-1"}).json()
    here, elsewhere = body["amis"]
    assert here["copy"] is None and here["launch_time_estimate_seconds"] == costs.ami_launch_seconds()
    assert elsewhere["copy"]["source_region"] == "us-west-2"
    assert elsewhere["launch_time_estimate_seconds"] == costs.ami_launch_seconds() + \
        elsewhere["copy"]["estimated_minutes"] * 60
    assert elsewhere["cost"]["region"] == "eu-west-1"


@pytest.mark.parametrize("params, field, status", [
    ({"amis": "ami-0123456789abcdef0"}, "amis", 400),
    ({"amis": ",".join(f"ami-{i:017x}" for i in range(9))}, "amis", 400),
    ({}, "amis", 400),
    ({"amis": "a,b", "region": "mars-1"}, "region", 400),
])
def test_compare_bad_input(params, field, status, api_client):
    response = api_client.get("/api/v1/compare", params)
    assert response.status_code == status and field in response.json()["errors"]


def test_compare_invisible_ami_is_404_and_duplicates_are_one_column(trio, user, api_client):
    gpu, _g, _p = trio
    hidden = make_ami(user, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE)
    assert api_client.get("/api/v1/compare", {"amis": f"{gpu.ami_id},{hidden.ami_id}"}).status_code == 404
    assert client_for(user).get("/api/v1/compare", {"amis": f"{gpu.ami_id},{hidden.ami_id}"}).status_code == 200
    eu = gpu.regions.get(region="eu-west-1").image_id
    assert api_client.get("/api/v1/compare", {"amis": f"{gpu.ami_id},{eu}"}).json()["count"] == 1


def test_compare_a_templates_candidates(trio, user, api_client):
    gpu, _g, _p = trio
    second = make_ami(user, name="GPU 2", template=gpu.template)
    body = api_client.get("/api/v1/compare", {"template": "dl"}).json()
    assert body["template"] == "dl" and {r["ami_id"] for r in body["amis"]} == {gpu.ami_id, second.ami_id}
    assert api_client.get("/api/v1/compare", {"template": "nope"}).status_code == 404


def test_compare_page_is_shareable_and_shows_the_grid(trio):
    gpu, graviton, plain = trio
    html = Client().get("/compare/", {"amis": f"{gpu.ami_id},{graviton.ami_id},{plain.ami_id}"}).content.decode()
    assert 'id="compare-grid"' in html and "g4dn.xlarge" in html and "t4g.medium" in html
    assert "cheapest" in html and "4.4.1" in html and "12.1" in html and "stale" in html
    assert Client().get("/compare/").status_code == 200
    bad = Client().get("/compare/", {"amis": gpu.ami_id})
    assert bad.status_code == 400 and 'id="compare-error"' in bad.content.decode()
    assert Client().get("/compare/", {"amis": f"{gpu.ami_id},ami-ffffffffffffffff0"}).status_code == 404
    page = Client().get("/templates/dl/").content.decode()
    make_ami(gpu.creator, name="GPU 2", template=gpu.template)
    assert 'id="compare-candidates"' in Client().get("/templates/dl/").content.decode()
    assert page  # rendered before the second candidate existed
