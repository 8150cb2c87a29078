"""Published answers: the registry's channel answers as SSM parameters, one per region.

For every (template, channel, architecture, region) the registry can answer — the best approved,
public version a channel of the template's lineages points at, with an available copy in that
region (the resolver's own ranking, ``resolver.selectors.registry_candidates``) — an SSM
parameter ``/cws-registry/<template>/<channel>/<arch>`` of type ``String`` and data type
``aws:ec2:image`` holds the regional image id, tagged with the registry entry. So
``aws ec2 run-instances --image-id resolve:ssm:/cws-registry/python-ml-ami/stable/x86_64`` and
launch templates work with no client at all.

A sync is one ``Operation(kind=ssm_sync)`` per template (``ssm_sync_request``; a queued one is
reused, so a burst of moves costs one sync), run by ``resolver.tasks.ssm_sync_task`` on the
operations engine. Syncs of one template never overlap: a sync that finds another of its template
running (with a live heartbeat) stays queued and looks again in ``SYNC_BUSY_RETRY_SECONDS``, so an
older reading of the database can never overwrite a newer one and two syncs never race to create
the same parameter. ``ssm_sync_step`` is idempotent: it reads each parameter from SSM and writes
only what differs (PutParameter is never called to write the value already there), deletes the
parameters the registry no longer answers (a channel emptied, a version revoked with no
replacement), and records every parameter in ``PublishedParameter``. Throttling and 5xx are
``AwsTransientError``: the task retries with backoff and the re-run skips what is done.

Requested when a channel moves (``amis.signals.channel_moved``: by hand, or because a version
was approved, deprecated or revoked) and when a copy of a version a channel points at becomes
available (``amis.signals.ami_copy_available``). ``REGISTRY_SSM_PUBLISH`` turns it off.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from amis.lineage_selectors import ami_channel_template_id, lineage_channel_names, lineage_template_id
from amis.models import Operation
from amis.operations import (OpKind, OpState, TERMINAL, heartbeat_stale_seconds, operation_enqueue_on_commit,
                             operation_fail, operation_heartbeat, operation_mark_running, operation_save,
                             operation_succeed)
from registry import aws
from registry.audit import audit_record
from resolver.models import PublishedParameter
from resolver.selectors import registry_candidates
from templates.models import Template
from templates.validation import ARCHITECTURES

logger = logging.getLogger(__name__)

PREFIX = "/cws-registry"
DATA_TYPE = "aws:ec2:image"
SYNC_BUSY_RETRY_SECONDS = 2
HEARTBEAT_EVERY_SECONDS = 10


def ssm_publish_enabled() -> bool:
    return bool(getattr(settings, "REGISTRY_SSM_PUBLISH", True))


def parameter_name(*, template_slug: str, channel: str, architecture: str) -> str:
    return f"{PREFIX}/{template_slug}/{channel}/{architecture}"


def ssm_desired(*, template: Template) -> dict[tuple[str, str], dict]:
    """``{(region, parameter name): {image_id, ami, version, channel, architecture}}``: what the
    registry answers anonymously for each channel of the template's lineages (DB only)."""
    desired = {}
    for channel in lineage_channel_names(template=template):
        for arch in ARCHITECTURES:
            rows = registry_candidates(template=template, regions=aws.COMMERCIAL_REGIONS, architectures=[arch],
                                       user=None, channel=channel)
            name = parameter_name(template_slug=template.slug, channel=channel, architecture=arch)
            for region, candidates in rows.items():
                best = candidates[0]
                desired[(region, name)] = {"image_id": best.image_id, "ami": best.ami, "version": best.ami.version,
                                           "channel": channel, "architecture": arch}
    return desired


# --- the request ------------------------------------------------------------------------------------

def ssm_sync_request(*, template: Template, reason: str, actor=None) -> Operation | None:
    """Queue a sync of ``template``'s parameters (after commit). A sync still queued for it is
    reused: it has not read the database yet, so it will see this change too. None when
    publishing is off."""
    if not ssm_publish_enabled():
        return None
    with transaction.atomic():
        queued = Operation.objects.filter(kind=OpKind.SSM_SYNC, state=OpState.QUEUED,
                                          params__template=template.slug).first()
        if queued is not None:
            return queued
        op = Operation.objects.create(kind=OpKind.SSM_SYNC, params={"template": template.slug, "reason": reason},
                                      created_by=actor if getattr(actor, "is_authenticated", False) else None,
                                      message=f"queued: {reason}")
        operation_enqueue_on_commit(op)
    return op


def on_channel_moved(sender=None, *, lineage_id, channel: str = "", **kwargs) -> None:
    template_id = lineage_template_id(lineage_id=lineage_id)
    template = Template.objects.filter(pk=template_id).first() if template_id else None
    if template is not None:
        ssm_sync_request(template=template, reason=f"channel {channel} moved")


def on_copy_available(sender=None, *, ami_id, region: str = "", **kwargs) -> None:
    template_id = ami_channel_template_id(ami_id=ami_id)
    template = Template.objects.filter(pk=template_id).first() if template_id else None
    if template is not None:
        ssm_sync_request(template=template, reason=f"copy available in {region}")


# --- the worker's step --------------------------------------------------------------------------------

def _tags(template: Template, want: dict) -> list[dict]:
    return [{"Key": "ManagedBy", "Value": "cws-registry"}, {"Key": "Template", "Value": template.slug},
            {"Key": "Channel", "Value": want["channel"]}, {"Key": "Version", "Value": want["version"] or "-"},
            {"Key": "RegistryId", "Value": str(want["ami"].pk)}]


def _current_value(region: str, name: str) -> str | None:
    try:
        return aws.call(region, "ssm", "get_parameter", Name=name)["Parameter"]["Value"]
    except aws.AwsNotFound:
        return None


def _put(region: str, name: str, *, template: Template, want: dict, exists: bool) -> None:
    common = {"Name": name, "Value": want["image_id"], "Type": "String", "DataType": DATA_TYPE,
              "Description": f"CloudWorkstation registry: {template.slug} {want['channel']} ({want['architecture']})"}
    if exists:
        # NOTE: PutParameter refuses Tags together with Overwrite; tags are set separately.
        aws.call(region, "ssm", "put_parameter", Overwrite=True, **common)
        aws.call(region, "ssm", "add_tags_to_resource", ResourceType="Parameter", ResourceId=name,
                 Tags=_tags(template, want))
    else:
        aws.call(region, "ssm", "put_parameter", Tags=_tags(template, want), **common)


def _delete(region: str, name: str) -> None:
    try:
        aws.call(region, "ssm", "delete_parameter", Name=name)
    except aws.AwsNotFound:
        pass  # already gone: the goal is reached


def _sync_claimed(op: Operation, template: Template) -> bool:
    """Mark ``op`` running unless another sync of ``template`` is running; the template's row lock
    makes the look and the claim one step, so two workers cannot both claim."""
    with transaction.atomic():
        # NO KEY UPDATE: serialises the claims without blocking rows that reference the template.
        Template.objects.select_for_update(no_key=True).filter(pk=template.pk).first()
        alive_since = timezone.now() - timedelta(seconds=heartbeat_stale_seconds())
        other = (Operation.objects.filter(kind=OpKind.SSM_SYNC, state=OpState.RUNNING, params__template=template.slug,
                                          updated_at__gte=alive_since)
                 .exclude(pk=op.pk).exists())
        if other:
            if op.state == OpState.RUNNING:
                # A sync taken over while it waited for a retry: queued again, so that a waiting
                # sync never looks like a running one and two syncs never wait for each other.
                operation_save(op, state=OpState.QUEUED, message="waiting for the template's running sync")
            return False
        operation_mark_running(op, progress=5, message="reading what the registry answers")
    return True


class _Heartbeat:
    """Beats for a long step (one per parameter would be a write per AWS call): at most every
    ``HEARTBEAT_EVERY_SECONDS``, so a sync over many regions never looks dead while it runs."""

    def __init__(self, operation_id):
        self.operation_id = operation_id
        self.last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self.last >= HEARTBEAT_EVERY_SECONDS:
            operation_heartbeat(operation_id=self.operation_id)
            self.last = time.monotonic()


def ssm_sync_step(*, operation_id) -> int | None:
    """Make SSM match what the registry answers for the operation's template (idempotent; no AWS
    call inside a transaction). Ends the operation, or returns the seconds to wait while another
    sync of the template runs; raises ``AwsTransientError`` to be retried."""
    op = Operation.objects.filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL:
        return None
    template = Template.objects.filter(slug=(op.params or {}).get("template", "")).first()
    if template is None:
        operation_fail(op, error="the template no longer exists")
        return None
    if not _sync_claimed(op, template):
        return SYNC_BUSY_RETRY_SECONDS
    desired = ssm_desired(template=template)
    published = {(p.region, p.name): p for p in PublishedParameter.objects.filter(
        template=template, state=PublishedParameter.State.PUBLISHED)}
    outcome: dict[str, list] = {"written": [], "unchanged": [], "deleted": [], "failed": []}
    now = timezone.now()
    beat = _Heartbeat(op.pk)
    for (region, name), want in sorted(desired.items()):
        beat()
        try:
            current = _current_value(region, name)
            if current != want["image_id"]:
                _put(region, name, template=template, want=want, exists=current is not None)
                outcome["written"].append(f"{region}:{name}")
            else:
                outcome["unchanged"].append(f"{region}:{name}")
        except aws.AwsTransientError:
            raise
        except aws.AwsError as exc:
            outcome["failed"].append(f"{region}:{name}: {exc.message}")
            continue
        changed = current != want["image_id"]
        PublishedParameter.objects.update_or_create(
            region=region, name=name,
            defaults={"template": template, "channel": want["channel"], "architecture": want["architecture"],
                      "image_id": want["image_id"], "ami": want["ami"], "version": want["version"],
                      "state": PublishedParameter.State.PUBLISHED, "operation": op, "last_synced_at": now,
                      **({"changed_at": now} if changed else {})})
    for (region, name), row in sorted(published.items()):
        beat()
        if (region, name) in desired:
            continue
        try:
            _delete(region, name)
        except aws.AwsTransientError:
            raise
        except aws.AwsError as exc:
            outcome["failed"].append(f"{region}:{name}: {exc.message}")
            continue
        PublishedParameter.objects.filter(pk=row.pk).update(state=PublishedParameter.State.DELETED, image_id="",
                                                            operation=op, last_synced_at=now, changed_at=now)
        outcome["deleted"].append(f"{region}:{name}")
    counts = {k: len(v) for k, v in outcome.items()}
    audit_record(actor=None, action="ssm.sync", target=op, after={"template": template.slug, **counts})
    if outcome["failed"]:
        operation_fail(op, error="; ".join(outcome["failed"])[:4000], result=outcome)
    else:
        operation_succeed(op, message=f"{counts['written']} written, {counts['unchanged']} unchanged, "
                                      f"{counts['deleted']} deleted", result=outcome)
    return None
