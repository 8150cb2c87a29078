"""``GET /ami/check-freshness``: is each image the registry hands out built on the latest base OS?

Checked: every template's direct mappings (``ami_mappings`` region → image) and every approved
community AMI (its source copy), against the newest image of the template's base OS that AWS
publishes in SSM (``resolver.tiers.BASE_IMAGE_PARAMETERS``) in the same region and architecture.
An image is *outdated* when that base image is newer than it (by CreationDate; when AWS does not
say, when the ids differ); *up to date* otherwise; bases without an SSM parameter (Rocky Linux,
RHEL, ...) are *no SSM support*. The answer carries the keys of the real cws daemon.
"""
from __future__ import annotations

from amis.models import AMI, AMIRegion
from registry import aws
from resolver.answers import now_iso
from resolver.selectors import image_availability, ssm_parameter_value
from resolver.tiers import BASE_IMAGE_PARAMETERS
from templates.models import Template

_DISTROS = {"ubuntu": "Ubuntu", "amazonlinux": "Amazon Linux", "debian": "Debian", "rockylinux": "Rocky Linux",
            "rocky": "Rocky Linux", "rhel": "RHEL", "alpine": "Alpine", "centos": "CentOS"}
SSM_SUPPORTED = ["Ubuntu", "Amazon Linux", "Debian"]
STATIC_ONLY = ["Rocky Linux", "RHEL", "Alpine"]


def _distro(base: str) -> tuple[str, str]:
    if not base or base.startswith("ami"):
        return "Custom image (no base OS)", ""
    name, _, version = base.partition("-")
    return _DISTROS.get(name.lower(), name or "unknown"), version


def _check(*, base: str, region: str, architecture: str, image_id: str, source: str, **extra) -> dict:
    distro, version = _distro(base)
    result = {"distro": distro, "version": version, "region": region, "architecture": architecture,
              "current_ami": image_id, "latest_ami": "", "is_outdated": False, "needs_update": False,
              "has_ssm_support": False, "message": "", "source": source, **extra}
    pattern = BASE_IMAGE_PARAMETERS.get(base)
    if not pattern:
        result["message"] = f"no public SSM parameter for base '{base or '(none)'}': update by hand"
        return result
    parameter = pattern.format(deb_arch="amd64" if architecture == "x86_64" else "arm64", aws_arch=architecture)
    result["has_ssm_support"] = True
    try:
        latest = ssm_parameter_value(region, parameter)
    except aws.AwsError as exc:
        result["message"] = f"SSM error reading {parameter}: {exc.message}"
        return result
    if not latest:
        result["message"] = f"SSM parameter {parameter} not found in {region}"
        return result
    result["latest_ami"] = latest
    if latest == image_id:
        result["message"] = "is the latest base image"
        return result
    try:
        current, newest = image_availability(region, image_id), image_availability(region, latest)
    except aws.AwsError:
        current, newest = {}, {}
    mine, theirs = current.get("creation_date") or "", newest.get("creation_date") or ""
    outdated = (theirs > mine) if mine and theirs else True
    result.update(is_outdated=outdated, needs_update=outdated,
                  message=(f"a newer {distro} {version} base image exists: {latest}" if outdated
                           else f"built on or after the latest base image {latest}"))
    return result


def check_freshness() -> dict:
    """Every template mapping and approved community AMI, checked (see the module docstring)."""
    results = []
    for template in Template.objects.order_by("slug"):
        config = template.ami_config or {}
        base = str((template.document or {}).get("base") or template.base or "")
        preferred = config.get("preferred_architecture") or "x86_64"
        for region, image_id in sorted((config.get("ami_mappings") or {}).items()):
            if isinstance(image_id, str) and aws.is_ami_id(image_id) and aws.is_known_region(region):
                results.append(_check(base=base, region=region, architecture=preferred, image_id=image_id,
                                      source="template_mapping", template=template.slug))
    rows = (AMIRegion.objects.filter(is_source=True, state=AMIRegion.State.AVAILABLE, ami__status=AMI.Status.APPROVED)
            .exclude(image_id="").select_related("ami__template").order_by("ami__name"))
    for row in rows:
        template = row.ami.template
        base = str(((template.document or {}).get("base") or template.base or "") if template else "")
        results.append(_check(base=base, region=row.region, architecture=row.ami.architecture, image_id=row.image_id,
                              source="community_ami", registry_id=str(row.ami_id), name=row.ami.name,
                              template=template.slug if template else ""))
    outdated = sum(1 for r in results if r["needs_update"] and r["is_outdated"])
    up_to_date = sum(1 for r in results if not (r["needs_update"] and r["is_outdated"]) and r["has_ssm_support"])
    return {"total_checked": len(results), "outdated": outdated, "up_to_date": up_to_date,
            "no_ssm_support": len(results) - outdated - up_to_date, "results": results,
            "recommendation": ("Rebuild the outdated images on the latest base image, then update the template "
                               "mappings or register the new community AMI (a new version)"),
            "ssm_supported": SSM_SUPPORTED, "static_only": STATIC_ONLY, "check_timestamp": now_iso()}
