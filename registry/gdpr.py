"""GDPR: export everything held about a user, and erase an account.

Export (``GET /api/v1/me/export``) — one JSON document: profile, memberships, publisher keys and
signatures, AMIs created, ratings (also hidden ones), downloads, shares made and received,
operations, scan exceptions recorded, and audit events by or about the user. Audited
``user.export``.

Erasure (``DELETE /api/v1/me``, or a moderator's ``DELETE /api/v1/users/{username}``):

* reviews: ``anonymise`` (kept, shown as "deleted user") or ``delete`` (removed; the AMI's
  rating aggregates are recomputed under the AMI row lock, so they stay exact);
* downloads: de-linked (``user`` = NULL) — counts unchanged;
* AMIs: transferred to a moderator-chosen owner (``transfer_to``, or the
  ``REGISTRY_ERASURE_TRANSFER_TO`` setting) or else revoked (drafts are deleted);
* publisher keys deleted (signatures that relied on them stop counting as verified), API token,
  memberships and user-to-user grants received go with the account;
* audit events stay (legal record) but are pseudonymised: the actor's and target's name become
  ``deleted-user-<id>``;
* one ``user.erase`` audit event records what was done.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from registry.audit import audit_record
from registry.errors import Forbidden, InvalidInput
from registry.models import AuditEvent, CommunityMembership, PublisherKey
from registry.permissions import is_moderator
from registry.retention import audit_changes_allowed

REVIEW_CHOICES = ("anonymise", "delete")


def _rows(qs, fields):
    return [dict(zip(fields, row)) for row in qs.values_list(*fields)]


def user_export(*, user) -> dict:
    """Every personal datum the registry holds about ``user``, as JSON-ready data. Audited."""
    from amis.models import AMI, AMISignature, Download, Operation, ScanException
    from ratings.models import Rating
    from sharing.models import Share

    pk = user.pk
    data = {
        "format": "community-ami-registry/export/v1",
        "exported_at": timezone.now(),
        "profile": {"id": pk, "username": user.username, "email": user.email, "first_name": user.first_name,
                    "last_name": user.last_name, "date_joined": user.date_joined, "last_login": user.last_login,
                    "is_moderator": is_moderator(user)},
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
                       "architecture", "tags", "created_at", "updated_at"]),
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


@transaction.atomic
def user_erase(*, user, actor, reviews: str = "anonymise", transfer_to=None) -> dict:
    """Erase ``user``'s account (see the module docstring). ``actor`` is the user themself or a
    moderator; only a moderator may pass ``transfer_to`` (a user or username). Returns a summary
    (also the ``after`` of the ``user.erase`` event). Raises InvalidInput / Forbidden."""
    from amis.models import AMI, AMISignature, Download
    from amis.signatures import Outcome, _record
    from ratings.models import Rating
    from ratings.services import ami_rating_aggregates_refresh

    if reviews not in REVIEW_CHOICES:
        raise InvalidInput("reviews must be 'anonymise' or 'delete'", errors={"reviews": [
            "Must be 'anonymise' or 'delete'."]})
    by_moderator = is_moderator(actor) and getattr(actor, "pk", None) != user.pk
    if not by_moderator and getattr(actor, "pk", None) != user.pk:
        raise Forbidden("only the user or a moderator may erase an account")
    if transfer_to is not None and not by_moderator:
        raise Forbidden("only a moderator may choose who receives the AMIs")
    User = get_user_model()
    if transfer_to is None and getattr(settings, "REGISTRY_ERASURE_TRANSFER_TO", ""):
        transfer_to = settings.REGISTRY_ERASURE_TRANSFER_TO
    if isinstance(transfer_to, str):
        target = User.objects.filter(username=transfer_to, is_active=True).first()
        if target is None:
            raise InvalidInput(f"unknown user '{transfer_to}' to transfer AMIs to",
                               errors={"transfer_to": ["No such active user."]})
        transfer_to = target
    if transfer_to is not None and transfer_to.pk == user.pk:
        raise InvalidInput("cannot transfer AMIs to the account being erased",
                           errors={"transfer_to": ["Must be another user."]})
    user = User.objects.select_for_update().get(pk=user.pk)
    pk, pseudonym, now = user.pk, f"deleted-user-{user.pk}", timezone.now()
    summary: dict = {"user_id": pk, "reviews": reviews, "requested_by": "moderator" if by_moderator else "self"}

    # Ratings: lock every affected AMI row first (id order: no deadlocks with rating writers).
    rated = sorted(set(Rating.objects.filter(user=user).values_list("ami_id", flat=True)), key=str)
    list(AMI.objects.select_for_update().filter(pk__in=rated).order_by("pk").values_list("pk", flat=True))
    if reviews == "delete":
        summary["ratings_deleted"] = Rating.objects.filter(user=user).delete()[0]
        for ami_id in rated:
            ami_rating_aggregates_refresh(ami_id=ami_id)
    else:
        summary["ratings_anonymised"] = Rating.objects.filter(user=user).update(user=None, updated_at=now)

    summary["downloads_delinked"] = Download.objects.filter(user=user).update(user=None)

    # AMIs: transfer, else revoke (drafts, never public, are deleted).
    mine = AMI.objects.select_for_update().filter(creator=user).order_by("pk")
    if transfer_to is not None:
        summary["amis_transferred"] = [a.ami_id for a in mine]
        summary["transferred_to"] = transfer_to.username
        mine.update(creator=transfer_to, updated_at=now)
    else:
        drafts = mine.filter(status=AMI.Status.DRAFT)
        summary["amis_deleted"] = list(drafts.values_list("ami_id", flat=True))
        drafts.delete()
        live = AMI.objects.select_for_update().filter(creator=user).exclude(status=AMI.Status.REVOKED)
        summary["amis_revoked"] = list(live.values_list("ami_id", flat=True))
        live.update(status=AMI.Status.REVOKED, status_reason="owner account erased", revoked_at=now, updated_at=now)
        _withdraw(summary["amis_revoked"])

    # Keys: signatures relying on them no longer vouch for anything.
    keys = list(PublisherKey.objects.filter(user=user))
    for key in keys:
        for ami_id in AMISignature.objects.filter(key=key, valid=True).values_list("ami_id", flat=True).distinct():
            ami = AMI.objects.select_for_update().get(pk=ami_id)
            latest = ami.signatures.first()
            if latest and latest.key_id == key.pk and latest.valid:
                _record(ami=ami, signer=None, signature=latest.signature, key=None, manifest=latest.manifest,
                        outcome=Outcome(False, "no_keys", "The signer's account and keys were erased."))
    summary["keys_deleted"] = PublisherKey.objects.filter(user=user).delete()[0]

    # The legal record stays, pseudonymised (actor FK is nulled by the delete below).
    with audit_changes_allowed():
        AuditEvent.objects.filter(actor=user).update(actor_username=pseudonym)
        AuditEvent.objects.filter(target_type="auth.user", target_id=str(pk)).update(target_repr=pseudonym)
    user.delete()
    audit_record(actor=actor if by_moderator else None, action="user.erase", target_type="auth.user",
                 target_id=str(pk), target_repr=pseudonym, after=summary)
    return summary


def _withdraw(ami_ids: list[str]) -> None:
    """Queue the AWS side of revoking (withdraw launch permissions, deprecate copies) through the
    AWS lifecycle's revoke hook, which runs its task after commit: erasure never waits on AWS."""
    if not ami_ids:
        return
    try:
        from amis import aws_lifecycle
    except ImportError:  # pragma: no cover - catalogue without AWS lifecycle
        return
    enqueue = getattr(aws_lifecycle, "ami_aws_revoke_enqueue", None)
    if enqueue is None:
        return
    from amis.models import AMI

    for ami in AMI.objects.filter(ami_id__in=ami_ids):
        enqueue(ami=ami, actor=None)
