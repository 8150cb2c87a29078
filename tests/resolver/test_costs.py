"""The cost model: CloudWorkstation defaults, settings overrides, the cws analysis fields."""
import pytest

from resolver import costs


def test_storage_and_transfer_rates_by_region_group():
    assert costs.storage_per_gb_month("us-east-1") == 0.10
    assert costs.storage_per_gb_month("eu-central-1") == 0.11
    assert costs.storage_per_gb_month("ap-south-1") == 0.12
    assert costs.transfer_per_gb("us-west-2") == 0.02
    assert costs.transfer_per_gb("ap-northeast-1") == 0.03


def test_script_time_counts_each_package_kind():
    doc = {"packages": {"system": ["a", "b", "c"], "conda": ["x", "y"], "pip": ["p"] * 4, "spack": ["s"]}}
    assert costs.script_setup_seconds(doc) == 180 + 3 * 10 + 2 * 20 + 4 * 5
    assert costs.script_setup_seconds({}) == 180


def test_default_size_is_8_gb_and_real_size_wins():
    eight = costs.copy_estimate(source_region="us-east-1", target_region="eu-west-1", size_gb=None)
    assert eight["size_gb"] == 8
    assert eight["estimated_cost"] == pytest.approx(8 * 0.02 + 8 * 0.11)
    thirty = costs.copy_estimate(source_region="ap-south-1", target_region="us-east-1", size_gb=30)
    assert thirty["estimated_cost"] == pytest.approx(30 * 0.03 + 30 * 0.10)
    assert thirty["estimated_minutes"] > eight["estimated_minutes"]


def test_instance_prices_use_regional_multipliers_and_template_estimates():
    assert costs.instance_hourly("t3.medium", "us-east-1") == pytest.approx(0.0416)
    assert costs.instance_hourly("t3.medium", "eu-central-1") == pytest.approx(0.0416 * 1.15)
    doc = {"instance_defaults": {"estimated_cost_per_hour": {"arm64": 0.5}}}
    assert costs.instance_hourly("x9.weird", "us-east-1", document=doc, architecture="arm64") == pytest.approx(0.5)


def test_analysis_fields_and_recommendation():
    doc = {"packages": {"system": ["a"] * 12, "conda": ["c"] * 10}, "instance_defaults": {"type": "t3.medium"}}
    result = costs.cost_analysis(document=doc, region="us-east-1", architecture="x86_64", template_name="T")
    assert set(result) >= {"template_name", "region", "ami_launch_cost", "ami_storage_cost", "ami_setup_cost",
                           "script_launch_cost", "script_setup_cost", "script_setup_time", "break_even_point",
                           "cost_savings_1h", "cost_savings_8h", "time_savings", "recommendation", "reasoning"}
    setup_s = 180 + 120 + 200
    assert result["script_setup_time"] == round(setup_s / 60)
    assert result["ami_launch_cost"] == result["script_launch_cost"] == pytest.approx(0.0416)  # per hour
    assert result["ami_setup_cost"] == result["boot_cost"] == pytest.approx(0.0416 * 30 / 3600, abs=1e-5)
    assert result["script_setup_cost"] == pytest.approx(0.0416 * setup_s / 3600, abs=1e-5)
    assert result["ami_storage_cost"] == pytest.approx(0.8)
    assert result["cost_savings_1h"] > result["cost_savings_8h"]
    assert result["time_savings"] == round((setup_s - 30) / 60)
    assert result["recommendation"] == "ami_recommended"
    saving = result["script_setup_cost"] - result["ami_setup_cost"]
    assert result["break_even_launches_per_month"] == pytest.approx(0.8 / saving, rel=0.01)
    # hours: one launch's saving pays for this many hours of storage (0.8 $/month over 730 h)
    assert result["break_even_point"] == pytest.approx(saving / (0.8 / 730), rel=0.01)
    assert result["cost_savings_1_hour"] == result["cost_savings_1h"] > 0
    assert result["cost_savings_8_hour"] == result["cost_savings_8h"]


def test_settings_override_defaults(settings):
    settings.REGISTRY_RESOLVER_COSTS = {"storage_per_gb_month": {"us-": 0.2}, "default_ami_size_gb": 20}
    assert costs.storage_per_gb_month("us-east-1") == 0.2
    assert costs.storage_per_gb_month("eu-west-1") == 0.11          # other entries keep their default
    assert costs.image_size_gb(None) == 20
