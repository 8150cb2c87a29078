"""Browser pages of the AWS image work: progress bars per region (polled by site.js; they refresh
without JS too) and the signed-in user's own entries ("My AMIs")."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from amis.models import AMI, Operation
from amis.operations import operation_poke
from amis.operation_selectors import operation_get_for_or_404, operation_list_for
from amis.selectors import ami_list_owned_by
from amis.views import PROGRESS_KINDS, ami_owned_or_deny

ACTIVE_STATES = (Operation.State.QUEUED, Operation.State.RUNNING)


# --- Progress ----------------------------------------------------------------------------------------------

def _progress_context(request, *, ami: AMI | None = None, root: Operation | None = None) -> dict:
    """Per-region rows for the image work of ``ami`` or of the create operation ``root``.

    In eager mode (no broker) a waiting operation advances only when polled, exactly as through
    the operations API: ``operation_poke`` runs its next step when due (a no-op with a worker).
    """
    user = request.user
    if root is not None:
        root = operation_poke(root) if root.state in ACTIVE_STATES else root
        ami = root.ami if root.ami_id else None
        ops = {root.pk: root}
        ops.update({op.pk: op for op in Operation.objects.filter(parent=root)})
    else:
        ops = {}
    if ami is not None:
        mine = operation_list_for(user=user, ami=ami).filter(kind__in=PROGRESS_KINDS)
        for op in mine:
            if op.parent_id is None and op.state in ACTIVE_STATES:
                operation_poke(op)
        ops.update({op.pk: op for op in operation_list_for(user=user, ami=ami)
                    .filter(kind__in=PROGRESS_KINDS)})
    # A region's latest operation is the one that counts (a failed copy may have been retried).
    latest: dict[str, Operation] = {}
    for op in sorted(ops.values(), key=lambda o: o.created_at):
        latest[op.region or (ami.source_region if ami else "")] = op
    rows = sorted(latest.values(), key=lambda op: (op.kind != Operation.Kind.CREATE_IMAGE, op.region))
    done = all(op.state not in ACTIVE_STATES for op in rows)
    return {
        "ami": ami,
        "root": root,
        "operations": rows,
        "done": done,
        "failed": [op for op in rows if op.state == Operation.State.FAILED],
        "overall": round(sum(op.progress for op in rows) / len(rows)) if rows else 100,
        "fragment_url": (reverse("web:operation-progress-fragment", args=[root.pk]) if root is not None
                         else reverse("web:ami-progress-fragment", args=[ami.pk])),
    }


@login_required
@require_GET
def ami_progress(request, ref: str):
    """Progress bars per region for the owner's image work (polled by site.js; refreshes without JS)."""
    ami = ami_owned_or_deny(request, ref)
    return render(request, "amis/progress.html", _progress_context(request, ami=ami))


@login_required
@require_GET
def ami_progress_fragment(request, ref: str):
    ami = ami_owned_or_deny(request, ref)
    return render(request, "amis/_progress_fragment.html", _progress_context(request, ami=ami))


def _operation_or_404(request, op_id) -> Operation:
    return operation_get_for_or_404(user=request.user, operation_id=str(op_id))


@login_required
@require_GET
def operation_progress(request, op_id):
    """Progress of a create-from-instance request (the registry entry appears once AWS answered)."""
    return render(request, "amis/progress.html", _progress_context(request, root=_operation_or_404(request, op_id)))


@login_required
@require_GET
def operation_progress_fragment(request, op_id):
    return render(request, "amis/_progress_fragment.html",
                  _progress_context(request, root=_operation_or_404(request, op_id)))


# --- My AMIs ------------------------------------------------------------------------------------------------

STATUS_SECTIONS = [
    (AMI.Status.DRAFT, "Drafts"),
    (AMI.Status.PENDING_REVIEW, "Pending review"),
    (AMI.Status.REJECTED, "Rejected"),
    (AMI.Status.APPROVED, "Approved"),
    (AMI.Status.DEPRECATED, "Deprecated"),
    (AMI.Status.REVOKED, "Revoked"),
]


@login_required
@require_GET
def my_amis(request):
    """The caller's entries by status, their running operations and their ratings."""
    user = request.user
    mine = list(ami_list_owned_by(user=user).order_by("-updated_at"))
    sections = [{"status": status, "label": label, "amis": [a for a in mine if a.status == status]}
                for status, label in STATUS_SECTIONS]
    operations = list(operation_list_for(user=user).filter(created_by=user, kind__in=PROGRESS_KINDS)[:20])
    ratings = list(user.ami_ratings.select_related("ami").order_by("-updated_at")[:50])
    return render(request, "amis/my_amis.html", {
        "sections": sections, "total": len(mine), "operations": operations,
        "running": [op for op in operations if op.state in ACTIVE_STATES], "ratings": ratings,
    })
