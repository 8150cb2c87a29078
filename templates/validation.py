"""CloudWorkstation template format: the vocabularies and every validation rule.

Pure Python (no Django imports) so it is fast, reusable by the loader, the API and the property
tests, and can be reasoned about alone. The vocabularies here (strategies, architectures,
instance families, package managers, bases) are the one home of those constants: the catalogue,
policies and the resolver import them. Two steps:

``parse_yaml(source)`` (``templates.yaml_parse``)
    bytes or text → a JSON-compatible ``dict`` or document-level errors, bounded against hostile
    input.

``validate_fields(doc)`` / ``validate_whole(doc)``
    Every rule of the format, each error at the dotted path of the offending value
    (``ami_config.ami_mappings.us-east-1``, ``services.0.port``), *all* errors at once.
    Field rules look at one value; whole-document rules (required keys, strategy versus package
    manager, ...) run on the document after inheritance (see ``templates.inheritance``).

Errors are ``{path: [message, ...]}``; document-level problems use the path ``yaml`` (the name
of the API's input field). Unknown keys are kept and never an error: CloudWorkstation templates
carry many (``connection_type``, ``idle_detection``, ``parameters``, ...).

Messages for the AMI rules follow CloudWorkstation's own validator (``pkg/templates/
ami_validator.go``) so users see the same words in ``cws`` and here.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from registry.aws import AMI_ID_RE, REGION_SET
from registry.text import text_has_invisible
from templates.yaml_parse import Errors, ErrorCollector, join_path, kind_of, merge_errors, parse_yaml

# --- vocabularies ---------------------------------------------------------------------------
KNOWN_BASES = (
    "ubuntu-20.04", "ubuntu-22.04", "ubuntu-24.04",
    "amazonlinux-2", "amazonlinux-2023",
    "rocky-8", "rocky-9", "rocky-10", "almalinux-8", "almalinux-9", "rhel-8", "rhel-9",
    "debian-11", "debian-12",
    "ami-based",
)
PACKAGE_MANAGERS = ("apt", "dnf", "conda", "spack", "ami", "pip")
SCRIPT_PACKAGE_MANAGERS = frozenset(PACKAGE_MANAGERS) - {"ami"}
PACKAGE_KINDS = ("system", "conda", "spack", "pip")
STRATEGIES = ("ami_preferred", "ami_required", "ami_fallback")
DEFAULT_STRATEGY = "ami_preferred"
FALLBACK_STRATEGIES = ("script_provisioning", "error", "cross_region")
ARCHITECTURES = ("x86_64", "arm64")
# ``ami_config.channel``: the channel of a lineage the template launches from (the registry's
# ``latest`` or a named one such as ``stable``). The one home of the name rule: the catalogue's
# lineages (``amis.versioning``) import it.
CHANNEL_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
CHANNEL_NAME_MESSAGE = ("a channel name is 1–40 characters: a lower-case letter, then lower-case letters, "
                        "digits or '-'")

# EC2 instance families (the part of an instance type before the dot), current and previous
# generations. Kept here, not fetched: validation must not call AWS.
INSTANCE_FAMILIES = frozenset("""
a1 t1 t2 t3 t3a t4g
m1 m2 m3 m4 m5 m5a m5ad m5d m5dn m5n m5zn m6a m6g m6gd m6i m6id m6idn m6in m7a m7g m7gd m7i m7i-flex
m8a m8g m8gd m8i m8i-flex mac1 mac2 mac2-m1ultra mac2-m2 mac2-m2pro mac-m4 mac-m4pro
c1 c3 c4 c5 c5a c5ad c5d c5n c6a c6g c6gd c6gn c6i c6id c6in c7a c7g c7gd c7gn c7i c7i-flex c8g c8gd c8gn c8i
r3 r4 r5 r5a r5ad r5b r5d r5dn r5n r6a r6g r6gd r6i r6id r6idn r6in r7a r7g r7gd r7i r7iz r8g r8gd r8i r8i-flex
x1 x1e x2gd x2idn x2iedn x2iezn x8g z1d
u-3tb1 u-6tb1 u-9tb1 u-12tb1 u-18tb1 u-24tb1 u7i-6tb u7i-8tb u7i-12tb u7in-16tb u7in-24tb u7in-32tb
p2 p3 p3dn p4d p4de p5 p5e p5en p6-b200
g2 g3 g3s g4ad g4dn g5 g5g g6 g6e g6f gr6 gr6f
inf1 inf2 trn1 trn1n trn2 dl1 dl2q f1 f2 vt1
i2 i3 i3en i4g i4i i7i i7ie i8g im4gn is4gen d2 d3 d3en h1
hpc6a hpc6id hpc7a hpc7g
""".split())

_SLUG_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# Public: every check of an instance type (templates, the resolver) uses this one pattern.
INSTANCE_TYPE_RE = re.compile(r"^([a-z][a-z0-9-]*)\.([a-z0-9-]+)$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Go's time.ParseDuration grammar (CloudWorkstation parses fallback_timeout with it).
_DURATION_RE = re.compile(r"^(\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))*$")
# One or more comma/space separated constraints: an optional operator and a 1–3 part version.
_VERSION_CONSTRAINT_RE = re.compile(
    r"^\s*(>=|<=|!=|==|~>|>|<|=|~|\^)?\s*v?\d+(\.(\d+|x|\*)){0,2}([-+][0-9A-Za-z.-]+)?"
    r"(\s*,?\s*(>=|<=|!=|==|~>|>|<|=|~|\^)\s*v?\d+(\.(\d+|x|\*)){0,2}([-+][0-9A-Za-z.-]+)?)*\s*$")
_OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

AMI_ID_FORMAT = "ami- followed by 8 or 17 lowercase hex digits"

# --- validation -----------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_port(c: ErrorCollector, path: str, value: Any) -> None:
    if not _is_int(value):
        c.add(path, f"port must be an integer between 1 and 65535, not a {kind_of(value)}")
    elif not 1 <= value <= 65535:
        c.add(path, f"port {value} out of range, must be between 1 and 65535")


def _check_arch(c: ErrorCollector, path: str, value: Any) -> None:
    if value not in ARCHITECTURES or not isinstance(value, str):
        c.add(path, f"invalid architecture '{value}', must be 'x86_64' or 'arm64'")


def _check_ami_id(c: ErrorCollector, path: str, value: Any) -> None:
    if not isinstance(value, str) or not AMI_ID_RE.match(value):
        c.add(path, f"invalid AMI ID format '{value}', must be {AMI_ID_FORMAT}")


def _check_region(c: ErrorCollector, path: str, region: Any) -> bool:
    if not isinstance(region, str) or region not in REGION_SET:
        c.add(path, f"unknown AWS region '{region}'")
        return False
    return True


def _check_instance_type(c: ErrorCollector, path: str, value: Any) -> None:
    if not c.string(path, value, allow_empty=False):
        return
    match = INSTANCE_TYPE_RE.match(value)
    if not match:
        c.add(path, f"invalid instance type '{value}', must look like 't3.medium'")
    elif match.group(1) not in INSTANCE_FAMILIES:
        c.add(path, f"unknown instance family '{match.group(1)}'")


def _check_date(c: ErrorCollector, path: str, value: Any) -> None:
    ok = isinstance(value, str) and bool(_DATE_RE.match(value))
    if ok:
        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            ok = False
    if not ok:
        c.add(path, f"invalid date format '{value}', must be YYYY-MM-DD")


def _check_string_list(c: ErrorCollector, path: str, value: Any) -> None:
    if value is None or not c.sequence(path, value):
        return
    for i, item in enumerate(value):
        c.string(join_path(path, i), item, allow_empty=False)


def _check_scalar_map(c: ErrorCollector, path: str, value: Any, *, non_empty_values: bool = False) -> None:
    """A ``{key: scalar}`` map such as ``tags`` or ``required_tags``."""
    if value is None or not c.mapping(path, value):
        return
    for key, item in value.items():
        sub = join_path(path, key)
        if not str(key).strip():
            c.add(path, "tag key cannot be empty")
        if not c.scalar(sub, item):
            continue
        if non_empty_values and isinstance(item, str) and not item.strip():
            c.add(sub, "tag value cannot be empty")


def _check_packages(c: ErrorCollector, value: Any) -> None:
    if value is None or not c.mapping("packages", value):
        return
    for kind in PACKAGE_KINDS:
        if kind in value:
            _check_string_list(c, f"packages.{kind}", value[kind])


def _check_required_name(c: ErrorCollector, path: str, item: dict) -> None:
    if item.get("name") is None:
        c.add(f"{path}.name", "name is required")
    else:
        c.string(f"{path}.name", item["name"], allow_empty=False)


def _check_services(c: ErrorCollector, value: Any) -> None:
    if value is None or not c.sequence("services", value):
        return
    for i, service in enumerate(value):
        path = f"services.{i}"
        if not c.mapping(path, service):
            continue
        _check_required_name(c, path, service)
        if service.get("port") is not None:
            _check_port(c, f"{path}.port", service["port"])
        config = service.get("config")
        if config is not None and not isinstance(config, str):
            # A list of configuration lines (or one string); lines may be numbers in YAML.
            if c.sequence(f"{path}.config", config):
                for j, line in enumerate(config):
                    c.scalar(f"{path}.config.{j}", line)
        if service.get("enable") is not None:
            c.boolean(f"{path}.enable", service["enable"])


def _check_users(c: ErrorCollector, value: Any) -> None:
    if value is None or not c.sequence("users", value):
        return
    for i, user in enumerate(value):
        path = f"users.{i}"
        if not c.mapping(path, user):
            continue
        _check_required_name(c, path, user)
        _check_string_list(c, f"{path}.groups", user.get("groups"))
        if user.get("shell") is not None:
            c.string(f"{path}.shell", user["shell"], allow_empty=False)


def _check_instance_defaults(c: ErrorCollector, value: Any) -> None:
    if value is None or not c.mapping("instance_defaults", value):
        return
    if value.get("type") is not None:
        _check_instance_type(c, "instance_defaults.type", value["type"])
    ports = value.get("ports")
    if ports is not None and c.sequence("instance_defaults.ports", ports):
        for i, port in enumerate(ports):
            _check_port(c, f"instance_defaults.ports.{i}", port)
    volume = value.get("root_volume_gb")
    if volume is not None and not (_is_int(volume) and 1 <= volume <= 65536):
        c.add("instance_defaults.root_volume_gb", f"root_volume_gb must be an integer between 1 and 65536, "
                                                  f"not '{volume}'")
    costs = value.get("estimated_cost_per_hour")
    if costs is not None and c.mapping("instance_defaults.estimated_cost_per_hour", costs):
        for arch, cost in costs.items():
            path = f"instance_defaults.estimated_cost_per_hour.{arch}"
            _check_arch(c, path, arch)
            if not _is_number(cost) or cost < 0:
                c.add(path, f"cost must be a non-negative number of dollars per hour, not '{cost}'")


def _check_ami_search(c: ErrorCollector, value: Any) -> None:
    base = "ami_config.ami_search"
    if not c.mapping(base, value):
        return
    owner = value.get("owner")
    if owner is None or owner == "":
        c.add(f"{base}.owner", "owner is required for AMI search")
    elif _is_int(owner):
        # An unquoted account id is read by YAML as a number: fine when it has 12 digits; one with
        # a leading zero loses it (or is read as octal), so it must be quoted.
        if not 10**11 <= owner < 10**12:
            c.add(f"{base}.owner", f"invalid owner {owner}: an account id has 12 digits; quote it in YAML "
                                   f"(owner: \"012345678901\")")
    elif not isinstance(owner, str) or not _OWNER_RE.match(owner):
        c.add(f"{base}.owner", f"invalid owner '{owner}', must be a 12-digit account id or an alias "
                               f"(amazon, self, aws-marketplace, ...)")
    pattern = value.get("name_pattern")
    if pattern is None or pattern == "":
        c.add(f"{base}.name_pattern", "name_pattern is required for AMI search")
    else:
        c.string(f"{base}.name_pattern", pattern, allow_empty=False)
    if value.get("version_tag") is not None:
        c.scalar(f"{base}.version_tag", value["version_tag"])
    arch = value.get("architecture")
    if isinstance(arch, str):
        _check_arch(c, f"{base}.architecture", arch)
    elif arch is not None and c.sequence(f"{base}.architecture", arch):
        for i, item in enumerate(arch):
            _check_arch(c, f"{base}.architecture.{i}", item)
    if value.get("min_creation_date") is not None:
        _check_date(c, f"{base}.min_creation_date", value["min_creation_date"])
    _check_scalar_map(c, f"{base}.required_tags", value.get("required_tags"), non_empty_values=True)


def _check_marketplace(c: ErrorCollector, value: Any) -> None:
    base = "ami_config.marketplace_search"
    if not c.mapping(base, value):
        return
    code = value.get("product_code")
    if code is None or code == "":
        c.add(f"{base}.product_code", "product_code is required for marketplace search")
    else:
        c.string(f"{base}.product_code", code, allow_empty=False)
    constraint = value.get("version_constraint")
    if constraint is not None and (not isinstance(constraint, str) or not _VERSION_CONSTRAINT_RE.match(constraint)):
        c.add(f"{base}.version_constraint",
              f"invalid version constraint format '{constraint}', must be a version with an optional "
              f"operator (e.g. '>=2.0.0')")
    if value.get("publisher") is not None:
        c.string(f"{base}.publisher", value["publisher"], allow_empty=False)


def _check_ami_config(c: ErrorCollector, value: Any) -> None:
    base = "ami_config"
    if value is None or not c.mapping(base, value):
        return
    strategy = value.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        c.add(f"{base}.strategy", f"invalid AMI strategy '{strategy}', must be one of: {', '.join(STRATEGIES)}")
    channel = value.get("channel")
    if channel is not None and (not isinstance(channel, str) or not CHANNEL_NAME_RE.match(channel)):
        c.add(f"{base}.channel", f"invalid channel '{channel}': {CHANNEL_NAME_MESSAGE}")
    mappings = value.get("ami_mappings")
    if mappings is not None and c.mapping(f"{base}.ami_mappings", mappings):
        for region, ami_id in mappings.items():
            path = f"{base}.ami_mappings.{region}"
            _check_region(c, path, region)
            _check_ami_id(c, path, ami_id)
    if value.get("ami_search") is not None:
        _check_ami_search(c, value["ami_search"])
    if value.get("marketplace_search") is not None:
        _check_marketplace(c, value["marketplace_search"])
    fallback = value.get("fallback_strategy")
    if fallback is not None and fallback not in FALLBACK_STRATEGIES:
        c.add(f"{base}.fallback_strategy",
              f"invalid fallback strategy '{fallback}', must be one of: {', '.join(FALLBACK_STRATEGIES)}")
    timeout = value.get("fallback_timeout")
    if timeout is not None and (not isinstance(timeout, str) or not _DURATION_RE.match(timeout)):
        c.add(f"{base}.fallback_timeout",
              f"invalid timeout format '{timeout}', must be a valid duration (e.g., '10m', '30s')")
    if value.get("preferred_architecture") is not None:
        _check_arch(c, f"{base}.preferred_architecture", value["preferred_architecture"])
    families = value.get("instance_family_preference")
    if families is not None and c.sequence(f"{base}.instance_family_preference", families):
        for i, family in enumerate(families):
            if not isinstance(family, str) or family not in INSTANCE_FAMILIES:
                c.add(f"{base}.instance_family_preference.{i}", f"unknown instance family '{family}'")
    if value.get("ssh_user") is not None:
        c.string(f"{base}.ssh_user", value["ssh_user"], allow_empty=False)
    if value.get("user_data_script") is not None:
        c.string(f"{base}.user_data_script", value["user_data_script"])
    legacy = value.get("amis")
    if legacy is not None and c.mapping(f"{base}.amis", legacy):
        for region, by_arch in legacy.items():
            path = f"{base}.amis.{region}"
            _check_region(c, path, region)
            if not c.mapping(path, by_arch):
                continue
            for arch, ami_id in by_arch.items():
                _check_arch(c, f"{path}.{arch}", arch)
                _check_ami_id(c, f"{path}.{arch}", ami_id)
    types = value.get("instance_types")
    if types is not None and c.mapping(f"{base}.instance_types", types):
        for arch, itype in types.items():
            _check_arch(c, f"{base}.instance_types.{arch}", arch)
            _check_instance_type(c, f"{base}.instance_types.{arch}", itype)


def validate_fields(doc: dict) -> Errors:
    """Per-value rules on one template's own document (before inheritance). Never raises."""
    c = ErrorCollector()
    for key in ("name", "description"):
        if doc.get(key) is not None:
            c.string(key, doc[key], allow_empty=False)
        if isinstance(doc.get(key), str) and text_has_invisible(doc[key]):
            # Bidi controls reorder what readers see; zero-width characters fake look-alike names.
            c.add(key, f"{key} must not contain invisible or direction-changing characters")
    if isinstance(doc.get("name"), str) and len(doc["name"]) > 200:
        c.add("name", "name must be at most 200 characters")
    slug = doc.get("slug")
    if slug is not None and c.string("slug", slug, allow_empty=False):
        if not _SLUG_RE.match(slug) or len(slug) > 100:
            c.add("slug", f"invalid slug '{slug}': use at most 100 letters, digits, '-' and '_'")
    elif slug is None and isinstance(doc.get("name"), str) and doc["name"].strip() and not derive_slug(doc["name"]):
        c.add("slug", "cannot derive a slug from the name: give a slug")
    base = doc.get("base")
    if base is not None and base not in KNOWN_BASES:
        c.add("base", f"unknown base OS '{base}', must be one of: {', '.join(KNOWN_BASES)}")
    for key in ("long_description", "category", "domain", "complexity", "post_install", "user_data", "maintainer"):
        if doc.get(key) is not None:
            c.string(key, doc[key])
    if isinstance(doc.get("category"), str) and len(doc["category"]) > 100:
        c.add("category", "category must be at most 100 characters")
    if doc.get("version") is not None and len(str(doc["version"])) > 50:
        c.add("version", "version must be at most 50 characters")
    inherits = doc.get("inherits")
    if inherits is not None and c.sequence("inherits", inherits):
        for i, parent in enumerate(inherits):
            c.string(f"inherits.{i}", parent, allow_empty=False)
    manager = doc.get("package_manager")
    if manager is not None and manager not in PACKAGE_MANAGERS:
        c.add("package_manager",
              f"unknown package manager '{manager}', must be one of: {', '.join(PACKAGE_MANAGERS)}")
    _check_packages(c, doc.get("packages"))
    _check_services(c, doc.get("services"))
    _check_users(c, doc.get("users"))
    _check_instance_defaults(c, doc.get("instance_defaults"))
    launch = doc.get("estimated_launch_time")
    if launch is not None and not (_is_number(launch) and launch >= 0):
        c.add("estimated_launch_time", f"estimated_launch_time must be a non-negative number of minutes, "
                                       f"not '{launch}'")
    if doc.get("version") is not None:
        c.scalar("version", doc["version"])
    _check_scalar_map(c, "tags", doc.get("tags"))
    _check_ami_config(c, doc.get("ami_config"))
    return c.errors


def _listed_packages(packages: Any) -> bool:
    if not isinstance(packages, dict):
        return False
    return any(isinstance(packages.get(kind), list) and packages[kind] for kind in PACKAGE_KINDS)


def validate_whole(doc: dict) -> Errors:
    """Whole-document rules: required keys and rules that relate several keys. Never raises.

    Runs on the document after inheritance, so a child may take ``base`` from its parent.
    Type problems are left to ``validate_fields`` (values of the wrong type are skipped here).
    """
    c = ErrorCollector()
    for key in ("name", "description", "base"):
        value = doc.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            c.add(key, f"{key} is required")
    manager = doc.get("package_manager")
    if manager == "ami" and _listed_packages(doc.get("packages")):
        c.add("packages", "package_manager 'ami' installs nothing: remove packages or use a script package "
                          "manager (apt, dnf, conda, spack, pip)")
    ami = doc.get("ami_config")
    if isinstance(ami, dict):
        strategy = ami.get("strategy") or DEFAULT_STRATEGY
        mappings = ami.get("ami_mappings")
        has_mappings = isinstance(mappings, dict) and bool(mappings)
        if strategy == "ami_required":
            has_way = (has_mappings or bool(ami.get("ami_search")) or bool(ami.get("marketplace_search"))
                       or (isinstance(ami.get("amis"), dict) and bool(ami["amis"])))
            if not has_way:
                c.add("ami_config.strategy",
                      "when strategy is 'ami_required', at least one AMI resolution method must be provided "
                      "(ami_mappings, ami_search, marketplace_search, or legacy amis)")
            if isinstance(manager, str) and manager in SCRIPT_PACKAGE_MANAGERS:
                c.add("ami_config.strategy",
                      f"template cannot have both 'ami_required' strategy and script-based package manager "
                      f"'{manager}', use 'ami_preferred' or 'ami_fallback'")
        if has_mappings and not ami.get("ssh_user"):
            c.add("ami_config.ssh_user", "ssh_user must be specified when using AMI mappings")
    return c.errors


def derive_slug(name: str) -> str:
    """``"Python ML (AMI Optimized)"`` → ``"python-ml-ami-optimized"``: lowercase, runs of anything
    that is not an ASCII letter or digit become one ``-``, trimmed, at most 100 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:100].rstrip("-")


def slug_of(doc: dict) -> str:
    """The template's slug: its own ``slug`` or one derived from ``name``."""
    slug = doc.get("slug")
    if isinstance(slug, str) and slug.strip():
        return slug.strip()
    name = doc.get("name")
    return derive_slug(name) if isinstance(name, str) else ""


@dataclass
class ValidationResult:
    """The outcome of validating one template text. ``document`` is the parsed own document
    (None when the text is not a YAML mapping); ``merged`` is it with parents merged in."""

    document: dict | None
    errors: Errors = field(default_factory=dict)
    merged: dict | None = None

    @property
    def valid(self) -> bool:
        return not self.errors


def validate_yaml(source: str | bytes | None) -> ValidationResult:
    """Parse and validate a standalone template (no parent lookup). Never raises.

    Templates with ``inherits`` need ``templates.inheritance`` to look their parents up; this
    function checks only what the text says by itself (field rules, plus whole-document rules
    when there is nothing to inherit).
    """
    doc, errors = parse_yaml(source)
    if doc is None:
        return ValidationResult(document=None, errors=errors)
    errors = validate_fields(doc)
    if not doc.get("inherits"):
        errors = merge_errors(errors, validate_whole(doc))
    return ValidationResult(document=doc, errors=errors, merged=doc if not errors else None)
