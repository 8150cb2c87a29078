"""The event types a subscriber can ask for (CloudEvents ``type``), and what each one means.

Names are part of the contract (webhook receivers switch on them): add, never rename.
"""
from django.db import models


class EventType(models.TextChoices):
    AMI_APPROVED = "ami.approved", "AMI approved"
    AMI_REJECTED = "ami.rejected", "AMI rejected"
    AMI_DEPRECATED = "ami.deprecated", "AMI deprecated"
    AMI_REVOKED = "ami.revoked", "AMI revoked"
    SCAN_FAILED = "scan.failed", "Security scan failed"
    COPY_COMPLETED = "copy.completed", "Copy to a region completed"
    REVIEW_POSTED = "review.posted", "Review posted"
    REVIEW_HIDDEN = "review.hidden", "Review hidden by a moderator"
    VERSION_PUBLISHED = "version.published", "Version published"
    CHANNEL_MOVED = "channel.moved", "Channel moved"
    # Sent only by "send test event"; nobody subscribes to it.
    WEBHOOK_TEST = "webhook.test", "Test event"


DESCRIPTIONS = {
    EventType.AMI_APPROVED: "A moderator approved the AMI: it is listed (and resolvable) now.",
    EventType.AMI_REJECTED: "A moderator rejected the submission; data.reason says why.",
    EventType.AMI_DEPRECATED: "The owner or a moderator deprecated the AMI; data.replacement names its successor.",
    EventType.AMI_REVOKED: "A moderator revoked the AMI: never resolved again, launch permissions withdrawn.",
    EventType.SCAN_FAILED: "The security scan found problems; data.findings lists the failed checks.",
    EventType.COPY_COMPLETED: "A copy of the AMI became available in data.region.",
    EventType.REVIEW_POSTED: "Someone rated the AMI with a review.",
    EventType.REVIEW_HIDDEN: "A moderator hid a review; data.reason says why.",
    EventType.VERSION_PUBLISHED: "A new version of a lineage was published.",
    EventType.CHANNEL_MOVED: "A lineage's channel now points at another version.",
}

# What a subscription may ask for (everything but the test event).
SUBSCRIBABLE = tuple(t for t in EventType if t != EventType.WEBHOOK_TEST)
