"""The link from the audit trail to notifications (connected in ``NotificationsConfig.ready``)."""
from __future__ import annotations

from notifications.mapping import rule_for
from notifications.tasks import event_fan_out_task


def on_audit_event_committed(sender, event, **kwargs) -> None:
    """Queue the fan-out of a committed audit event worth telling about (no query here: this
    runs in the request or task that made the change)."""
    if rule_for(event) is not None:
        event_fan_out_task.delay(event.pk)
