"""SemVer parsing and ordering, and version constraints (``~> 1.4``, ``>= 1.2, < 2``)."""
import pytest

from amis.versioning import channel_name_problem, constraint_parse, lineage_name_problem, version_parse


@pytest.mark.parametrize("text", ["1.4", "v1.4.0", "01.2.3", "1.2.3-", "1.2.3-01", "", "1.2.3.4", " "])
def test_not_semver(text):
    assert version_parse(text) is None


def test_semver_order_follows_the_spec():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0", "2.0.0"]
    parsed = [version_parse(v) for v in ordered]
    assert sorted(reversed(parsed)) == parsed
    assert version_parse("1.0.0+build.5") == version_parse("1.0.0")   # build metadata is not ordered


@pytest.mark.parametrize("constraint, matching, not_matching", [
    ("~> 1.4", ["1.4.0", "1.4.9", "1.9.0"], ["1.3.9", "2.0.0", "2.0.0-rc.1"]),
    ("~> 1.4.2", ["1.4.2", "1.4.10"], ["1.4.1", "1.5.0"]),
    ("~> 1", ["1.0.0", "1.9.9"], ["2.0.0", "0.9.0"]),
    (">= 1.2, < 2", ["1.2.0", "1.99.0"], ["1.1.9", "2.0.0"]),
    ("1.4.2", ["1.4.2"], ["1.4.3"]),
    ("= 1.4", ["1.4.0", "1.4.7"], ["1.5.0"]),
    ("!= 1.4.2, >= 1.4", ["1.4.3"], ["1.4.2"]),
    (">= 2.0.0-rc.1", ["2.0.0-rc.2", "2.0.0", "3.0.0"], ["2.0.0-beta.1", "3.0.0-rc.1"]),
])
def test_constraints(constraint, matching, not_matching):
    parsed = constraint_parse(constraint)
    assert parsed is not None
    assert all(parsed.matches(v) for v in matching), constraint
    assert not any(parsed.matches(v) for v in not_matching), constraint


@pytest.mark.parametrize("text", ["", "~>", "~> x", ">= 1.2,", "=> 1.2", "1.2.3.4", "~> 1.4" + " " * 200])
def test_malformed_constraints(text):
    assert constraint_parse(text) is None


def test_names():
    assert channel_name_problem("stable") == "" and channel_name_problem("beta-2") == ""
    assert channel_name_problem("Stable") and channel_name_problem("") and channel_name_problem(3)
    assert lineage_name_problem("genomics-pipeline") == "" and lineage_name_problem("-x")
