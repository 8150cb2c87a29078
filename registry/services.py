"""Site-wide use-cases: accounts and communities."""
from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from registry.audit import audit_record
from registry.errors import Conflict, InvalidInput
from registry.text import text_has_invisible
from registry.usernames import username_confusable_with, username_is_mixed_script


@transaction.atomic
def user_register(*, username: str, email: str, password: str) -> tuple[AbstractBaseUser, Token]:
    """Create an account and its API token. Raises InvalidInput (weak password, bad email) or
    Conflict (username taken)."""
    User = get_user_model()
    username = (username or "").strip()
    email = (email or "").strip()
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"username '{username}' is already taken", code="username_taken",
                       errors={"username": ["A user with that username already exists."]})
    _username_lookalikes_refuse(username)
    user = User(username=username, email=email)
    try:
        user.full_clean(exclude=["password"])
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"password": exc.messages}
        raise InvalidInput("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), errors=errors) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict(f"username '{username}' is already taken", code="username_taken",
                       errors={"username": ["A user with that username already exists."]}) from exc
    token = Token.objects.create(user=user)
    audit_record(actor=user, action="user.register", target=user, after={"username": username})
    return user, token


def _username_lookalikes_refuse(username: str) -> None:
    """Refuse mixed-script names and look-alikes of existing ones (registry/usernames.py)."""
    if text_has_invisible(username):
        raise InvalidInput("usernames cannot contain invisible or direction-changing characters",
                           code="username_invalid", errors={"username": ["Invisible characters are not allowed."]})
    if username_is_mixed_script(username):
        raise InvalidInput("usernames cannot mix scripts (e.g. Latin with Cyrillic look-alikes)",
                           code="username_mixed_script",
                           errors={"username": ["Use letters from one script only (no look-alike letters)."]})
    # NOTE: a scan over the usernames (registration only): skeletons are not stored, so they stay
    # correct when the prototype table grows. Fine for a registry's thousands of accounts.
    names = get_user_model().objects.values_list("username", flat=True)
    twin = username_confusable_with(username, names)
    if twin is not None:
        raise Conflict(f"username '{username}' looks too much like an existing one", code="username_confusable",
                       errors={"username": ["This username looks too much like an existing one."]})


def user_token_get_or_create(*, user: AbstractBaseUser) -> Token:
    token, _ = Token.objects.get_or_create(user=user)
    return token


@transaction.atomic
def user_token_regenerate(*, user: AbstractBaseUser) -> Token:
    """Replace the user's API token (the old one stops working at once)."""
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    audit_record(actor=user, action="user.token_regenerate", target=user)
    return token
