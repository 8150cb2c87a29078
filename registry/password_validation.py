"""Password validators of our own (AUTH_PASSWORD_VALIDATORS in settings)."""
from __future__ import annotations

from django.core.exceptions import ValidationError


class NotBlankPasswordValidator:
    """Refuse passwords made only of whitespace: ten spaces pass every length/common/numeric check."""

    def validate(self, password, user=None):
        if not (password or "").strip():
            raise ValidationError("The password cannot be blank or only whitespace.", code="password_blank")

    def get_help_text(self):
        return "Your password cannot be only spaces."
