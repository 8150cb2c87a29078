"""Output shapes of the ratings API (API.md, *Ratings*). Input serializers live on the views."""
from rest_framework import serializers

from ratings.models import Rating

DELETED_USER = "deleted user"


class RatingOutputSerializer(serializers.ModelSerializer):
    """A review as the public sees it. ``review`` is raw text: JSON needs no HTML escaping, and
    HTML pages escape it when they render it (Django templates autoescape)."""

    user = serializers.SerializerMethodField()
    # Annotated by ratings.selectors (an EXISTS subquery), never computed per row here.
    verified_launch = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = Rating
        fields = ["id", "user", "rating", "review", "verified_launch", "helpful_count", "created_at", "updated_at"]

    def get_user(self, obj) -> str:
        return obj.user.username if obj.user_id else DELETED_USER


class HelpfulOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    helpful_count = serializers.IntegerField(help_text="How many people found the review helpful.")
    counted = serializers.BooleanField(help_text="False when the caller had already marked it (nothing changed).")


class RatingReportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rating = serializers.IntegerField(source="rating_id")
    reason = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class RatingModerationOutputSerializer(RatingOutputSerializer):
    """What a moderator gets back after hiding a review."""

    hidden_by = serializers.SerializerMethodField()

    class Meta(RatingOutputSerializer.Meta):
        fields = RatingOutputSerializer.Meta.fields + ["is_hidden", "hidden_reason", "hidden_by", "hidden_at"]

    def get_hidden_by(self, obj) -> str | None:
        return obj.hidden_by.username if obj.hidden_by_id else None
