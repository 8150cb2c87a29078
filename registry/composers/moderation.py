"""The moderation queue on the admin index: what waits for moderators across the apps, each with
a link straight to the admin list that shows it. A composer: it reads each app's own selectors."""
from __future__ import annotations

from django.urls import reverse

from amis.selectors import SCAN_EXCEPTION_EXPIRY_WARNING_DAYS, ami_moderation_counts
from ratings.selectors import rating_reports_open
from registry.admin_site import RegistryAdminSite


def moderation_queue() -> list[dict]:
    """``[{key, label, count, url, help}]`` in the order moderators should work through them."""
    counts = ami_moderation_counts()
    amis = reverse("admin:amis_ami_changelist")
    return [
        {"key": "pending_review", "label": "Submissions to review", "count": counts["pending_review"],
         "url": f"{amis}?status__exact=pending_review",
         "help": "Community and public entries waiting for approval (private ones need none)."},
        {"key": "reported_reviews", "label": "Reported reviews", "count": rating_reports_open().count(),
         "url": reverse("admin:ratings_ratingreport_changelist") + "?status__exact=open",
         "help": "Reviews users reported: hide them or dismiss the reports."},
        {"key": "failed_scans", "label": "Failed scans", "count": counts["failed_scans"],
         "url": f"{amis}?scan_status__exact=failed",
         "help": "Pending or listed entries whose last security scan failed."},
        {"key": "expiring_exceptions", "label": "Scan exceptions about to expire",
         "count": counts["expiring_exceptions"],
         "url": reverse("admin:amis_scanexception_changelist") + "?expiry=soon",
         "help": f"Expire within {SCAN_EXCEPTION_EXPIRY_WARNING_DAYS} days: the entry needs a passing scan "
                 "or a new exception."},
    ]


class ModerationAdminSite(RegistryAdminSite):
    """The registry's admin site, opening on the moderation queue."""

    index_template = "admin/moderation_index.html"

    def index(self, request, extra_context=None):
        return super().index(request, {**(extra_context or {}), "moderation_queue": moderation_queue()})
