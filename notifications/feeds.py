"""Atom feeds (Django's syndication framework) of new approvals: all of them, one template's, or
the published versions of one lineage.

Feeds are read anonymously by feed readers, so they list exactly what the anonymous public may
see (``amis.selectors.ami_list_visible_to(user=None)``), newest approval first.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import Http404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from amis.lineage_selectors import lineage_get_visible_or_404
from amis.models import AMI
from amis.selectors import ami_list_visible_to
from notifications.fanout import site_url
from templates.selectors import template_get


def approvals(template=None, lineage=None):
    qs = ami_list_visible_to(user=None).filter(approved_at__isnull=False)
    if template is not None:
        qs = qs.filter(template=template)
    if lineage is not None:
        qs = qs.filter(lineage=lineage)
    return (qs.select_related("template", "creator").prefetch_related("regions")
            .order_by("-approved_at", "-pk")[: settings.REGISTRY_FEED_ITEMS])


class ApprovalsFeed(Feed):
    """``/feeds/approvals.atom``: every newly approved public AMI."""

    feed_type = Atom1Feed
    title = "Community AMI Registry — new approvals"
    subtitle = "AMIs approved by the moderators, newest first."
    author_name = "Community AMI Registry"

    def link(self):
        return reverse("web:home")

    def feed_guid(self):
        return site_url(reverse("web:feed-approvals"))

    def items(self):
        return approvals()

    def item_title(self, ami: AMI):
        suffix = " (deprecated)" if ami.status == AMI.Status.DEPRECATED else ""
        return f"{ami.name}{' ' + ami.version if ami.version else ''}{suffix}"

    def item_description(self, ami: AMI):
        regions = ", ".join(r.region for r in ami.regions.all() if r.state == "available")
        template = f"Template: {ami.template.name}. " if ami.template_id else ""
        return f"{ami.description}\n\n{template}Architecture: {ami.architecture}. Regions: {regions or 'none yet'}."

    def item_link(self, ami: AMI):
        return reverse("web:ami-detail", args=[ami.pk])

    def item_guid(self, ami: AMI):
        return f"urn:uuid:{ami.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, ami: AMI):
        return ami.approved_at

    def item_updateddate(self, ami: AMI):
        return ami.updated_at

    def item_author_name(self, ami: AMI):
        return ami.creator.get_username() if ami.creator_id else "deleted user"

    def item_categories(self, ami: AMI):
        return [c for c in (ami.category, ami.template.slug if ami.template_id else "") if c]


class TemplateApprovalsFeed(ApprovalsFeed):
    """``/feeds/templates/<template>.atom``: newly approved public AMIs of one template."""

    def get_object(self, request, ref: str):
        template = template_get(ref)
        if template is None:
            raise Http404("unknown template")
        return template

    def title(self, template):
        return f"Community AMI Registry — new AMIs for {template.name}"

    def subtitle(self, template):
        return f"AMIs approved for the workstation template {template.name}, newest first."

    def link(self, template):
        return reverse("web:template-detail", args=[template.slug])

    def feed_guid(self, template):
        return site_url(reverse("web:feed-template", args=[template.slug]))

    def items(self, template):
        return approvals(template)


class LineageVersionsFeed(ApprovalsFeed):
    """``/feeds/lineages/<lineage id>.atom``: the published versions of one lineage, newest first."""

    def get_object(self, request, lineage_id):
        # Anonymous, like every feed: a lineage nobody anonymous may see is unknown.
        return lineage_get_visible_or_404(user=None, ref=str(lineage_id))

    def title(self, lineage):
        owner = lineage.owner.get_username() if lineage.owner_id else "an erased account"
        return f"Community AMI Registry — versions of {lineage.name} by {owner}"

    def subtitle(self, lineage):
        return f"Versions of the lineage {lineage.name} approved by the moderators, newest first."

    def link(self, lineage):
        return reverse("web:lineage-detail", args=[lineage.pk])

    def feed_guid(self, lineage):
        return site_url(reverse("web:feed-lineage", args=[lineage.pk]))

    def items(self, lineage):
        return approvals(lineage=lineage)
