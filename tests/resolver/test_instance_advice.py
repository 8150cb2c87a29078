"""Instance-family advice: arm64 or x86_64, which type, by the cost model's prices and the
template's needs (GPU, the default type's size), in the costs API, the template page and the CLI."""
import pytest
from django.test import Client

from resolver import costs


@pytest.mark.parametrize("itype, arch", [("t4g.medium", "arm64"), ("m7g.large", "arm64"), ("c7gn.large", "arm64"),
                                         ("g5g.xlarge", "arm64"), ("g5.xlarge", "x86_64"), ("g4dn.xlarge", "x86_64"),
                                         ("m6i.large", "x86_64"), ("p3.2xlarge", "x86_64")])
def test_instance_architecture_from_the_name(itype, arch):
    assert costs.instance_architecture(itype) == arch


def test_needs_come_from_the_default_type_gpu_tags_and_family_preference():
    assert costs.template_needs({"instance_defaults": {"type": "r6i.large"}}) == {
        "architectures": ["x86_64", "arm64"], "gpu": False, "min_vcpus": 2, "min_memory_gib": 16, "families": [],
        "basis": "at least the 2 vCPUs and 16 GiB of instance_defaults.type r6i.large"}
    assert costs.template_needs({"instance_defaults": {"type": "g5.xlarge"}})["gpu"] is True
    assert costs.template_needs({"tags": {"gpu": "required"}})["gpu"] is True
    assert costs.template_needs({"ami_config": {"instance_family_preference": ["g6"]}})["gpu"] is True
    unknown = costs.template_needs({"instance_defaults": {"type": "x2idn.16xlarge"}})
    assert unknown["min_memory_gib"] == 0 and "not in the price table" in unknown["basis"]


def test_memory_bound_template_gets_the_cheapest_type_with_enough_memory_per_architecture():
    advice = costs.instance_advice(document={"instance_defaults": {"type": "r6i.large"}}, region="us-east-1")
    assert advice["by_architecture"]["x86_64"]["instance_type"] == "r6i.large"
    assert advice["by_architecture"]["arm64"]["instance_type"] == "r7g.large"
    assert advice["recommended"]["instance_type"] == "r7g.large"    # 0.1071 < 0.126
    assert advice["arm64_saving_percent"] == pytest.approx(100 * (1 - 0.1071 / 0.126), abs=0.1)
    assert all(c["memory_gib"] >= 16 and not c["instance_type"].startswith("t") for c in advice["candidates"])
    assert "r7g.large" in advice["reasoning"] and "less than x86_64" in advice["reasoning"]


def test_gpu_template_gets_a_gpu_type_and_never_a_cpu_one():
    doc = {"instance_defaults": {"type": "g5.xlarge"}}
    advice = costs.instance_advice(document=doc, region="us-east-1", architectures=["x86_64"])
    assert advice["recommended"]["instance_type"] == "g4dn.xlarge"   # 4 vCPUs, 16 GiB, 1 GPU, cheapest
    assert all(c["gpus"] == 1 for c in advice["candidates"])
    assert "arm64" not in advice["by_architecture"]
    # g5g (arm64) has 8 GiB: too little for a template sized like g5.xlarge.
    both = costs.instance_advice(document=doc, region="us-east-1")
    assert "arm64" not in both["by_architecture"]


def test_family_preference_narrows_and_regional_prices_apply():
    doc = {"instance_defaults": {"type": "g5.xlarge"}, "ami_config": {"instance_family_preference": ["g5", "g6"]}}
    advice = costs.instance_advice(document=doc, region="eu-central-1")
    assert advice["recommended"]["instance_type"] == "g6.xlarge"
    assert advice["recommended"]["hourly_price"] == pytest.approx(0.8048 * 1.15, abs=1e-5)


def test_small_default_allows_burstable_types_and_no_candidate_is_explained():
    small = costs.instance_advice(document={"instance_defaults": {"type": "t3.medium"}}, region="us-east-1")
    assert small["recommended"]["instance_type"] == "t4g.medium"
    none = costs.instance_advice(document={"instance_defaults": {"type": "p3.2xlarge"}}, region="us-east-1",
                                 architectures=["arm64"])
    assert none["recommended"] is None and "No priced instance type" in none["reasoning"]


@pytest.mark.django_db
def test_costs_api_and_template_page_show_the_advice(make_template):
    template = make_template(None, instance_defaults={"type": "r6i.large"})  # says nothing: runs on both
    body = Client().get(f"/api/v1/ami/costs/{template.slug}", {"region": "eu-west-1"}).json()
    advice = body["instance_advice"]
    assert advice["template_name"] == template.name and advice["region"] == "eu-west-1"
    assert advice["recommended"]["instance_type"] == "r7g.large"
    assert body["recommendation"] in ("ami_recommended", "script_recommended", "neutral")  # cws keys kept
    x86_only = Client().get(f"/api/v1/ami/costs/{template.slug}", {"region": "eu-west-1",
                                                                    "architecture": "x86_64"}).json()
    assert list(x86_only["instance_advice"]["by_architecture"]) == ["x86_64"]
    page = Client().get(f"/templates/{template.slug}/").content.decode()
    assert 'id="instance-advice"' in page and "r7g.large" in page and "r6i.large" in page and "15.0 %" in page
    pinned = make_template({"preferred_architecture": "x86_64", "ami_search": {"owner": "123456789012",
                            "name_pattern": "x-*", "architecture": ["x86_64"]}}, instance_defaults={"type": "r6i.large"})
    advice = Client().get(f"/api/v1/ami/costs/{pinned.slug}", {"region": "eu-west-1"}).json()["instance_advice"]
    assert advice["needs"]["architectures"] == ["x86_64"] and advice["recommended"]["instance_type"] == "r6i.large"
