"""Lineages, versions and channels: the use-cases that change them.

A **lineage** is one publisher's line of images for a template; its **versions** are AMI entries
(``AMI.lineage`` + ``AMI.version``, strict SemVer, unique in the lineage, frozen once approved).
Its **channels** point at approved versions: ``latest`` is managed (always the newest approved
version, whatever the ratings), the others (``stable``, ``testing``, ...) are moved by the
lineage's owner or a moderator (``channel_move``). Every move is one ``ChannelMove`` row and one
``channel.move`` audit event; every approval of a version one ``version.publish`` event.

A channel never points at a version that is not approved: when a version is deprecated or
revoked, every channel pointing at it moves (``lineage_version_retired``) — to the version's
replacement when that is an approved version of the same lineage, else back to the newest
approved version older than it, else nowhere (the channel is empty) — and the move says why.

Locking: the lineage row is the lock of all its channels, so concurrent moves, approvals and
revocations of one lineage serialise. Everyone locks in one order — the AMI row first, the
lineage second — and both with ``FOR NO KEY UPDATE``, which lets the foreign-key checks of the
channel and history rows (``FOR KEY SHARE`` on the AMIs they name) through: a cascade moving a
channel onto version B never waits for a transaction that holds B and waits for the lineage.
A move reads the version's status under its lock, so it can never land on a version whose
revocation committed first, and a revocation's cascade sees every move committed before it.

Called by ``amis.services`` (register, approve, deprecate, revoke, edit), ``amis.aws_create``
(create from an instance), the lineage API and pages, and the CLI through the API.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from amis.models import AMI, Channel, ChannelMove, Lineage
from amis.signals import ami_changed_notify, channel_moved_notify
from amis.versioning import (LATEST, channel_name_problem, lineage_name_problem, version_parse,
                             version_sort_key)
from registry.audit import audit_record
from registry.errors import Conflict, Forbidden, InvalidInput
from registry.permissions import is_moderator

S = AMI.Status
Cause = ChannelMove.Cause


@dataclass(frozen=True)
class LineageRequest:
    """A checked ``lineage`` + ``version`` of a registration or creation (not yet stored)."""

    name: str
    version: str


def _version_exists(*, owner, name: str, version: str, exclude_pk=None) -> bool:
    qs = AMI.objects.filter(lineage__owner=owner, lineage__name=name, version=version)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def version_check(version, *, field: str = "version") -> str:
    """``version`` stripped, or 400 naming ``field`` when it is not SemVer (``1.4.0``, ``2.0.0-rc.1``)."""
    text = version.strip() if isinstance(version, str) else ""
    if version_parse(text) is None:
        raise InvalidInput(f"{field}: '{version}' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)",
                           errors={field: ["A version of a lineage is MAJOR.MINOR.PATCH with an optional "
                                           "-prerelease (e.g. 1.4.0, 2.0.0-rc.1)."]})
    return text


def lineage_request_clean(*, user, lineage, version, template, lineage_field: str = "lineage") -> LineageRequest | None:
    """Check the ``lineage`` and ``version`` a registration names (None when it names no lineage).

    400 naming the field: a bad lineage name, a version that is not SemVer, a lineage of the
    caller's built for another template than this entry's. 409 ``version_exists`` (naming
    ``version``) when the caller's lineage already has that version. Makes no change.
    """
    if lineage in (None, ""):
        return None
    problem = lineage_name_problem(lineage)
    if problem:
        raise InvalidInput(f"{lineage_field}: {problem}", errors={lineage_field: [problem]})
    version = version_check(version)
    existing = Lineage.objects.filter(owner=user, name=lineage).select_related("template").first()
    if existing is not None and existing.template_id and template is not None \
            and existing.template_id != template.pk:
        message = f"Your lineage '{lineage}' is built for template '{existing.template.slug}', not '{template.slug}'."
        raise InvalidInput(f"{lineage_field}: {message}", errors={lineage_field: [message]})
    if _version_exists(owner=user, name=lineage, version=version):
        raise Conflict(f"version {version} of lineage '{lineage}' already exists", code="version_exists",
                       errors={"version": [f"Lineage '{lineage}' already has version {version}."]})
    return LineageRequest(name=lineage, version=version)


def lineage_attach_locked(*, ami: AMI, request: LineageRequest, user) -> Lineage:
    """Make ``ami`` version ``request.version`` of the caller's lineage ``request.name`` (created
    with its ``latest`` channel on first use). Inside the registration's transaction; the unique
    constraint on (lineage, version) is the truth against a concurrent registration."""
    lineage, created = Lineage.objects.get_or_create(owner=user, name=request.name,
                                                     defaults={"template": ami.template})
    if created:
        Channel.objects.create(lineage=lineage, name=LATEST, managed=True)
        audit_record(actor=user, action="lineage.create", target=lineage,
                     after={"lineage_key": lineage.key, "name": lineage.name,
                            "template": ami.template.slug if ami.template_id else None})
    elif lineage.template_id is None and ami.template_id:
        lineage.template = ami.template
        lineage.save(update_fields=["template", "updated_at"])
    ami.lineage, ami.version = lineage, request.version
    ami.save(update_fields=["lineage", "version", "updated_at"])
    audit_record(actor=user, action="version.create", target=ami,
                 after={"lineage_key": lineage.key, "lineage": lineage.name, "version": ami.version,
                        "ami": str(ami.pk)})
    return lineage


def version_update_check(*, ami: AMI, version: str) -> str:
    """The cleaned new ``version`` of an entry being edited (``amis.services.ami_update``).

    An entry outside a lineage keeps free-text versions. A version of a lineage is SemVer, unique
    in it, and frozen once approved (409 ``version_frozen``): consumers pinned ``1.4.0`` and must
    keep getting the same image.
    """
    if ami.lineage_id is None:
        return version
    if ami.status in (S.APPROVED, S.DEPRECATED, S.REVOKED) and version != ami.version:
        raise Conflict(f"version {ami.version} was approved: versions are immutable once approved",
                       code="version_frozen", errors={"version": ["Immutable once approved: register a new version."]})
    version = version_check(version)
    if AMI.objects.filter(lineage_id=ami.lineage_id, version=version).exclude(pk=ami.pk).exists():
        raise Conflict(f"version {version} already exists in this lineage", code="version_exists",
                       errors={"version": [f"The lineage already has version {version}."]})
    return version


# --- channels ---------------------------------------------------------------------------------------

def _lock_lineage(lineage_id) -> Lineage:
    return Lineage.objects.select_for_update(no_key=True).get(pk=lineage_id)


def _newest_approved(lineage: Lineage, *, older_than: AMI | None = None, exclude_pk=None) -> AMI | None:
    """The lineage's newest approved version (SemVer order), optionally older than ``older_than``."""
    versions = list(AMI.objects.filter(lineage=lineage, status=S.APPROVED).exclude(pk=exclude_pk))
    if older_than is not None:
        bound = version_sort_key(older_than.version)
        versions = [v for v in versions if version_sort_key(v.version) < bound]
    return max(versions, key=lambda v: version_sort_key(v.version), default=None)


def _move(channel: Channel, *, to: AMI | None, cause: str, actor, reason: str = "") -> dict | None:
    """Point ``channel`` at ``to`` (None: empty it): one history row, one audit event. Returns
    what moved, or None when the channel already pointed there (nothing written)."""
    if channel.ami_id == (to.pk if to is not None else None):
        return None
    previous = channel.ami
    channel.ami = to
    channel.moved_at = timezone.now()
    channel.save(update_fields=["ami", "moved_at"])
    move = ChannelMove.objects.create(channel=channel, from_ami=previous, to_ami=to,
                                      from_version=previous.version if previous else "",
                                      to_version=to.version if to else "", cause=cause,
                                      actor=actor if getattr(actor, "is_authenticated", False) else None,
                                      reason=reason)
    lineage = channel.lineage
    summary = {"lineage_key": lineage.key, "lineage": lineage.name, "channel": channel.name,
               "from_version": move.from_version or None, "to_version": move.to_version or None,
               "from_ami": previous.ami_id if previous else None, "to_ami": to.ami_id if to else None,
               "cause": cause, "move": move.pk}
    # The notification is about the version the channel now points at (or left, when emptied).
    subject = to or previous
    audit_record(actor=actor, action="channel.move", target=channel, reason=reason,
                 before={"version": move.from_version or None},
                 after={**summary, "ami": str(subject.pk) if subject else None})
    for entry in (previous, to):
        if entry is not None:
            ami_changed_notify(ami_id=entry.pk)
    channel_moved_notify(lineage_id=lineage.pk, channel=channel.name)
    return summary


def _latest_refresh(lineage: Lineage, *, actor, cause: str, reason: str = "") -> dict | None:
    channel, _ = Channel.objects.get_or_create(lineage=lineage, name=LATEST, defaults={"managed": True})
    channel.lineage = lineage
    return _move(channel, to=_newest_approved(lineage), cause=cause, actor=actor, reason=reason)


@transaction.atomic
def channel_move(*, ami: AMI, channel: str, user, reason: str = "") -> dict:
    """Point ``channel`` of ``ami``'s lineage at ``ami`` (``POST /amis/{ami}/channel``).

    400 naming ``channel`` for a bad name or ``latest`` (managed); 409 ``not_in_lineage`` for an
    entry that is no version of a lineage, 409 ``invalid_transition`` unless the entry is
    approved; 403 for anyone but the lineage's owner or a moderator. The channel is created on
    its first move. Idempotent: pointing a channel where it points changes nothing (``moved``
    false). Returns ``{channel, lineage, moved, move}``.
    """
    problem = channel_name_problem(channel)
    if problem:
        raise InvalidInput(f"channel: {problem}", errors={"channel": [problem]})
    if channel == LATEST:
        raise InvalidInput("channel: 'latest' is managed by the registry (the newest approved version)",
                           errors={"channel": ["'latest' always points at the newest approved version; "
                                               "it cannot be moved by hand."]})
    if ami.lineage_id is None:
        raise Conflict("this AMI is not a version of a lineage (register it with a lineage and a version)",
                       code="not_in_lineage")
    # The AMI first, then the lineage: the lifecycle services' order (module docstring).
    current = AMI.objects.select_for_update(no_key=True).get(pk=ami.pk)
    lineage = _lock_lineage(current.lineage_id)
    if not (is_moderator(user) or (user is not None and user.is_authenticated and lineage.owner_id == user.pk)):
        raise Forbidden("only the lineage's owner or a moderator may move its channels")
    if current.status != S.APPROVED:
        raise Conflict(f"a channel can only point at an approved version (this one is '{current.status}')",
                       code="invalid_transition", extra={"current_status": current.status})
    row, _ = Channel.objects.get_or_create(lineage=lineage, name=channel)
    row.lineage = lineage
    moved = _move(row, to=current, cause=Cause.MOVED, actor=user, reason=reason)
    return {"channel": channel, "lineage": lineage, "moved": moved is not None, "move": moved}


def lineage_version_published(*, ami: AMI, actor) -> dict | None:
    """A version was approved (inside ``ami_approve``'s transaction, the AMI row locked): one
    ``version.publish`` event, and ``latest`` moves when it is now the newest. Returns the move."""
    if ami.lineage_id is None:
        return None
    lineage = _lock_lineage(ami.lineage_id)
    audit_record(actor=actor, action="version.publish", target=ami,
                 after={"lineage_key": lineage.key, "lineage": lineage.name, "version": ami.version,
                        "ami": str(ami.pk), "ami_id": ami.ami_id})
    return _latest_refresh(lineage, actor=actor, cause=Cause.PUBLISHED)


def lineage_next_version(*, ami: AMI) -> AMI | None:
    """The approved version that supersedes ``ami``: the oldest approved version newer than it."""
    if ami.lineage_id is None:
        return None
    bound = version_sort_key(ami.version)
    newer = [v for v in AMI.objects.filter(lineage_id=ami.lineage_id, status=S.APPROVED).exclude(pk=ami.pk)
             if version_sort_key(v.version) > bound]
    return min(newer, key=lambda v: version_sort_key(v.version), default=None)


def lineage_version_retired(*, ami: AMI, actor, cause: str, reason: str = "") -> list[dict]:
    """``ami`` was deprecated or revoked (its status already saved, inside that transaction):
    every channel pointing at it moves away, and ``latest`` is refreshed. Returns the moves."""
    if ami.lineage_id is None:
        return []
    lineage = _lock_lineage(ami.lineage_id)
    replacement = ami.replacement if ami.replacement_id else None
    usable_replacement = (replacement if replacement is not None and replacement.lineage_id == lineage.pk
                          and AMI.objects.filter(pk=replacement.pk, status=S.APPROVED).exists() else None)
    target = usable_replacement or _newest_approved(lineage, older_than=ami, exclude_pk=ami.pk)
    moves = []
    for channel in Channel.objects.filter(lineage=lineage, ami=ami, managed=False).select_related("ami"):
        channel.lineage = lineage
        moved = _move(channel, to=target, cause=cause, actor=actor, reason=reason)
        if moved:
            moves.append(moved)
    latest = _latest_refresh(lineage, actor=actor, cause=cause, reason=reason)
    if latest:
        moves.append(latest)
    return moves


def lineage_release_from_owner(*, user, actor, transfer_to=None) -> list[str]:
    """What becomes of ``user``'s lineages when their account is erased (``registry.composers.gdpr``,
    inside the erasure's transaction, after their AMIs were released). With ``transfer_to`` the
    lineages change owner (audited ``lineage.transfer``) so the new owner can keep moving their
    channels; without, they stay ownerless (moderators may still move channels). A name the new
    owner already uses gets the old owner's id appended. Returns the lineage ids transferred."""
    if transfer_to is None:
        return []
    moved = []
    for lineage in Lineage.objects.select_for_update(no_key=True).filter(owner=user).order_by("pk"):
        name = lineage.name
        if Lineage.objects.filter(owner=transfer_to, name=name).exists():
            name = f"{name}-{user.pk}"[:100]
        lineage.owner, lineage.name = transfer_to, name
        lineage.save(update_fields=["owner", "name", "updated_at"])
        audit_record(actor=actor, action="lineage.transfer", target=lineage, before={"owner_id": user.pk},
                     after={"lineage_key": lineage.key, "owner_id": transfer_to.pk, "name": name},
                     reason="owner account erased")
        moved.append(lineage.key)
    return moved
