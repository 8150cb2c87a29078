"""Output shapes of the sharing API (API.md, *Sharing*). Input serializers live on the views."""
from rest_framework import serializers

from sharing.models import Share


class ShareOutputSerializer(serializers.ModelSerializer):
    """A grant as its owner sees it; ``sync_error``/``synced_regions`` tell how the AWS side went."""

    class Meta:
        model = Share
        fields = ["id", "grantee_type", "grantee", "permission", "sync_state", "sync_error", "synced_regions",
                  "created_at", "synced_at"]
        read_only_fields = fields
