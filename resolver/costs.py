"""The cost model: what launching from an AMI costs against provisioning by script, per region.

The defaults are CloudWorkstation's numbers (snapshot storage $0.10/GB-month in the US, $0.11 in
Europe, $0.12 in Asia Pacific; cross-region transfer $0.02/GB, $0.03 out of Asia Pacific; an 8 GB
image when the real size is unknown; AMI launch 30 s; script setup 3 min + 10 s per system
package + 20 s per conda package + 5 s per pip package). Every number can be overridden with the
``REGISTRY_RESOLVER_COSTS`` setting (a dict merged over ``DEFAULTS``), so an operator can follow
AWS price changes without a release. Prices are on-demand Linux list prices of us-east-1 times a
regional multiplier: an estimate for a recommendation, never a bill.

Pure functions of a template document and a region: no I/O, so the resolver, the preview and the
costs endpoint all agree.
"""
from __future__ import annotations

import re

from django.conf import settings

from templates.validation import ARCHITECTURES, SCRIPT_PACKAGE_MANAGERS

# Burstable families: fine for a default, never recommended for a workload that asked for more.
BURSTABLE_PREFIXES = ("t2.", "t3.", "t3a.", "t4g.")
_FAMILY_RE = re.compile(r"^([a-z]+)(\d+)([a-z-]*)$")

DEFAULTS: dict = {
    # Snapshot storage, $ per GB-month, by region prefix (longest prefix wins; "" is the default).
    "storage_per_gb_month": {"us-": 0.10, "ca-": 0.10, "mx-": 0.10, "eu-": 0.11, "il-": 0.11, "me-": 0.11,
                             "af-": 0.11, "ap-": 0.12, "sa-": 0.12, "": 0.10},
    # Inter-region transfer, $ per GB, by *source* region prefix.
    "transfer_per_gb": {"ap-": 0.03, "": 0.02},
    "default_ami_size_gb": 8,
    "ami_launch_seconds": 30,
    # Script provisioning: base OS boot + package installs.
    "script_base_seconds": 180,
    "script_seconds_per_system_package": 10,
    "script_seconds_per_conda_package": 20,
    "script_seconds_per_pip_package": 5,
    # CopyImage duration estimate: fixed overhead + per GB.
    "copy_base_minutes": 5,
    "copy_minutes_per_gb": 1.0,
    "hours_per_month": 730,
    # On-demand Linux $/hour in us-east-1 (the regional multiplier scales them).
    "instance_hourly": {
        "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
        "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
        "t4g.micro": 0.0084, "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672,
        "t4g.xlarge": 0.1344, "t4g.2xlarge": 0.2688,
        "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384,
        "m7g.large": 0.0816, "m7g.xlarge": 0.1632, "m7g.2xlarge": 0.3264,
        "c6i.large": 0.085, "c6i.xlarge": 0.17, "c7g.large": 0.0725, "c7g.xlarge": 0.145,
        "r6i.large": 0.126, "r6i.xlarge": 0.252, "r7g.large": 0.1071,
        "g4dn.xlarge": 0.526, "g5.xlarge": 1.006, "g5g.xlarge": 0.42, "p3.2xlarge": 3.06,
        "r6i.2xlarge": 0.504, "r7g.xlarge": 0.2142, "r7g.2xlarge": 0.4284, "g6.xlarge": 0.8048,
    },
    # (vCPUs, memory GiB, GPUs) of the priced types: what the instance advice matches needs against.
    "instance_specs": {
        "t3.micro": (2, 1, 0), "t3.small": (2, 2, 0), "t3.medium": (2, 4, 0), "t3.large": (2, 8, 0),
        "t3.xlarge": (4, 16, 0), "t3.2xlarge": (8, 32, 0),
        "t4g.micro": (2, 1, 0), "t4g.small": (2, 2, 0), "t4g.medium": (2, 4, 0), "t4g.large": (2, 8, 0),
        "t4g.xlarge": (4, 16, 0), "t4g.2xlarge": (8, 32, 0),
        "m6i.large": (2, 8, 0), "m6i.xlarge": (4, 16, 0), "m6i.2xlarge": (8, 32, 0),
        "m7g.large": (2, 8, 0), "m7g.xlarge": (4, 16, 0), "m7g.2xlarge": (8, 32, 0),
        "c6i.large": (2, 4, 0), "c6i.xlarge": (4, 8, 0), "c7g.large": (2, 4, 0), "c7g.xlarge": (4, 8, 0),
        "r6i.large": (2, 16, 0), "r6i.xlarge": (4, 32, 0), "r6i.2xlarge": (8, 64, 0),
        "r7g.large": (2, 16, 0), "r7g.xlarge": (4, 32, 0), "r7g.2xlarge": (8, 64, 0),
        "g4dn.xlarge": (4, 16, 1), "g5.xlarge": (4, 16, 1), "g6.xlarge": (4, 16, 1), "g5g.xlarge": (4, 8, 1),
        "p3.2xlarge": (8, 61, 1),
    },
    # Used when the instance type is not in the table.
    "default_instance_type": {"arm64": "t4g.medium", "x86_64": "t3.medium"},
    # Regional price multipliers against us-east-1 (approximate; 1.0 when absent).
    "region_multiplier": {
        "us-east-1": 1.0, "us-east-2": 1.0, "us-west-2": 1.0, "us-west-1": 1.12,
        "ca-central-1": 1.08, "ca-west-1": 1.08, "mx-central-1": 1.1, "sa-east-1": 1.55,
        "eu-west-1": 1.08, "eu-west-2": 1.12, "eu-west-3": 1.13, "eu-central-1": 1.15,
        "eu-central-2": 1.26, "eu-north-1": 1.04, "eu-south-1": 1.13, "eu-south-2": 1.1,
        "il-central-1": 1.14, "me-south-1": 1.2, "me-central-1": 1.2, "af-south-1": 1.3,
        "ap-south-1": 1.05, "ap-south-2": 1.05, "ap-east-1": 1.3, "ap-east-2": 1.25,
        "ap-southeast-1": 1.2, "ap-southeast-2": 1.2, "ap-southeast-3": 1.2, "ap-southeast-4": 1.2,
        "ap-southeast-5": 1.1, "ap-southeast-7": 1.1,
        "ap-northeast-1": 1.25, "ap-northeast-2": 1.2, "ap-northeast-3": 1.25,
    },
    # |savings| below this many dollars for a one-hour session is "neutral".
    "neutral_threshold": 0.001,
}


def config() -> dict:
    """The defaults with ``settings.REGISTRY_RESOLVER_COSTS`` merged over them (dicts one level deep)."""
    overrides = getattr(settings, "REGISTRY_RESOLVER_COSTS", None) or {}
    merged = dict(DEFAULTS)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(DEFAULTS.get(key), dict):
            merged[key] = {**DEFAULTS[key], **value}
        else:
            merged[key] = value
    return merged


def _by_prefix(table: dict, region: str) -> float:
    best = max((p for p in table if region.startswith(p)), key=len, default="")
    return float(table.get(best, table.get("", 0.0)))


def storage_per_gb_month(region: str) -> float:
    return _by_prefix(config()["storage_per_gb_month"], region)


def transfer_per_gb(source_region: str) -> float:
    return _by_prefix(config()["transfer_per_gb"], source_region)


def image_size_gb(size_gb: float | int | None) -> float:
    """The real snapshot size when known, else the default (8 GB)."""
    return float(size_gb) if size_gb else float(config()["default_ami_size_gb"])


def instance_type_for(document: dict, architecture: str) -> str:
    """The template's instance type for ``architecture``: instance_defaults.type, legacy
    ami_config.instance_types[arch], else the model's default for the architecture."""
    ami_config = document.get("ami_config") or {}
    legacy = (ami_config.get("instance_types") or {}).get(architecture)
    defaults = document.get("instance_defaults") or {}
    chosen = legacy or defaults.get("type")
    return str(chosen) if chosen else config()["default_instance_type"].get(architecture, "t3.medium")


def instance_hourly(instance_type: str, region: str, *, document: dict | None = None,
                    architecture: str = "x86_64") -> float:
    """$/hour for ``instance_type`` in ``region``. The template's own estimate
    (instance_defaults.estimated_cost_per_hour[arch]) wins for its default type."""
    cfg = config()
    multiplier = float(cfg["region_multiplier"].get(region, 1.0))
    table = cfg["instance_hourly"]
    if instance_type in table:
        return float(table[instance_type]) * multiplier
    estimate = ((document or {}).get("instance_defaults") or {}).get("estimated_cost_per_hour") or {}
    if isinstance(estimate, dict) and architecture in estimate:
        try:
            return float(estimate[architecture]) * multiplier
        except (TypeError, ValueError):
            pass
    fallback = cfg["default_instance_type"].get(architecture, "t3.medium")
    return float(table.get(fallback, 0.0416)) * multiplier


def _count(packages, key: str) -> int:
    value = (packages or {}).get(key) if isinstance(packages, dict) else None
    return len(value) if isinstance(value, (list, tuple)) else 0


def script_setup_seconds(document: dict) -> int:
    """Script provisioning time: 3 min + 10 s/system + 20 s/conda + 5 s/pip package."""
    cfg = config()
    packages = document.get("packages") or {}
    return int(cfg["script_base_seconds"]
               + cfg["script_seconds_per_system_package"] * _count(packages, "system")
               + cfg["script_seconds_per_conda_package"] * _count(packages, "conda")
               + cfg["script_seconds_per_pip_package"] * _count(packages, "pip"))


def ami_launch_seconds() -> int:
    return int(config()["ami_launch_seconds"])


def has_script_provisioning(document: dict) -> bool:
    """True when the template can be provisioned by script (a script package manager)."""
    return str(document.get("package_manager") or "").lower() in SCRIPT_PACKAGE_MANAGERS


def copy_estimate(*, source_region: str, target_region: str, size_gb: float | int | None) -> dict:
    """What copying an image across regions costs: transfer once + the first month of storage."""
    cfg = config()
    size = image_size_gb(size_gb)
    cost = size * transfer_per_gb(source_region) + size * storage_per_gb_month(target_region)
    minutes = int(round(cfg["copy_base_minutes"] + cfg["copy_minutes_per_gb"] * size))
    return {"source_region": source_region, "estimated_cost": round(cost, 4), "estimated_minutes": minutes,
            "size_gb": size}


def cost_analysis(*, document: dict, region: str, architecture: str = "x86_64", instance_type: str = "",
                  size_gb: float | int | None = None, template_name: str = "") -> dict:
    """The cws ``AMICostAnalysis``: AMI launch against script provisioning for one workstation, in
    the units the real cws client prints (``upstream/pkg/aws/ami_cost_analyzer.go``):

    - ``ami_launch_cost`` / ``script_launch_cost``: the instance's price per hour (the same for both);
    - ``ami_storage_cost``: snapshot storage per month for keeping the AMI in ``region``;
    - ``ami_setup_cost``: compute paid while an AMI boots (30 s); ``script_setup_cost``: compute paid
      while the script provisions (boot included); ``boot_cost``: the same as ``ami_setup_cost``;
    - ``script_setup_time`` (minutes) and ``time_savings`` (minutes saved per launch);
    - ``break_even_point``: hours of AMI storage that one launch's saving pays for — launch at least
      once in that many hours and the AMI is the cheaper way; ``break_even_launches_per_month``: the
      same threshold as launches per month;
    - ``cost_savings_1h`` / ``_8h`` (and the client's ``cost_savings_1_hour`` / ``_8_hour``): dollars
      saved by a 1 h / 8 h session launched from the AMI (setup avoided, minus that session's share
      of the monthly storage).
    """
    cfg = config()
    itype = instance_type or instance_type_for(document, architecture)
    hourly = instance_hourly(itype, region, document=document, architecture=architecture)
    launch_s = ami_launch_seconds()
    setup_s = script_setup_seconds(document)
    storage = image_size_gb(size_gb) * storage_per_gb_month(region)

    boot = hourly * launch_s / 3600
    script_setup = hourly * setup_s / 3600
    ami_setup = boot
    per_launch_saving = script_setup - ami_setup
    storage_per_hour = storage / cfg["hours_per_month"]
    launches_per_month = storage / per_launch_saving if per_launch_saving > 0 else 0.0
    break_even_hours = per_launch_saving / storage_per_hour if storage_per_hour > 0 and per_launch_saving > 0 else 0.0
    savings_1h = per_launch_saving - storage_per_hour * 1
    savings_8h = per_launch_saving - storage_per_hour * 8
    time_savings_min = max(0, round((setup_s - launch_s) / 60))

    if abs(savings_1h) < cfg["neutral_threshold"] and time_savings_min < 2:
        recommendation = "neutral"
        reasoning = "AMI and script provisioning cost about the same for this template."
    elif savings_1h > 0 or time_savings_min >= 2:
        recommendation = "ami_recommended"
        reasoning = (f"Launching from an AMI saves about {time_savings_min} min of setup per launch "
                     f"(${per_launch_saving:.4f} of {itype} time); storing the image costs ${storage:.2f}/month, "
                     f"which pays for itself above {launches_per_month:.1f} launches a month "
                     f"(one every {break_even_hours:.1f} hours).")
    else:
        recommendation = "script_recommended"
        reasoning = (f"Script provisioning takes only {setup_s // 60} min; keeping an AMI (${storage:.2f}/month) "
                     f"costs more than it saves.")
    return {
        "template_name": template_name,
        "region": region,
        "instance_type": itype,
        "hourly_price": round(hourly, 5),
        "ami_launch_cost": round(hourly, 5),
        "ami_storage_cost": round(storage, 4),
        "ami_setup_cost": round(ami_setup, 5),
        "script_launch_cost": round(hourly, 5),
        "script_setup_cost": round(script_setup, 5),
        "script_setup_time": int(round(setup_s / 60)),
        "boot_cost": round(boot, 5),
        "break_even_point": round(break_even_hours, 1),
        "break_even_launches_per_month": round(launches_per_month, 2),
        "cost_savings_1h": round(savings_1h, 5),
        "cost_savings_8h": round(savings_8h, 5),
        "cost_savings_1_hour": round(savings_1h, 5),
        "cost_savings_8_hour": round(savings_8h, 5),
        "time_savings": time_savings_min,
        "recommendation": recommendation,
        "reasoning": reasoning,
    }


# --- instance-family advice ------------------------------------------------------------------------

def instance_architecture(instance_type: str) -> str:
    """x86_64 or arm64 from the type's name: Graviton families carry a ``g`` after the generation
    (t4g, m7g, c7gn, r7g, g5g); x86 families do not (the ``g`` of g4dn/g5 is the GPU prefix)."""
    match = _FAMILY_RE.match(instance_type.split(".")[0])
    return "arm64" if match and "g" in match.group(3) else "x86_64"


def is_gpu_family(instance_type: str) -> bool:
    family = instance_type.split(".")[0]
    return bool(re.match(r"^(g|p)\d", family)) or family.startswith(("inf", "trn", "dl"))


def template_needs(document: dict, architectures: list[str] | None = None) -> dict:
    """What a template asks of an instance: ``{architectures, gpu, min_vcpus, min_memory_gib, basis}``.

    The template's default type (``instance_defaults.type``) is the baseline: its vCPUs and memory
    are the minimum when the model knows the type, and a GPU type means a GPU is needed — as do
    ``tags.gpu: required`` and a GPU family in ``ami_config.instance_family_preference``.
    """
    specs = config()["instance_specs"]
    defaults = document.get("instance_defaults") if isinstance(document.get("instance_defaults"), dict) else {}
    default_type = str(defaults.get("type") or "")
    tags = document.get("tags") if isinstance(document.get("tags"), dict) else {}
    ami_config = document.get("ami_config") if isinstance(document.get("ami_config"), dict) else {}
    families = [f for f in (ami_config.get("instance_family_preference") or []) if isinstance(f, str)]
    gpu = (bool(default_type) and is_gpu_family(default_type)) or str(tags.get("gpu", "")).lower() == "required" \
        or any(is_gpu_family(f"{f}.x") for f in families)
    vcpus, memory = 0, 0.0
    basis = "no instance_defaults.type: no minimum size"
    if default_type in specs:
        vcpus, memory, _gpus = specs[default_type]
        basis = f"at least the {vcpus} vCPUs and {memory:g} GiB of instance_defaults.type {default_type}"
    elif default_type:
        basis = f"instance_defaults.type {default_type} is not in the price table: no minimum size"
    return {"architectures": [a for a in (architectures or list(ARCHITECTURES)) if a in ARCHITECTURES],
            "gpu": gpu, "min_vcpus": vcpus, "min_memory_gib": memory, "families": families, "basis": basis}


def instance_advice(*, document: dict, region: str, architectures: list[str] | None = None) -> dict:
    """Which instance type and architecture to run ``document``'s workstation on in ``region``.

    Every priced type that meets the template's needs (``template_needs``: architecture, GPU,
    at least the default type's vCPUs and memory) is a candidate; burstable types only when the
    default itself is burstable or unknown; a template's ``instance_family_preference`` narrows
    the candidates when any of them match. The cheapest candidate of each architecture is shown
    side by side, the cheapest overall is recommended, and ``arm64_saving_percent`` says what
    Graviton saves against x86_64 for this template. Prices are the cost model's (``instance_hourly``).
    """
    cfg = config()
    needs = template_needs(document, architectures)
    default_type = str(((document.get("instance_defaults") or {}) if isinstance(document.get("instance_defaults"),
                                                                             dict) else {}).get("type") or "")
    allow_burstable = not default_type or default_type.startswith(BURSTABLE_PREFIXES) \
        or default_type not in cfg["instance_specs"]
    candidates = []
    for itype, (vcpus, memory, gpus) in cfg["instance_specs"].items():
        arch = instance_architecture(itype)
        if arch not in needs["architectures"] or itype not in cfg["instance_hourly"]:
            continue
        if (gpus > 0) != needs["gpu"] or vcpus < needs["min_vcpus"] or memory < needs["min_memory_gib"]:
            continue
        if itype.startswith(BURSTABLE_PREFIXES) and not allow_burstable:
            continue
        candidates.append({"instance_type": itype, "architecture": arch, "vcpus": vcpus, "memory_gib": memory,
                           "gpus": gpus, "hourly_price": round(instance_hourly(itype, region), 5)})
    preferred = [c for c in candidates if c["instance_type"].split(".")[0] in needs["families"]]
    if preferred:
        candidates = preferred
    candidates.sort(key=lambda c: (c["hourly_price"], c["instance_type"]))
    by_arch = {}
    for c in candidates:
        by_arch.setdefault(c["architecture"], c)
    recommended = candidates[0] if candidates else None
    saving = None
    if "arm64" in by_arch and "x86_64" in by_arch and by_arch["x86_64"]["hourly_price"] > 0:
        saving = round(100 * (1 - by_arch["arm64"]["hourly_price"] / by_arch["x86_64"]["hourly_price"]), 1)
    if recommended is None:
        reasoning = ("No priced instance type meets the template's needs "
                     f"({'GPU, ' if needs['gpu'] else ''}{needs['basis']}) for {', '.join(needs['architectures'])}.")
    else:
        reasoning = (f"{recommended['instance_type']} ({recommended['architecture']}, {recommended['vcpus']} vCPUs, "
                     f"{recommended['memory_gib']:g} GiB{', GPU' if recommended['gpus'] else ''}) is the cheapest "
                     f"type with {needs['basis']}{' and a GPU' if needs['gpu'] else ''}: "
                     f"${recommended['hourly_price']:.4f}/hour in {region}.")
        if saving is not None:
            reasoning += (f" arm64 ({by_arch['arm64']['instance_type']}) costs {abs(saving):g} % "
                          f"{'less' if saving >= 0 else 'more'} than x86_64 ({by_arch['x86_64']['instance_type']}).")
    return {"region": region, "needs": {k: needs[k] for k in ("architectures", "gpu", "min_vcpus", "min_memory_gib")},
            "recommended": recommended, "by_architecture": by_arch, "arm64_saving_percent": saving,
            "candidates": candidates[:6], "reasoning": reasoning}
