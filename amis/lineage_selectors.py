"""Reads of lineages, versions and channels (the writes are ``amis.lineages``).

Visibility follows the catalogue's (``amis.selectors.ami_list_visible_to``): a lineage is
visible to whoever may see one of its versions (and to its owner and moderators); a version
listed in a lineage is one the caller may see; a channel shows the version it points at only to
callers who may see that version. The resolver asks ``channel_answer_ids`` which versions a
``channel`` and/or a version constraint name for a template.
"""
from __future__ import annotations

import uuid

from django.db.models import Prefetch, Q, QuerySet

from amis.models import AMI, AMIRegion, Channel, ChannelMove, Lineage
from amis.selectors import ami_list_visible_to
from amis.versioning import Constraint, version_parse, version_sort_key
from registry.errors import NotFound
from registry.permissions import is_moderator

S = AMI.Status


def lineage_list_visible_to(*, user, template=None) -> QuerySet[Lineage]:
    """Lineages with a version ``user`` may see, or owned by ``user`` (moderators: all)."""
    qs = Lineage.objects.select_related("owner", "template")
    if template is not None:
        qs = qs.filter(template=template)
    if is_moderator(user):
        return qs
    owned = Q(owner=user) if user is not None and user.is_authenticated else Q(pk__in=[])
    return qs.filter(owned | Q(pk__in=ami_list_visible_to(user=user).filter(lineage__isnull=False)
                                .values("lineage_id"))).distinct()


def lineage_get_visible_or_404(*, user, ref: str) -> Lineage:
    """The lineage with uuid ``ref`` if ``user`` may see it; ``NotFound`` otherwise."""
    try:
        pk = uuid.UUID(str(ref))
    except ValueError:
        raise NotFound("lineage not found") from None
    lineage = lineage_list_visible_to(user=user).filter(pk=pk).first()
    if lineage is None:
        raise NotFound("lineage not found")
    return lineage


def lineage_versions(*, lineage: Lineage, user) -> list[AMI]:
    """The versions of ``lineage`` ``user`` may see, newest (SemVer) first, with their regions,
    approver and the channels pointing at each (``channel_names``) loaded."""
    versions = list(ami_list_visible_to(user=user).filter(lineage=lineage)
                    .select_related("approved_by", "template", "creator", "replacement", "lineage")
                    .prefetch_related(Prefetch("regions", queryset=AMIRegion.objects.order_by("region")),
                                      Prefetch("channels", queryset=Channel.objects.order_by("-managed", "name"))))
    for version in versions:
        version.channel_names = [c.name for c in version.channels.all()]
    return sorted(versions, key=lambda v: version_sort_key(v.version), reverse=True)


def lineage_channels(*, lineage: Lineage, visible_ids: set) -> list[dict]:
    """Every channel of ``lineage``: ``{name, managed, version, ami_id, registry_id, moved_at}``;
    a version the caller may not see (in ``visible_ids``) is shown as hidden, not named."""
    rows = []
    for channel in Channel.objects.filter(lineage=lineage).select_related("ami").order_by("-managed", "name"):
        shown = channel.ami if channel.ami_id in visible_ids else None
        rows.append({"name": channel.name, "managed": channel.managed,
                     "version": shown.version if shown else None, "ami_id": shown.ami_id if shown else None,
                     "registry_id": str(shown.pk) if shown else None,
                     "empty": channel.ami_id is None, "moved_at": channel.moved_at})
    return rows


def lineage_history(*, lineage: Lineage, limit: int = 100) -> list[ChannelMove]:
    """The newest ``limit`` channel moves of ``lineage`` (the audit trail has every one too)."""
    return list(ChannelMove.objects.filter(channel__lineage=lineage).select_related("channel", "actor")
                .order_by("-at", "-id")[:limit])


def lineage_detail(*, lineage: Lineage, user) -> dict:
    """What the lineage endpoint and page show: the lineage, its versions, channels and history."""
    versions = lineage_versions(lineage=lineage, user=user)
    return {"lineage": lineage, "versions": versions,
            "channels": lineage_channels(lineage=lineage, visible_ids={v.pk for v in versions}),
            "history": lineage_history(lineage=lineage)}


def ami_version_facts(*, ami: AMI, user) -> dict | None:
    """For an AMI's page and detail: its lineage, the channels pointing at it and, for an old
    version, the newest approved version that supersedes it. None outside a lineage."""
    if ami.lineage_id is None:
        return None
    lineage = ami.lineage
    channels = list(Channel.objects.filter(ami=ami).order_by("-managed", "name").values_list("name", flat=True))
    newer = None
    bound = version_sort_key(ami.version)
    for candidate in ami_list_visible_to(user=user).filter(lineage_id=ami.lineage_id, status=S.APPROVED) \
            .exclude(pk=ami.pk).only("pk", "ami_id", "version"):
        if version_sort_key(candidate.version) > bound and (
                newer is None or version_sort_key(candidate.version) > version_sort_key(newer.version)):
            newer = candidate
    return {"lineage": {"id": str(lineage.pk), "name": lineage.name,
                        "owner": lineage.owner.get_username() if lineage.owner_id else None},
            "channels": channels,
            "newer_version": ({"version": newer.version, "ami_id": newer.ami_id, "registry_id": str(newer.pk)}
                              if newer else None)}


def channel_answer_ids(*, template, channel: str | None, constraint: Constraint | None) -> set:
    """Registry ids of the versions that answer ``channel`` and/or ``constraint`` for ``template``:
    per lineage of the template, the version its channel points at (when it matches the
    constraint, if one is given) or, with a constraint alone, the newest approved version that
    matches. Visibility and availability are left to the caller (the resolver's registry tier)."""
    lineages = Lineage.objects.filter(template=template)
    if channel:
        pointed = (Channel.objects.filter(lineage__in=lineages, name=channel, ami__isnull=False,
                                          ami__status=S.APPROVED)
                   .values_list("ami_id", "ami__version"))
        return {pk for pk, version in pointed if constraint is None or constraint.matches(version)}
    if constraint is None:
        return set()
    best: dict = {}
    for pk, lineage_id, version in AMI.objects.filter(lineage__in=lineages, status=S.APPROVED) \
            .values_list("pk", "lineage_id", "version"):
        parsed = version_parse(version)
        if parsed is None or not constraint.matches(parsed):
            continue
        if lineage_id not in best or parsed > best[lineage_id][1]:
            best[lineage_id] = (pk, parsed)
    return {pk for pk, _parsed in best.values()}


def channel_moves_away(*, ami: AMI, cause: str) -> list[dict]:
    """The moves away from ``ami`` caused by its deprecation or revocation (a status reached
    once), for the answer of that request: ``[{channel, from_version, to_version, to_ami}]``."""
    return [{"channel": m.channel.name, "from_version": m.from_version, "to_version": m.to_version or None,
             "to_ami": m.to_ami.ami_id if m.to_ami_id else None}
            for m in ChannelMove.objects.filter(from_ami=ami, cause=cause).select_related("channel", "to_ami")
            .order_by("id")]


def lineage_channel_names(*, template) -> list[str]:
    """Every channel name any lineage of ``template`` has (what may be published for it)."""
    return sorted(set(Channel.objects.filter(lineage__template=template).values_list("name", flat=True)))


def lineage_template_id(*, lineage_id):
    """The template of a lineage (None when it has none or is gone)."""
    return Lineage.objects.filter(pk=lineage_id).values_list("template_id", flat=True).first()


def ami_channel_template_id(*, ami_id):
    """The template of ``ami`` when a channel points at it (its copies matter to published answers)."""
    return (Channel.objects.filter(ami_id=ami_id, ami__template__isnull=False)
            .values_list("ami__template_id", flat=True).first())
