"""The region fallback map covers every commercial region, with known regions only."""
from registry.aws import COMMERCIAL_REGIONS, REGION_SET
from resolver.regions import REGION_FALLBACKS, fallback_regions


def test_every_commercial_region_has_an_entry_and_nothing_else_does():
    assert set(REGION_FALLBACKS) == set(COMMERCIAL_REGIONS)


def test_entries_name_known_regions_never_themselves_without_duplicates():
    for region, fallbacks in REGION_FALLBACKS.items():
        assert fallbacks, region
        assert region not in fallbacks, region
        assert set(fallbacks) <= REGION_SET, (region, set(fallbacks) - REGION_SET)
        assert len(set(fallbacks)) == len(fallbacks), region


def test_the_specified_fallbacks_are_kept_in_order():
    """The fallbacks the resolver was specified with (US East, EU West, India), closest first."""
    assert fallback_regions("us-east-1") == ("us-east-2", "us-west-2", "us-west-1")
    assert fallback_regions("eu-west-1") == ("eu-west-2", "eu-central-1", "us-east-1")
    assert fallback_regions("ap-south-1") == ("ap-southeast-1", "ap-northeast-1", "us-east-1")


def test_eu_regions_fall_back_within_europe_first():
    for region, fallbacks in REGION_FALLBACKS.items():
        if region.startswith("eu-"):
            assert fallbacks[0].startswith("eu-"), region


def test_unknown_region_has_no_fallbacks():
    assert fallback_regions("mars-north-1") == ()
