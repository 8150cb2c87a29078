"""One tier order for a resolution and its preview: ``resolver.orchestrator`` walks
``resolver.tiers.TIERS`` for both (the preview as a dry run), for every strategy."""
import pytest

from registry.errors import Unprocessable
from resolver import orchestrator, preview, services
from resolver.context import DIRECT, MARKETPLACE, REGISTRY, SCRIPT, context_build
from resolver.tiers import TIERS
from templates.validation import FALLBACK_STRATEGIES, STRATEGIES
from tests.factories import AMIFactory

pytestmark = pytest.mark.django_db

# Something for every tier to look at, and nothing that answers before the script: in the
# emulator the mapped image does not exist and neither search finds anything.
NOTHING_ANSWERS = {"ami_mappings": {"us-east-1": "ami-0123456789abcdef0", "us-west-2": "ami-0123456789abcdef1"},
                   "ami_search": {"owner": "123456789012", "name_pattern": "nothing-*"},
                   "marketplace_search": {"product_code": "abc123"}}


def walked(call) -> list[str]:
    """The tiers in ``tried`` of an answer or of the 422 ``no_ami_available``."""
    try:
        return [t["tier"] for t in call()["tried"]]
    except Unprocessable as exc:
        assert exc.code == "no_ami_available"
        return [t["tier"] for t in exc.extra["tried"]]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("fallback_strategy", [None, *FALLBACK_STRATEGIES])
@pytest.mark.parametrize("package_manager", ["apt", "ami"])
def test_resolve_and_preview_walk_the_same_tier_order(aws, make_template, aws_calls, strategy, fallback_strategy,
                                                      package_manager):
    config = dict(NOTHING_ANSWERS, **({"fallback_strategy": fallback_strategy} if fallback_strategy else {}))
    template = make_template(config, package_manager=package_manager)
    ctx = context_build(template=template, region="us-east-1", architecture=None, strategy=strategy, user=None)
    expected = [name for name, _ in orchestrator.tier_order(ctx)]

    resolved = walked(lambda: services.resolve(template=template, region="us-east-1", strategy=strategy))
    calls_before_preview = len(aws_calls.calls)
    previewed = walked(lambda: preview.resolve_preview(template=template, region="us-east-1", strategy=strategy))

    assert resolved == previewed == expected
    script_first = strategy == "ami_fallback" and package_manager == "apt"
    assert expected == ([SCRIPT] if script_first else [name for name, _ in TIERS])
    assert len(aws_calls.calls) == calls_before_preview          # the dry run called no AWS
    assert script_first or len(aws_calls.calls) > 0              # the resolution did


def test_one_tier_list_drives_both(aws, make_template, monkeypatch):
    """Reorder the one list and both follow: the preview holds no copy of the order."""
    by_name = dict(TIERS)
    reordered = tuple((name, by_name[name]) for name in (MARKETPLACE, REGISTRY, DIRECT) + tuple(
        name for name, _ in TIERS if name not in (MARKETPLACE, REGISTRY, DIRECT)))
    monkeypatch.setattr(orchestrator, "TIERS", reordered)
    template = make_template(NOTHING_ANSWERS)
    expected = [name for name, _ in reordered]
    assert walked(lambda: services.resolve(template=template, region="us-east-1")) == expected
    assert walked(lambda: preview.resolve_preview(template=template, region="us-east-1")) == expected


def test_a_resolution_stops_at_the_tier_the_preview_predicts(make_template, aws_calls):
    template = make_template({"fallback_strategy": "script_provisioning"})
    ami = AMIFactory(template=template)
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    dry_run = preview.resolve_preview(template=template, region="us-east-1", architecture="x86_64")

    assert answer["resolution_method"] == dry_run["resolution_method"] == REGISTRY
    assert answer["ami_id"] == dry_run["ami_id"] == ami.ami_id
    assert answer["registry_id"] == dry_run["registry_id"] == str(ami.pk)
    # The resolution stops at the answer; the preview walks on and shows every tier.
    assert [t["tier"] for t in answer["tried"]] == [DIRECT, REGISTRY]
    assert [t["tier"] for t in dry_run["tried"]] == [name for name, _ in TIERS]
    assert {t["tier"]: t["outcome"] for t in dry_run["tried"]}[REGISTRY] == "would_answer"
    assert aws_calls.calls == []


@pytest.mark.parametrize("config, outcome", [
    ({"ami_mappings": {"us-east-1": "not-an-ami"}}, "unavailable"),
    ({"ami_search": {"name_pattern": "x-*"}}, "refused"),
    ({"ami_search": {"owner": "123456789012", "architecture": "arm64"}}, "skipped"),
])
def test_the_preview_reports_what_the_resolution_decides_without_aws(aws, make_template, config, outcome):
    """Decisions a tier makes from the configuration alone read the same in both."""
    template = make_template({**config, "fallback_strategy": "script_provisioning"})
    answer = services.resolve(template=template, region="us-east-1", architecture="x86_64")
    dry_run = preview.resolve_preview(template=template, region="us-east-1", architecture="x86_64")
    resolved = {t["tier"]: (t["outcome"], t["reason"]) for t in answer["tried"]}
    previewed = {t["tier"]: (t["outcome"], t["reason"]) for t in dry_run["tried"]}
    tier = next(t["tier"] for t in answer["tried"] if t["outcome"] == outcome)
    assert resolved[tier] == previewed[tier]
