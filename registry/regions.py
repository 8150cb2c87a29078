"""Which AWS region a request means: one rule for every endpoint that needs one.

``?region=`` (or the body's ``region``) → the ``X-AWS-Region`` header (what the real cws client
sends, from ``aws.region`` of its config.json) → the signed-in user's default region (their
profile, ``PATCH /api/v1/me``) → ``AWS_DEFAULT_REGION``. A missing region is never an error; a
region that is named but unknown is a 400 that says where it came from.
"""
from __future__ import annotations

from django.conf import settings
from django.db import transaction

from registry import aws
from registry.audit import audit_record
from registry.errors import InvalidInput
from registry.models import UserProfile

REGION_HEADER = "X-AWS-Region"


def user_default_region(user) -> str:
    """The user's default region, "" when none is set (or the caller is anonymous)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return UserProfile.objects.filter(user=user).values_list("default_region", flat=True).first() or ""


def region_for(*, explicit: str | None = None, header: str | None = None, user=None, field: str = "region") -> str:
    """The region by the precedence above; InvalidInput (400) when the chosen value is unknown."""
    for value, source in ((explicit, field), (header, REGION_HEADER)):
        value = (value or "").strip()
        if value:
            if not aws.is_known_region(value):
                raise InvalidInput(f"unknown AWS region '{value}' (from {source})",
                                   errors={field: [f"Unknown region '{value}'."]})
            return value
    return user_default_region(user) or settings.AWS_DEFAULT_REGION


def request_region(request, explicit: str | None = None, *, field: str = "region") -> str:
    """``region_for`` with the header and user of a DRF/Django request."""
    return region_for(explicit=explicit, header=request.headers.get(REGION_HEADER),
                      user=getattr(request, "user", None), field=field)


def user_default_region_set(*, user, region: str) -> UserProfile:
    """Set (or clear, with "") the user's default region; audited."""
    region = (region or "").strip()
    if region and not aws.is_known_region(region):
        raise InvalidInput(f"unknown AWS region '{region}'", errors={"default_region": ["Unknown region."]})
    with transaction.atomic():
        profile, _ = UserProfile.objects.select_for_update().get_or_create(user=user)
        before = profile.default_region
        if before != region:
            profile.default_region = region
            profile.save(update_fields=["default_region", "updated_at"])
            audit_record(actor=user, action="user.default_region_set", target=user,
                         before={"default_region": before}, after={"default_region": region})
    return profile
