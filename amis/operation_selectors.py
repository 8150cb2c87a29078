"""Read queries for asynchronous AWS work: the caller's operations, and the status of an AMI
creation as both clients read it (ours and the real cws client: minutes, storage cost, message).

Visibility comes from ``amis.selectors`` (an operation is seen by whoever may manage its AMI)."""
from __future__ import annotations

import uuid

from django.utils import timezone

from amis.models import AMI, AMIRegion, Operation
from amis.selectors import ami_can_manage, ami_list_visible_to, ami_lookup_q
from registry.errors import NotFound
from registry.permissions import is_moderator


def operation_list_for(*, user, ami: AMI | None = None):
    """The caller's operations (moderators: everyone's), newest first, optionally for one AMI."""
    qs = Operation.objects.select_related("ami").order_by("-created_at")
    if not is_moderator(user):
        qs = qs.filter(created_by=user)
    if ami is not None:
        qs = qs.filter(ami=ami)
    return qs


def operation_get_for(*, user, operation_id: str) -> Operation | None:
    """One operation if the caller started it (or is a moderator); None otherwise (→ 404)."""
    try:
        pk = uuid.UUID(str(operation_id))
    except ValueError:
        return None
    return operation_list_for(user=user).filter(pk=pk).first()


def operation_get_for_or_404(*, user, operation_id: str) -> Operation:
    """``operation_get_for``, raising ``NotFound`` for an operation the caller may not see."""
    op = operation_get_for(user=user, operation_id=operation_id)
    if op is None:
        raise NotFound("operation not found")
    return op


_CWS_STATUS = {Operation.State.QUEUED: "pending", Operation.State.RUNNING: "in_progress",
               Operation.State.SUCCEEDED: "completed", Operation.State.FAILED: "failed"}


def creation_status(op: Operation) -> dict:
    """The cws-shaped ``/ami/status`` answer for a create operation (or any operation).

    Progress is the mean over the create step and one copy per target region (a copy not yet
    started counts 0). Status: failed if any part failed, completed when all succeeded,
    pending while nothing has started, else in_progress.
    """
    children = {c.region: c for c in Operation.objects.filter(parent=op, kind=Operation.Kind.COPY_IMAGE)}
    targets = list(dict.fromkeys([*(op.params.get("multi_region") or []), *children]))
    parts = [op, *[children.get(r) for r in targets]]
    progress = round(sum(p.progress if p else 0 for p in parts) / len(parts))
    states = [p.state if p else Operation.State.QUEUED for p in parts]
    if Operation.State.FAILED in states:
        status = "failed"
    elif all(s == Operation.State.SUCCEEDED for s in states):
        status = "completed"
    elif all(s == Operation.State.QUEUED for s in states):
        status = "pending"
    else:
        status = "in_progress"
    region_results = {op.region: {"region": op.region, "ami_id": op.image_id, "status": _CWS_STATUS[op.state],
                                  "error": op.error}}
    for region in targets:
        child = children.get(region)
        region_results[region] = {"region": region, "ami_id": child.image_id if child else "",
                                  "status": _CWS_STATUS[child.state] if child else "pending",
                                  "error": child.error if child else ""}
    errors = [f"{r}: {v['error']}" for r, v in region_results.items() if v["error"]]
    end = max([p.finished_at for p in parts if p and p.finished_at], default=None) if status in (
        "completed", "failed") else None
    elapsed = ((end or timezone.now()) - op.created_at).total_seconds() / 60
    message = ("; ".join(errors) if errors else
               "image available in every region" if status == "completed" else op.message or "in progress")
    estimates = create_estimates(op)
    # A finished creation has no minutes remaining; a running one at least one.
    remaining = (0 if status in ("completed", "failed") else
                 max(1, int(round(estimates["estimated_completion_minutes"] - elapsed))))
    return {"creation_id": str(op.pk), "ami_id": op.image_id, "registry_id": str(op.ami_id or "") or
            (op.params or {}).get("registry_id", ""), "name": (op.params or {}).get("name", ""),
            "template_name": (op.params or {}).get("template", ""), "status": status, "progress": progress,
            "message": message, "elapsed_time_minutes": round(elapsed, 2),
            "estimated_completion_minutes": remaining, "storage_cost": estimates["storage_cost"],
            "creation_cost": estimates["creation_cost"], "region_results": region_results}


def creation_operation_for_ref(*, user, ref: str) -> Operation | AMI:
    """What ``GET /ami/status/{ref}`` reports on: ``ref`` is a create operation's id, a registry id
    or an AWS AMI id (canonical or a regional copy's) of the caller's (a moderator: any) entry.
    Returns the entry's create operation, or the entry itself when it was registered, not created
    here (its status then comes from its regional copies). 404 otherwise."""
    op = operation_get_for(user=user, operation_id=ref)
    if op is not None:
        return op
    lookup = ami_lookup_q(ref)
    ami = None
    if lookup is not None:
        ami = ami_list_visible_to(user=user).filter(lookup).first()
    if ami is None or not ami_can_manage(user=user, ami=ami):
        raise NotFound("no AMI creation with this id: give the creation id, the registry id or the AMI id")
    op = (Operation.objects.filter(ami=ami, kind=Operation.Kind.CREATE_IMAGE, parent__isnull=True)
          .order_by("-created_at").first())
    return op if op is not None else ami


def ami_creation_status(ami: AMI) -> dict:
    """The ``/ami/status`` answer for an entry with no create operation (registered from an
    existing image): completed when its source copy is available, failed when it failed."""
    rows = list(ami.regions.all())
    source = next((r for r in rows if r.is_source), None) or (rows[0] if rows else None)
    state = source.state if source else AMIRegion.State.AVAILABLE
    status = {AMIRegion.State.AVAILABLE: "completed", AMIRegion.State.FAILED: "failed"}.get(state, "in_progress")
    size = ami.size_gb or 8
    return {"creation_id": "", "ami_id": ami.ami_id, "registry_id": str(ami.pk), "name": ami.name,
            "template_name": ami.template.slug if ami.template_id else "", "status": status,
            "progress": 100 if status == "completed" else 0 if status == "failed" else 50,
            "message": (source.error if source and source.error else f"registered in {ami.source_region}"),
            "elapsed_time_minutes": round((timezone.now() - ami.created_at).total_seconds() / 60, 2),
            "estimated_completion_minutes": 0 if status != "in_progress" else 5,
            "storage_cost": round(size * 0.05 * max(1, len(rows)), 2), "creation_cost": 0.0,
            "region_results": {r.region: {"region": r.region, "ami_id": r.image_id,
                                          "status": {AMIRegion.State.AVAILABLE: "completed",
                                                     AMIRegion.State.FAILED: "failed"}.get(r.state, "in_progress"),
                                          "error": r.error} for r in rows}}


def create_estimates(op: Operation) -> dict:
    """Rough costs and duration for the 202 answer (snapshot storage $0.05/GB-month per region,
    cross-region copy transfer $0.02/GB). Documented in docs/aws-lifecycle.md."""
    params = op.params or {}
    size = params.get("root_size_gb") or 8
    regions = 1 + len(params.get("multi_region") or [])
    return {
        "estimated_completion_minutes": 10 + 15 * (regions - 1),
        "storage_cost": round(size * 0.05 * regions, 2),
        "creation_cost": round(size * 0.02 * (regions - 1), 2),
    }
