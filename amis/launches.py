"""Reported workstation launches (``ami_launches``): what the success metrics are measured from.

A client (``cws launch``) reports each launch it made — from an AMI or by script, in which
region, on which instance type, whether it worked and, when it measured it, how many seconds
until the workstation was ready. Telemetry, not a state change: not audited; the row is the
record. ``Download`` (``amis.downloads``) stays the per-AMI counter that ranking reads.
"""
from __future__ import annotations

import math

from amis.metadata import CLIENT_MAX, text_clean
from amis.models import AMI, Launch
from registry import aws
from registry.errors import InvalidInput
from templates.models import Template

# A launch slower than a day was not measured: it was left waiting.
MAX_SECONDS = 86_400


def launch_record(*, region: str, method: str, ami: AMI | None = None, template: Template | None = None,
                  user=None, resolution_method: str = "", instance_type: str = "", seconds: float | None = None,
                  succeeded: bool = True, error: str = "", client: str = "") -> Launch:
    """Record one reported launch. 400 naming the field for an unknown region or method, a
    negative/absurd duration, an AMI launch without its AMI. Any visible AMI (lookup by the caller)."""
    if not aws.is_known_region(region):
        raise InvalidInput(f"region: unknown AWS region '{region}'", errors={"region": ["Unknown AWS region."]})
    if method not in Launch.Method.values:
        raise InvalidInput("method: must be ami or script", errors={"method": ["Must be ami or script."]})
    if method == Launch.Method.AMI and ami is None and template is None:
        # An image that is no registry entry (a template's own mapping) is reported by its template.
        raise InvalidInput("ami: a launch from an AMI names it or its template",
                           errors={"ami": ["Required when method is ami (or give the template)."]})
    if seconds is not None and (not math.isfinite(seconds) or not 0 <= seconds <= MAX_SECONDS):
        raise InvalidInput(f"seconds: between 0 and {MAX_SECONDS}", errors={"seconds": [f"Between 0 and {MAX_SECONDS}."]})
    who = user if user is not None and user.is_authenticated else None
    return Launch.objects.create(
        ami=ami, template=template or (ami.template if ami is not None and ami.template_id else None), region=region,
        method=method, resolution_method=text_clean("resolution_method", resolution_method, max_length=32),
        instance_type=text_clean("instance_type", instance_type, max_length=32), seconds=seconds,
        succeeded=bool(succeeded), error=text_clean("error", error, max_length=200),
        client=text_clean("client", client, max_length=CLIENT_MAX), user=who)
