"""Side-by-side comparison of 2–8 AMIs (or a template's best candidates): one row per image with
what a researcher weighs — architecture, regions, size, launch time, cost per hour on the
recommended instance types, rating, downloads, trust (verified, signature, scan), the software
highlights (CUDA, driver, Python, PyTorch, R…) and freshness (stale reasons, "best" score).

A composer: it reads the catalogue (visibility, manifests, ranking) and the resolver's cost model
(``resolver.costs``: the same launch-time and price figures as the resolver and the costs
endpoint — nothing is re-derived here). ``GET /api/v1/compare`` and ``/compare/`` both call
``comparison_build``.
"""
from __future__ import annotations

from amis import ranking, software
from amis.models import AMI, AMIRegion
from amis.selectors import ami_get_visible, ami_is_visible, ami_search
from registry import aws
from registry.errors import InvalidInput, NotFound
from resolver import costs
from templates.selectors import template_get

MIN_AMIS = 2
MAX_AMIS = 8
# Instance types priced per image: the advice's recommendation and the next cheapest ones.
PRICED_TYPES = 3


def compare_refs_clean(value: str | list | None) -> list[str]:
    """``"a,b,c"`` (or a list) → 2–8 distinct references; 400 naming ``amis`` otherwise."""
    if isinstance(value, (list, tuple)):
        parts = [p for item in value for p in str(item).split(",")]
    else:
        parts = str(value or "").split(",")
    refs = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if not MIN_AMIS <= len(refs) <= MAX_AMIS:
        raise InvalidInput(f"amis: give {MIN_AMIS}–{MAX_AMIS} distinct AMIs, comma-separated ({len(refs)} given)",
                           errors={"amis": [f"Give {MIN_AMIS} to {MAX_AMIS} distinct AMIs, comma-separated."]})
    return refs


def _region_clean(region: str | None) -> str | None:
    region = (region or "").strip()
    if region and not aws.is_known_region(region):
        raise InvalidInput(f"region: unknown AWS region '{region}'", errors={"region": ["Unknown region."]})
    return region or None


def compare_row(ami: AMI, *, user, region: str | None = None) -> dict:
    """One image's column of the grid. ``region`` prices it there (default: its source region)."""
    where = region or ami.source_region
    document = ami.template.document if ami.template_id else {}
    available = [r.region for r in ami.regions.all() if r.state == AMIRegion.State.AVAILABLE]
    # Launch time: the cost model's AMI boot; in a region without a copy, the copy comes first.
    launch_seconds = costs.ami_launch_seconds()
    copy = None
    if where not in available:
        copy = costs.copy_estimate(source_region=ami.source_region, target_region=where, size_gb=ami.size_gb)
        launch_seconds += copy["estimated_minutes"] * 60
    if ami.template_id:
        advice = costs.instance_advice(document=document, region=where, architectures=[ami.architecture])
        priced = advice["candidates"][:PRICED_TYPES]
        reasoning = advice["reasoning"]
    else:
        # No template, no needs: the cost model's default type for the architecture.
        itype = costs.config()["default_instance_type"].get(ami.architecture, "t3.medium")
        priced = [{"instance_type": itype, "architecture": ami.architecture,
                   "hourly_price": round(costs.instance_hourly(itype, where), 5)}]
        reasoning = f"No template: the default {ami.architecture} type."
    manifest = software.ami_software_manifest(ami)
    facts = ranking.rank_facts(ami)
    # A newer version the caller may not see is counted in the score, never named.
    facts.newer_visible = facts.newer is not None and ami_is_visible(user=user, ref=str(facts.newer.pk))
    rank = ranking.rank_explain(ami, facts=facts)
    return {
        "id": str(ami.pk), "ami_id": ami.ami_id, "name": ami.name, "version": ami.version,
        "template": ami.template.slug if ami.template_id else None,
        "architecture": ami.architecture, "status": ami.status,
        "regions": available, "size_gb": ami.size_gb,
        "launch_time_estimate_seconds": int(launch_seconds),
        "script_setup_seconds": costs.script_setup_seconds(document) if costs.has_script_provisioning(document)
        else None,
        "copy": copy,
        "cost": {"region": where, "instance_types": priced, "reasoning": reasoning},
        "rating_avg": float(ami.rating_avg), "rating_count": ami.rating_count, "download_count": ami.download_count,
        "verified": ami.verified, "signature_valid": ami.signature_valid, "scan_status": ami.scan_status,
        "security_score": float(ami.security_score) if ami.security_score is not None else None,
        "highlights": {key: manifest.get(key, "") for key in software.HIGHLIGHTS},
        "package_count": len(manifest["packages"]),
        "doi": ami.doi, "license": ami.license,
        "freshness": {
            "image_built": ami.image_creation_date or ami.created_at.isoformat(),
            "approved_at": ami.approved_at.isoformat() if ami.approved_at else None,
            "last_scan_at": facts.last_scan_at.isoformat() if facts.last_scan_at else None,
            "last_launch_at": facts.last_launch_at.isoformat() if facts.last_launch_at else None,
            "stale": rank["stale"],
            "best_score": rank["score"],
        },
    }


def comparison_build(*, user, amis: str | list | None = None, template: str | None = None,
                     region: str | None = None) -> dict:
    """The grid for the AMIs named in ``amis`` (2–8, in the order given) or, with ``template``,
    that template's best visible candidates (up to 8). An AMI the caller may not see is a 404,
    as everywhere; an unknown template too. Read-only."""
    region = _region_clean(region)
    if template and not amis:
        tpl = template_get(template)
        if tpl is None:
            raise NotFound("template not found")
        entries = list(ami_search(user=user, params={"template": tpl.slug}).queryset[:MAX_AMIS])
        source = {"template": tpl.slug, "requested": []}
    else:
        entries = []
        for ref in compare_refs_clean(amis):
            ami = ami_get_visible(user=user, ref=ref)
            if ami is None:
                raise NotFound(f"AMI not found: {ref}")
            if all(e.pk != ami.pk for e in entries):  # two ids of one entry are one column
                entries.append(ami)
        source = {"template": None, "requested": [e.ami_id for e in entries]}
    rows = [compare_row(ami, user=user, region=region) for ami in entries]
    # The cheapest hourly price and the best score, marked for the page's highlighting.
    prices = [r["cost"]["instance_types"][0]["hourly_price"] for r in rows if r["cost"]["instance_types"]]
    return {**source, "region": region, "count": len(rows), "amis": rows,
            "cheapest_hourly_price": min(prices) if prices else None,
            "best_score": max((r["freshness"]["best_score"] for r in rows), default=None)}
