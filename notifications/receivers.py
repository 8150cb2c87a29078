"""The link from the audit trail to notifications (connected in ``NotificationsConfig.ready``)."""
from __future__ import annotations

import logging

from notifications.mapping import rule_for
from notifications.tasks import event_fan_out_task
from registry.celery import BROKER_ERRORS

logger = logging.getLogger(__name__)


def on_audit_event_committed(sender, event, **kwargs) -> None:
    """Queue the fan-out of a committed audit event worth telling about (no query here: this
    runs in the request or task that made the change)."""
    if rule_for(event) is not None:
        try:
            event_fan_out_task.delay(event.pk)
        except BROKER_ERRORS:
            # The change is committed; its audit event is the outbox: the ``notifications.resume``
            # sweep fans out events that never were, once the broker is back.
            logger.warning("broker unavailable: fan-out of audit event %s left to the resume sweep", event.pk)
