"""Consent to copy: when the resolver's answer is an AMI in a nearby region (``cross_region``,
``consent_required``), copying it into the wanted region costs money and minutes, so the user
says yes first.

Who copies: the registry, when the caller may manage the entry (its owner or a moderator — the
registry then serves the copy to everyone in that region); otherwise the caller's own AWS
account, with their own credentials (CopyImage of a public or shared image), because the
registry copies only what its owners ask for.
"""
from __future__ import annotations

import time

from cws import aws
from cws.api import all_pages, quote_segment
from cws.core import State
from cws.errors import Refused
from cws.progress import OperationsTracker, watch


def _may_manage(state: State, registry_id: str) -> bool:
    # The AMI object carries `shares` only for its owner and moderators (API.md).
    entry = state.api().get(f"/amis/{quote_segment(registry_id)}", what=registry_id)
    return entry.get("shares") is not None


def plan(state: State, resolution: dict) -> dict:
    copy = resolution.get("copy") or {}
    registry_id = resolution.get("registry_id")
    by_registry = bool(registry_id) and state.settings.token.value is not None and _may_manage(state, registry_id)
    return {"source_region": copy.get("source_region") or resolution.get("source_region"),
            "source_ami_id": copy.get("source_ami_id") or resolution.get("ami_id"),
            "target_region": resolution["target_region"], "registry_id": registry_id,
            "estimated_cost": float(copy.get("estimated_cost") or 0.0),
            "estimated_minutes": int(copy.get("estimated_minutes") or 0),
            "by": "registry" if by_registry else "your_account"}


def question(p: dict) -> str:
    who = "by the registry (you manage this AMI)" if p["by"] == "registry" else \
        "into your own AWS account (your credentials, your bill)"
    return (f"Copy {p['source_ami_id']} from {p['source_region']} to {p['target_region']} {who}? "
            f"About ${p['estimated_cost']:.2f} and {p['estimated_minutes']} min.")


def perform(state: State, p: dict, *, wait: bool) -> dict:
    """Start the copy (and follow it when ``wait``); returns ``p`` plus ``ami_id`` in the target
    region ("" while unknown) and the operations or AWS image it made."""
    target = p["target_region"]
    if p["by"] == "registry":
        api = state.api()
        answer = api.post(f"/amis/{quote_segment(p['registry_id'])}/copy", {"regions": [target]},
                          what=p["registry_id"])
        ops = answer.get("operations") or [
            # Already being copied there: follow the copy that exists.
            op for op in all_pages(api, "/operations/", params={"ami": p["registry_id"]}, limit=100)
            if op.get("kind") == "copy_image" and op.get("region") == target][:1]
        result = {**p, "operations": ops, "ami_id": ops[0].get("ami_id", "") if ops else ""}
        if wait and ops:
            parts = watch(OperationsTracker(api, [o["id"] for o in ops]), state.out,
                          resume_hint=f"cws ami operations --ami {p['registry_id']}")
            failed = [x for x in parts if x.state == "failed"]
            if failed:
                raise Refused(f"the copy to {target} failed: {failed[0].error}")
            result["ami_id"] = parts[0].ami_id
        return result
    name = f"cws-copy-{p['source_ami_id']}-{int(time.time())}"
    with aws.translated(f"copying {p['source_ami_id']} to {target}"):
        image_id = aws.client("ec2", target).copy_image(
            SourceImageId=p["source_ami_id"], SourceRegion=p["source_region"], Name=name,
            Description=f"Copied by cws from {p['source_ami_id']} ({p['source_region']})")["ImageId"]
    state.out.note(f"copying into your account: {image_id} in {target}")
    if wait:
        aws.wait_image_available(target, image_id,
                                 on_wait=lambda s: state.out.note(f"{image_id} is {s}; waiting…"))
    return {**p, "ami_id": image_id, "operations": []}
