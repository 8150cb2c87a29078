"""REST endpoints of lineages, versions and channels (docs/versions.md; thin: parse → one
service or selector → render).

``POST /amis/{ami}/channel`` points a channel of the AMI's lineage at it;
``GET /lineages/`` lists the lineages visible to the caller (``?template=``);
``GET /lineages/{lineage}`` shows one with its versions, channels and move history.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amis.lineage_selectors import lineage_detail, lineage_get_visible_or_404, lineage_list_visible_to
from amis.lineages import channel_move
from amis.models import AMI, Lineage
from amis.selectors import ami_get_visible_or_404
from amis.serializers import AMI_PARAM, AMIRegionOutputSerializer, StrictCharField
from amis.versioning import CHANNEL_NAME_MAX
from registry.errors import InvalidInput
from templates.selectors import template_get

TAGS = ["lineages"]
LINEAGE_PARAM = OpenApiParameter("lineage", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Lineage id.")


class ChannelOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    managed = serializers.BooleanField(help_text="latest: the newest approved version, moved by the registry.")
    version = serializers.CharField(allow_null=True)
    ami_id = serializers.CharField(allow_null=True)
    registry_id = serializers.CharField(allow_null=True)
    empty = serializers.BooleanField(help_text="Points at no version (e.g. after its only version was revoked).")
    moved_at = serializers.DateTimeField(allow_null=True)


class VersionOutputSerializer(serializers.Serializer):
    version = serializers.CharField()
    registry_id = serializers.UUIDField(source="pk")
    ami_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=AMI.Status.choices)
    architecture = serializers.CharField()
    changes = serializers.CharField(source="description", help_text="What changed (the entry's description).")
    approved_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.CharField(source="approved_by.username", allow_null=True, default=None)
    channels = serializers.ListField(child=serializers.CharField(), source="channel_names")
    regions = AMIRegionOutputSerializer(many=True)
    created_at = serializers.DateTimeField()


class ChannelMoveOutputSerializer(serializers.Serializer):
    channel = serializers.CharField(source="channel.name")
    from_version = serializers.CharField()
    to_version = serializers.CharField()
    cause = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    reason = serializers.CharField()
    at = serializers.DateTimeField()


class LineageOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    owner = serializers.CharField(source="owner.username", allow_null=True, default=None)
    template = serializers.CharField(source="template.slug", allow_null=True, default=None)
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class LineageDetailOutputSerializer(LineageOutputSerializer):
    versions = VersionOutputSerializer(many=True)
    channels = ChannelOutputSerializer(many=True)
    history = ChannelMoveOutputSerializer(many=True)


def lineage_detail_data(*, lineage: Lineage, user) -> dict:
    detail = lineage_detail(lineage=lineage, user=user)
    data = dict(LineageOutputSerializer(lineage).data)
    data["versions"] = VersionOutputSerializer(detail["versions"], many=True).data
    data["channels"] = ChannelOutputSerializer(detail["channels"], many=True).data
    data["history"] = ChannelMoveOutputSerializer(detail["history"], many=True).data
    return data


class LineageListApi(ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = LineageOutputSerializer
    filter_backends = []

    def get_queryset(self):
        ref = self.request.query_params.get("template")
        template = None
        if ref:
            template = template_get(ref)
            if template is None:
                raise InvalidInput(f"template: unknown template '{ref}'",
                                   errors={"template": [f"Unknown template '{ref}'."]})
        return lineage_list_visible_to(user=self.request.user, template=template).order_by("name", "id")

    @extend_schema(tags=TAGS, operation_id="lineages_list", summary="Lineages visible to the caller",
                   parameters=[OpenApiParameter("template", str, OpenApiParameter.QUERY, required=False,
                                                description="Only lineages of this template (slug or name).")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class LineageDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, operation_id="lineages_retrieve", parameters=[LINEAGE_PARAM],
                   responses={200: LineageDetailOutputSerializer, 404: OpenApiResponse(description="Unknown")},
                   summary="A lineage with its versions (newest first), channels and channel history")
    def get(self, request, lineage: str):
        found = lineage_get_visible_or_404(user=request.user, ref=lineage)
        return Response(lineage_detail_data(lineage=found, user=request.user))


class AmiChannelApi(APIView):
    """``POST /amis/{ami}/channel {"channel": "stable"}``: point that channel of the AMI's lineage at it."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        channel = StrictCharField(max_length=CHANNEL_NAME_MAX, help_text="Channel name, e.g. stable, testing.")
        reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")

    class OutputSerializer(serializers.Serializer):
        channel = serializers.CharField()
        lineage = serializers.UUIDField(source="lineage.pk")
        moved = serializers.BooleanField(help_text="false: the channel already pointed at this version.")
        move = serializers.DictField(allow_null=True, help_text="{channel, from_version, to_version, ...}")

    @extend_schema(tags=TAGS, operation_id="ami_channel_move", parameters=[AMI_PARAM], request=InputSerializer,
                   responses={200: OutputSerializer,
                              400: OpenApiResponse(description="Bad channel name, or `latest` (managed)"),
                              403: OpenApiResponse(description="Not the lineage's owner or a moderator"),
                              404: OpenApiResponse(description="Unknown or invisible AMI"),
                              409: OpenApiResponse(description="Not a version of a lineage, or not approved")},
                   summary="Point a channel of the AMI's lineage at this version (lineage owner or moderator)")
    def post(self, request, ami: str):
        entry = ami_get_visible_or_404(user=request.user, ref=ami)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = channel_move(ami=entry, user=request.user, **data.validated_data)
        return Response(self.OutputSerializer(result).data)
