"""GDPR: export everything held about a user, and erase an account — across every app.

Export (``GET /api/v1/me/export``) — one JSON document: profile, memberships, publisher keys and
signatures, AMIs created, lineages owned and channel moves made, ratings (also hidden ones),
downloads, shares made and received, operations, scan exceptions recorded, notification
subscriptions and webhooks (secrets left out), and audit events by or about the user. Audited
``user.export``.

Erasure (``DELETE /api/v1/me``, or a moderator's ``DELETE /api/v1/users/{username}``), one
transaction, each part through its app's own service:

* reviews: ``anonymise`` (kept, shown as "deleted user") or ``delete`` (removed; the AMI's rating
  aggregates are recomputed under the AMI row lock) — ``ratings.services.rating_user_erase``;
* downloads: de-linked (``user`` = NULL), counts unchanged — ``amis.services.downloads_delink_user``;
* AMIs: transferred to a moderator-chosen owner (``transfer_to``, or the
  ``REGISTRY_ERASURE_TRANSFER_TO`` setting), or else revoked (launch permissions withdrawn in AWS)
  — drafts, never published, are deleted — ``amis.services.ami_release_from_owner``, audited per AMI;
  their lineages go to the same new owner (``amis.lineages.lineage_release_from_owner``), or stay
  ownerless;
* publisher keys deleted; signatures that relied on them stop counting as verified —
  ``amis.signatures.publisher_keys_erase``;
* the API token, memberships and user-to-user grants received go with the account;
* audit events stay (legal record) but are pseudonymised: the actor's and target's name become
  ``deleted-user-<id>`` — ``registry.audit.audit_pseudonymise``;
* one ``user.erase`` audit event records what was done.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from amis.models import AMI, AMISignature, ChannelMove, Download, Lineage, Operation, ScanException
from amis.downloads import downloads_delink_user
from amis.lineages import lineage_release_from_owner
from amis.services import ami_release_from_owner
from amis.signatures import publisher_keys_erase
from ratings.models import Rating
from ratings.services import rating_erase_choice_check, rating_user_erase
from notifications.models import Subscription, Webhook
from registry.audit import audit_pseudonymise, audit_record
from registry.errors import Forbidden, InvalidInput
from registry.models import AuditEvent, CommunityMembership, PublisherKey
from registry.permissions import is_moderator
from registry.regions import user_default_region
from sharing.models import Share


def _rows(qs, fields):
    return [dict(zip(fields, row)) for row in qs.values_list(*fields)]


def user_export(*, user) -> dict:
    """Every personal datum the registry holds about ``user``, as JSON-ready data. Audited."""
    pk = user.pk
    data = {
        "format": "community-ami-registry/export/v1",
        "exported_at": timezone.now(),
        "profile": {"id": pk, "username": user.username, "email": user.email, "first_name": user.first_name,
                    "last_name": user.last_name, "date_joined": user.date_joined, "last_login": user.last_login,
                    "is_moderator": is_moderator(user), "default_region": user_default_region(user)},
        "memberships": [{"community": m.community.slug, "kind": m.community.kind, "role": m.role,
                         "joined_at": m.joined_at}
                        for m in CommunityMembership.objects.filter(user=user).select_related("community")],
        "publisher_keys": _rows(PublisherKey.objects.filter(user=user),
                                ["id", "name", "algorithm", "fingerprint", "public_key", "created_at", "revoked_at",
                                 "revoked_reason"]),
        "signatures": _rows(AMISignature.objects.filter(signer=user),
                            ["id", "ami__ami_id", "key_fingerprint", "valid", "failure_code", "verified_at"]),
        "amis": _rows(AMI.objects.filter(creator=user),
                      ["id", "ami_id", "source_region", "name", "description", "status", "visibility", "category",
                       "architecture", "tags", "lineage_id", "version", "created_at", "updated_at"]),
        "lineages": _rows(Lineage.objects.filter(owner=user),
                          ["id", "name", "template__slug", "description", "created_at"]),
        "channel_moves": _rows(ChannelMove.objects.filter(actor=user),
                               ["id", "channel__lineage_id", "channel__name", "from_version", "to_version", "cause",
                                "reason", "at"]),
        "subscriptions": _rows(Subscription.objects.filter(user=user),
                               ["id", "target_type", "template__slug", "ami__ami_id", "lineage_key", "event_types",
                                "email", "webhook_id", "created_at"]),
        "webhooks": _rows(Webhook.objects.filter(Q(owner_user=user) | Q(created_by=user)),
                          ["id", "name", "url", "owner_community__slug", "is_active", "created_at"]),
        "ratings": _rows(Rating.objects.filter(user=user),
                         ["id", "ami__ami_id", "rating", "review", "is_hidden", "created_at", "updated_at"]),
        "downloads": _rows(Download.objects.filter(user=user), ["id", "ami__ami_id", "region", "client", "at"]),
        "shares_made": _rows(Share.objects.filter(created_by=user),
                             ["id", "ami__ami_id", "grantee_type", "grantee", "permission", "created_at"]),
        "shares_received": _rows(Share.objects.filter(user=user),
                                 ["id", "ami__ami_id", "grantee_type", "permission", "created_at"]),
        "operations": _rows(Operation.objects.filter(created_by=user),
                            ["id", "kind", "state", "region", "image_id", "created_at", "finished_at"]),
        "scan_exceptions_recorded": _rows(ScanException.objects.filter(created_by=user),
                                          ["id", "ami__ami_id", "reason", "expires_at", "created_at"]),
        "audit_events": _rows(
            AuditEvent.objects.filter(Q(actor=user) | Q(target_type="auth.user", target_id=str(pk))).order_by("at"),
            ["id", "at", "action", "actor_username", "target_type", "target_id", "target_repr", "before", "after",
             "reason", "ip_address", "user_agent", "request_id"]),
    }
    with transaction.atomic():
        audit_record(actor=user, action="user.export", target=user,
                     after={k: len(v) for k, v in data.items() if isinstance(v, list)})
    return data


def _transfer_target(transfer_to, *, erased):
    """``transfer_to`` (a user or a username) as an active user other than ``erased``, or None."""
    if transfer_to is None and getattr(settings, "REGISTRY_ERASURE_TRANSFER_TO", ""):
        transfer_to = settings.REGISTRY_ERASURE_TRANSFER_TO
    if isinstance(transfer_to, str):
        target = get_user_model().objects.filter(username=transfer_to, is_active=True).first()
        if target is None:
            raise InvalidInput(f"unknown user '{transfer_to}' to transfer AMIs to",
                               errors={"transfer_to": ["No such active user."]})
        transfer_to = target
    if transfer_to is not None and transfer_to.pk == erased.pk:
        raise InvalidInput("cannot transfer AMIs to the account being erased",
                           errors={"transfer_to": ["Must be another user."]})
    return transfer_to


@transaction.atomic
def user_erase(*, user, actor, reviews: str = "anonymise", transfer_to=None) -> dict:
    """Erase ``user``'s account (see the module docstring). ``actor`` is the user themself or a
    moderator; only a moderator may pass ``transfer_to`` (a user or username). Returns a summary
    (also the ``after`` of the ``user.erase`` event). Raises InvalidInput / Forbidden."""
    rating_erase_choice_check(reviews)
    by_moderator = is_moderator(actor) and getattr(actor, "pk", None) != user.pk
    if not by_moderator and getattr(actor, "pk", None) != user.pk:
        raise Forbidden("only the user or a moderator may erase an account")
    if transfer_to is not None and not by_moderator:
        raise Forbidden("only a moderator may choose who receives the AMIs")
    transfer_to = _transfer_target(transfer_to, erased=user)
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    pk, pseudonym = user.pk, f"deleted-user-{user.pk}"
    summary: dict = {"user_id": pk, "reviews": reviews, "requested_by": "moderator" if by_moderator else "self"}

    summary.update(rating_user_erase(user=user, reviews=reviews))
    summary["downloads_delinked"] = downloads_delink_user(user=user)

    done: dict[str, list[str]] = {"transferred": [], "deleted": [], "revoked": [], "unchanged": []}
    for ami in AMI.objects.filter(creator=user).order_by("pk"):
        done[ami_release_from_owner(ami=ami, actor=actor, transfer_to=transfer_to)].append(ami.ami_id)
    lineages_moved = lineage_release_from_owner(user=user, actor=actor, transfer_to=transfer_to)
    if transfer_to is not None:
        summary["amis_transferred"] = done["transferred"]
        summary["lineages_transferred"] = lineages_moved
        summary["transferred_to"] = transfer_to.username
    else:
        summary["amis_deleted"] = done["deleted"]
        summary["amis_revoked"] = done["revoked"]

    summary["keys_deleted"] = publisher_keys_erase(user=user)

    # The legal record stays, pseudonymised (the actor FK is nulled by the delete below).
    audit_pseudonymise(user_id=pk, pseudonym=pseudonym)
    user.delete()
    audit_record(actor=actor if by_moderator else None, action="user.erase", target_type="auth.user",
                 target_id=str(pk), target_repr=pseudonym, after=summary)
    return summary
