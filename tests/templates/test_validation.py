"""templates.validation: every rule (bad value → exact path + message), hostile input, properties.

Pure Python: no database, so these run in well under a second each.
"""
import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from templates.validation import derive_slug, slug_of, validate_fields, validate_whole, validate_yaml
from templates import yaml_parse
from templates.yaml_parse import MAX_BYTES, MAX_DEPTH, parse_yaml

VALID = {
    "name": "Python ML",
    "description": "A workstation",
    "base": "ubuntu-22.04",
    "package_manager": "conda",
    "packages": {"system": ["git"], "conda": ["numpy"], "pip": ["torch"]},
    "services": [{"name": "jupyter", "port": 8888, "config": ["c.ip = '0.0.0.0'"], "enable": True}],
    "users": [{"name": "researcher", "groups": ["sudo"], "shell": "/bin/bash"}],
    "instance_defaults": {"type": "t3.medium", "ports": [22, 8888], "root_volume_gb": 50,
                          "estimated_cost_per_hour": {"x86_64": 0.0464, "arm64": 0.0368}},
    "estimated_launch_time": 5,
    "version": "1.0.0",
    "tags": {"language": "python"},
    "ami_config": {
        "strategy": "ami_preferred",
        "ami_mappings": {"us-east-1": "ami-0123456789abcdef0", "us-west-2": "ami-0fedcba9"},
        "ami_search": {"owner": "123456789012", "name_pattern": "cws-python-ml-*", "version_tag": "v2.1.0",
                       "architecture": ["arm64", "x86_64"], "min_creation_date": "2024-01-01",
                       "required_tags": {"Template": "python-ml"}},
        "marketplace_search": {"product_code": "abc123", "version_constraint": ">=2.0.0", "publisher": "ACME"},
        "fallback_strategy": "script_provisioning",
        "fallback_timeout": "10m",
        "preferred_architecture": "arm64",
        "instance_family_preference": ["t4g", "m6i", "c6i"],
        "ssh_user": "ubuntu",
        "user_data_script": "echo hi",
        "amis": {"us-east-1": {"x86_64": "ami-0c94855ba95b798c7", "arm64": "ami-0f3c7d07486cad139"}},
        "instance_types": {"x86_64": "t3.medium", "arm64": "t4g.medium"},
    },
}


@pytest.fixture
def composed(monkeypatch):
    """Counts the nodes the bounded composer builds: hostile documents must stop early, which is
    what keeps them cheap (measured as work done, not as time, so a busy machine cannot fail it)."""
    counter = {"nodes": 0}
    original = yaml_parse._BoundedLoader.compose_node

    def counting(self, parent, index):
        counter["nodes"] += 1
        return original(self, parent, index)

    monkeypatch.setattr(yaml_parse._BoundedLoader, "compose_node", counting)
    return counter


def with_(path: str, value):
    """A copy of VALID with the dotted ``path`` set to ``value`` (``...`` deletes the key)."""
    doc = copy.deepcopy(VALID)
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def errors_of(doc) -> dict:
    result = validate_yaml(yaml.safe_dump(doc))
    return result.errors


def test_the_valid_document_is_valid():
    result = validate_yaml(yaml.safe_dump(VALID))
    assert result.valid, result.errors
    assert result.document == VALID
    assert result.merged == VALID


# (dotted path to change, bad value, path of the error, exact message)
RULES = [
    ("name", ..., "name", "name is required"),
    ("description", ..., "description", "description is required"),
    ("base", ..., "base", "base is required"),
    ("name", "", "name", "must not be empty"),
    ("name", ["x"], "name", "must be a string, not a list"),
    ("base", "windows-11", "base",
     "unknown base OS 'windows-11', must be one of: ubuntu-20.04, ubuntu-22.04, ubuntu-24.04, amazonlinux-2, "
     "amazonlinux-2023, rocky-8, rocky-9, rocky-10, almalinux-8, almalinux-9, rhel-8, rhel-9, debian-11, "
     "debian-12, ami-based"),
    ("package_manager", "brew", "package_manager",
     "unknown package manager 'brew', must be one of: apt, dnf, conda, spack, ami, pip"),
    ("ami_config.strategy", "X", "ami_config.strategy",
     "invalid AMI strategy 'X', must be one of: ami_preferred, ami_required, ami_fallback"),
    ("ami_config.ami_mappings.mars-north-1", "ami-0123456789abcdef0", "ami_config.ami_mappings.mars-north-1",
     "unknown AWS region 'mars-north-1'"),
    ("ami_config.ami_mappings.us-east-1", "ami-XYZ", "ami_config.ami_mappings.us-east-1",
     "invalid AMI ID format 'ami-XYZ', must be ami- followed by 8 or 17 lowercase hex digits"),
    ("ami_config.ami_mappings.us-east-1", "ami-0123456789abcdef", "ami_config.ami_mappings.us-east-1",
     "invalid AMI ID format 'ami-0123456789abcdef', must be ami- followed by 8 or 17 lowercase hex digits"),
    ("ami_config.amis.eu-west-9", {"x86_64": "ami-0c94855ba95b798c7"}, "ami_config.amis.eu-west-9",
     "unknown AWS region 'eu-west-9'"),
    ("ami_config.amis.us-east-1.x86_64", "ami-1", "ami_config.amis.us-east-1.x86_64",
     "invalid AMI ID format 'ami-1', must be ami- followed by 8 or 17 lowercase hex digits"),
    ("ami_config.amis.us-east-1.sparc", "ami-0c94855ba95b798c7", "ami_config.amis.us-east-1.sparc",
     "invalid architecture 'sparc', must be 'x86_64' or 'arm64'"),
    ("ami_config.ami_search.owner", ..., "ami_config.ami_search.owner", "owner is required for AMI search"),
    ("ami_config.ami_search.name_pattern", ..., "ami_config.ami_search.name_pattern",
     "name_pattern is required for AMI search"),
    ("ami_config.ami_search.architecture.1", "i386", "ami_config.ami_search.architecture.1",
     "invalid architecture 'i386', must be 'x86_64' or 'arm64'"),
    ("ami_config.preferred_architecture", "mips", "ami_config.preferred_architecture",
     "invalid architecture 'mips', must be 'x86_64' or 'arm64'"),
    ("ami_config.ami_search.min_creation_date", "2024-13-45", "ami_config.ami_search.min_creation_date",
     "invalid date format '2024-13-45', must be YYYY-MM-DD"),
    ("ami_config.ami_search.min_creation_date", "yesterday", "ami_config.ami_search.min_creation_date",
     "invalid date format 'yesterday', must be YYYY-MM-DD"),
    ("ami_config.ami_search.required_tags.Template", "", "ami_config.ami_search.required_tags.Template",
     "tag value cannot be empty"),
    ("ami_config.fallback_timeout", "10 minutes", "ami_config.fallback_timeout",
     "invalid timeout format '10 minutes', must be a valid duration (e.g., '10m', '30s')"),
    ("ami_config.fallback_strategy", "pray", "ami_config.fallback_strategy",
     "invalid fallback strategy 'pray', must be one of: script_provisioning, error, cross_region"),
    ("ami_config.marketplace_search.version_constraint", "latest please",
     "ami_config.marketplace_search.version_constraint",
     "invalid version constraint format 'latest please', must be a version with an optional operator "
     "(e.g. '>=2.0.0')"),
    ("ami_config.marketplace_search.product_code", ..., "ami_config.marketplace_search.product_code",
     "product_code is required for marketplace search"),
    ("ami_config.instance_family_preference.2", "zz9", "ami_config.instance_family_preference.2",
     "unknown instance family 'zz9'"),
    ("instance_defaults.type", "q9.large", "instance_defaults.type", "unknown instance family 'q9'"),
    ("instance_defaults.type", "large", "instance_defaults.type",
     "invalid instance type 'large', must look like 't3.medium'"),
    ("ami_config.instance_types.arm64", "zz1.medium", "ami_config.instance_types.arm64",
     "unknown instance family 'zz1'"),
    ("services.0.port", 70000, "services.0.port", "port 70000 out of range, must be between 1 and 65535"),
    ("services.0.port", 0, "services.0.port", "port 0 out of range, must be between 1 and 65535"),
    ("services.0.port", "http", "services.0.port", "port must be an integer between 1 and 65535, not a string"),
    ("services.0.name", ..., "services.0.name", "name is required"),
    ("services.0.enable", "yes please", "services.0.enable", "must be true or false, not a string"),
    ("instance_defaults.ports.1", -1, "instance_defaults.ports.1",
     "port -1 out of range, must be between 1 and 65535"),
    ("instance_defaults.ports.0", True, "instance_defaults.ports.0",
     "port must be an integer between 1 and 65535, not a boolean"),
    ("instance_defaults.estimated_cost_per_hour.arm64", -2, "instance_defaults.estimated_cost_per_hour.arm64",
     "cost must be a non-negative number of dollars per hour, not '-2'"),
    ("instance_defaults.root_volume_gb", 0, "instance_defaults.root_volume_gb",
     "root_volume_gb must be an integer between 1 and 65536, not '0'"),
    ("users.0.name", ..., "users.0.name", "name is required"),
    ("users.0.groups", "sudo", "users.0.groups", "must be a list, not a string"),
    ("packages.pip.0", 3, "packages.pip.0", "must be a string, not a integer"),
    ("packages", ["numpy"], "packages", "must be a mapping, not a list"),
    ("services", {"name": "x"}, "services", "must be a list, not a mapping"),
    ("tags.nested", {"a": 1}, "tags.nested", "must be a string, not a mapping"),
    ("estimated_launch_time", "soon", "estimated_launch_time",
     "estimated_launch_time must be a non-negative number of minutes, not 'soon'"),
    ("slug", "has spaces", "slug", "invalid slug 'has spaces': use at most 100 letters, digits, '-' and '_'"),
    ("inherits", "parent", "inherits", "must be a list, not a string"),
    ("ami_config", "ami-0123", "ami_config", "must be a mapping, not a string"),
]


@pytest.mark.parametrize("path,value,error_path,message", RULES, ids=[f"{r[0]}={r[1]!r}"[:60] for r in RULES])
def test_each_rule_reports_the_exact_path_and_message(path, value, error_path, message):
    errors = errors_of(with_(path, value))
    assert message in errors.get(error_path, []), errors


def test_ami_required_without_any_way_to_find_an_ami():
    doc = copy.deepcopy(VALID)
    doc["package_manager"] = "ami"
    doc.pop("packages")
    doc["ami_config"] = {"strategy": "ami_required", "ssh_user": "ubuntu"}
    assert errors_of(doc) == {"ami_config.strategy": [
        "when strategy is 'ami_required', at least one AMI resolution method must be provided "
        "(ami_mappings, ami_search, marketplace_search, or legacy amis)"]}


def test_ami_required_with_a_script_package_manager():
    doc = with_("ami_config.strategy", "ami_required")
    assert errors_of(doc) == {"ami_config.strategy": [
        "template cannot have both 'ami_required' strategy and script-based package manager 'conda', "
        "use 'ami_preferred' or 'ami_fallback'"]}


def test_package_manager_ami_with_packages_listed():
    doc = with_("package_manager", "ami")
    assert errors_of(doc) == {"packages": [
        "package_manager 'ami' installs nothing: remove packages or use a script package manager "
        "(apt, dnf, conda, spack, pip)"]}
    doc["packages"] = {"pip": [], "system": None}      # empty lists install nothing: fine
    assert errors_of(doc) == {}


def test_ami_mappings_without_ssh_user():
    doc = with_("ami_config.ssh_user", ...)
    assert errors_of(doc) == {"ami_config.ssh_user": ["ssh_user must be specified when using AMI mappings"]}


def test_all_errors_are_reported_at_once():
    doc = copy.deepcopy(VALID)
    del doc["description"]
    doc["base"] = "plan9"
    doc["ami_config"]["strategy"] = "sometimes"
    doc["ami_config"]["ami_mappings"]["moon-1"] = "ami-bad"
    doc["services"][0]["port"] = 99999
    doc["instance_defaults"]["ports"] = [22, 0]
    errors = errors_of(doc)
    assert set(errors) == {"description", "base", "ami_config.strategy", "ami_config.ami_mappings.moon-1",
                           "services.0.port", "instance_defaults.ports.1"}
    assert errors["ami_config.ami_mappings.moon-1"] == [
        "unknown AWS region 'moon-1'",
        "invalid AMI ID format 'ami-bad', must be ami- followed by 8 or 17 lowercase hex digits"]


def test_unknown_keys_are_kept_and_never_errors():
    doc = {**VALID, "connection_type": "web", "idle_detection": {"enabled": True}, "x-anything": [1, {"b": None}]}
    result = validate_yaml(yaml.safe_dump(doc))
    assert result.valid
    assert result.document["idle_detection"] == {"enabled": True}
    assert result.document["x-anything"] == [1, {"b": None}]


def test_every_commercial_region_is_known():
    from registry.aws import COMMERCIAL_REGIONS

    doc = with_("ami_config.ami_mappings", {r: "ami-0123456789abcdef0" for r in COMMERCIAL_REGIONS})
    assert errors_of(doc) == {}


def test_an_unquoted_account_id_that_lost_its_leading_zero():
    # YAML 1.1 reads 012345670123 as an octal number: the owner would be wrong, so it must be quoted.
    text = yaml.safe_dump(VALID).replace("owner: '123456789012'", "owner: 012345670123")
    assert validate_yaml(text).errors == {"ami_config.ami_search.owner": [
        'invalid owner 1402433619: an account id has 12 digits; quote it in YAML (owner: "012345678901")']}


@pytest.mark.parametrize("value", ["10m", "30s", "1h30m", "1.5h", "250ms"])
def test_go_durations_are_accepted(value):
    assert errors_of(with_("ami_config.fallback_timeout", value)) == {}


@pytest.mark.parametrize("value", [">=2.0.0", "2.1", "~1.2.3", "^2", ">=1.0, <2.0", "=3.0.0-beta.1"])
def test_version_constraints_are_accepted(value):
    assert errors_of(with_("ami_config.marketplace_search.version_constraint", value)) == {}


def test_unquoted_yaml_dates_and_account_ids_are_accepted():
    text = yaml.safe_dump(VALID).replace("min_creation_date: '2024-01-01'", "min_creation_date: 2024-01-01")
    text = text.replace("owner: '123456789012'", "owner: 123456789012")
    assert "min_creation_date: 2024-01-01" in text and "owner: 123456789012" in text
    result = validate_yaml(text)
    assert result.valid, result.errors
    assert result.document["ami_config"]["ami_search"]["min_creation_date"] == "2024-01-01"  # JSON-ready


def test_the_documented_example_is_valid():
    text = open("templates/examples/ami-python-ml.yml", encoding="utf-8").read()
    result = validate_yaml(text)
    assert result.valid, result.errors
    assert result.document["ami_config"]["ami_mappings"] == {"us-east-1": "ami-0123456789abcdef0",
                                                             "us-west-2": "ami-0fedcba9876543210"}


# --- slugs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,slug", [
    ("Python ML (AMI Optimized)", "python-ml-ami-optimized"),
    ("Ubuntu 22.04 Server", "ubuntu-22-04-server"),
    ("  R / RStudio!! ", "r-rstudio"),
    ("Ünïcode Ωmega", "n-code-mega"),
])
def test_derive_slug(name, slug):
    assert derive_slug(name) == slug


def test_slug_of_prefers_the_given_slug():
    assert slug_of({"name": "Python ML", "slug": "pml"}) == "pml"
    assert slug_of({"name": "Python ML"}) == "python-ml"


def test_a_name_without_letters_or_digits_needs_a_slug():
    assert errors_of({**VALID, "name": "!!!"}) == {"slug": ["cannot derive a slug from the name: give a slug"]}
    assert errors_of({**VALID, "name": "!!!", "slug": "bang"}) == {}


# --- hostile input ----------------------------------------------------------------------------
def _doc_error(source) -> list[str]:
    doc, errors = parse_yaml(source)
    assert doc is None
    return errors["yaml"]


def test_not_yaml():
    assert _doc_error("name: [unclosed")[0].startswith("not valid YAML: ")
    assert _doc_error("a: b: c")[0].startswith("not valid YAML: ")


@pytest.mark.parametrize("text,kind", [("- a\n- b\n", "list"), ("42", "integer"), ("just text", "string"),
                                       ("true", "boolean")])
def test_documents_that_are_not_mappings(text, kind):
    assert _doc_error(text) == [f"the document must be a mapping of keys to values, not a {kind}"] \
        if kind != "list" else ["the document must be a mapping of keys to values, not a list"]


@pytest.mark.parametrize("text", ["", "   \n", "~", "null", "# only a comment\n"])
def test_empty_documents(text):
    assert _doc_error(text) == ["document is empty"]


def test_billion_laughs_is_refused_quickly(composed):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    errors = _doc_error("\n".join(lines))
    assert composed["nodes"] < 200  # the aliases are counted, never expanded
    assert errors == ["document has more than 25000 values once YAML aliases are expanded"]


def test_too_many_values_stop_while_composing(composed):
    errors = _doc_error("[" + ",".join(["1"] * 120_000) + "]")     # 240 KB: under the size limit
    assert composed["nodes"] == yaml_parse.MAX_NODES + 1  # stopped at the limit, not after 120,000
    assert errors == ["document has more than 25000 values"]


def test_self_referencing_alias_is_refused():
    errors = _doc_error("a: &x [*x, *x]\n")
    assert errors[0].startswith("document ")


def test_a_few_harmless_aliases_are_fine():
    doc, errors = parse_yaml("common: &c {enable: true}\nname: x\nother: *c\n")
    assert errors == {} and doc["other"] == {"enable": True}


def test_documents_over_the_size_limit():
    text = "name: x\ndescription: " + "y" * MAX_BYTES
    assert _doc_error(text) == [f"document is larger than {MAX_BYTES} bytes (256 KiB)"]
    assert _doc_error(text.encode()) == [f"document is larger than {MAX_BYTES} bytes (256 KiB)"]


@pytest.mark.parametrize("text", [
    "a: " + "[" * 5000 + "]" * 5000,                                    # flow nesting
    "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v",   # block nesting
    "a: " + "{x: " * 3000 + "1" + "}" * 3000,
])
def test_deeply_nested_documents(text):
    errors = _doc_error(text)
    assert errors[0].startswith(f"document is nested deeper than {MAX_DEPTH} levels") or \
        errors[0].startswith("not valid YAML: "), errors


def test_non_utf8_bytes():
    assert _doc_error(b"name: \xff\xfe caf\xe9\n") == ["document is not valid UTF-8 (byte 6)"]


def test_utf8_bytes_and_bom_are_fine():
    doc, errors = parse_yaml("\ufeffname: Café ☕\n".encode())
    assert errors == {} and doc == {"name": "Café ☕"}


@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['echo pwned']",
    "a: !!python/name:os.system",
    "? [a, b]\n: c",                      # a list as a mapping key: unhashable
    "a: 1\n---\nb: 2\n",                  # two documents
    "date: 2024-02-31",                   # a YAML timestamp that is not a date
    "n: " + "9" * 5000,                   # int longer than Python's int-from-string limit
    "a: \x00",
    "a: \ud800",                          # a lone surrogate (possible from JSON)
    "%YAML 9.9\n---\na: 1",
    "a: &anchor\nb: *unknown",
])
def test_hostile_or_broken_yaml_is_an_error_not_a_crash(text):
    errors = _doc_error(text)
    assert errors and isinstance(errors[0], str)


@pytest.mark.parametrize("text,message", [
    ('name: "a\\0b"', "document contains a NUL character (\\0), which cannot be stored"),
    ('inherits: ["x\\0"]', "document contains a NUL character (\\0), which cannot be stored"),
    ('"key\\0": 1', "document contains a NUL character (\\0), which cannot be stored"),
])
def test_escapes_postgresql_cannot_store_are_refused(text, message):
    assert _doc_error(text) == [message]


def test_non_string_input():
    assert _doc_error(None) == ["yaml is required"]
    assert _doc_error(12) == ["yaml must be a string"]


def test_yaml_values_are_made_json_ready():
    doc, errors = parse_yaml("a: .nan\nb: .inf\nc: !!binary aGk=\n1: one\nnull: x\nd: 2024-01-01 10:00:00\n"
                             "e: !!set {x, y}\n")
    assert errors == {}
    assert doc == {"a": "nan", "b": "inf", "c": "aGk=", "1": "one", "null": "x",
                   "d": "2024-01-01T10:00:00", "e": ["x", "y"]}


def test_a_full_size_valid_document_validates():
    # How long it takes is the benchmarks' business; here: the largest honest document is valid.
    packages = [f"package-number-{i}" for i in range(8000)]
    text = yaml.safe_dump({**VALID, "packages": {"pip": packages}})
    assert len(text.encode()) < MAX_BYTES
    result = validate_yaml(text)
    assert result.valid


# --- properties -------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["ami-0123456789abcdef0", "us-east-1", "arm64",
                                                           "ami_required", "ami", "10m", "t4g.medium"]))
keys = st.one_of(st.text(max_size=12), st.sampled_from(
    ["name", "description", "base", "inherits", "packages", "services", "users", "instance_defaults",
     "ami_config", "ami_mappings", "ami_search", "amis", "strategy", "port", "ports", "tags", "system", "pip",
     "package_manager", "ssh_user", "architecture", "estimated_cost_per_hour", "type", "owner"]))
trees = st.recursive(scalars, lambda children: st.one_of(st.lists(children, max_size=4),
                                                         st.dictionaries(keys, children, max_size=5)),
                     max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_property_arbitrary_text_never_raises(text):
    result = validate_yaml(text)
    assert result.valid in (True, False)
    assert result.valid == (not result.errors)
    assert all(isinstance(k, str) and v and all(isinstance(m, str) for m in v) for k, v in result.errors.items())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, trees, max_size=8))
def test_property_arbitrary_structures_never_raise(doc):
    text = yaml.safe_dump(doc, allow_unicode=True)
    result = validate_yaml(text)
    assert result.valid in (True, False)
    assert result.valid == (not result.errors)
    # And the rule functions themselves accept any parsed structure.
    assert isinstance(validate_fields(result.document or {}), dict)
    assert isinstance(validate_whole(result.document or {}), dict)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_property_arbitrary_bytes_never_raise(raw):
    result = validate_yaml(raw)
    assert result.valid in (True, False)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([r[0] for r in RULES]), trees)
def test_property_any_value_anywhere_in_a_valid_document_never_raises(path, value):
    result = validate_yaml(yaml.safe_dump(with_(path, value)))
    assert result.valid in (True, False)
