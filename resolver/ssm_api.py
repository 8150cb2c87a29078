"""REST endpoints of the published answers (``resolver.ssm``): what is published where, and a
moderator's request for a sync. Thin: parse → one selector or service → render."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amis.operations_api import OperationOutputSerializer
from registry.errors import ApplicationError, InvalidInput
from registry.permissions import moderator_required
from resolver.selectors import published_parameters, ssm_last_sync
from resolver.ssm import ssm_sync_request
from templates.selectors import template_get

TAGS = ["resolver"]


class PublishedParameterSerializer(serializers.Serializer):
    template = serializers.CharField(source="template.slug")
    channel = serializers.CharField()
    architecture = serializers.CharField()
    region = serializers.CharField()
    name = serializers.CharField(help_text="resolve:ssm:<name> in run-instances and launch templates.")
    ami_id = serializers.CharField(source="image_id", help_text='The regional image id ("" once deleted).')
    registry_id = serializers.UUIDField(source="ami_id", allow_null=True)
    version = serializers.CharField()
    state = serializers.ChoiceField(choices=["published", "deleted"])
    last_synced_at = serializers.DateTimeField(allow_null=True)
    changed_at = serializers.DateTimeField(allow_null=True)


def _template_or_400(ref: str | None):
    if not ref:
        return None
    template = template_get(ref)
    if template is None:
        raise InvalidInput(f"template: unknown template '{ref}'", errors={"template": [f"Unknown template '{ref}'."]})
    return template


class PublishedParameterListApi(ListAPIView):
    """``GET /ssm/parameters?template=&deleted=``: every published parameter, and the last sync."""

    permission_classes = [AllowAny]
    serializer_class = PublishedParameterSerializer
    filter_backends = []

    def get_queryset(self):
        template = _template_or_400(self.request.query_params.get("template"))
        return published_parameters(template=template,
                                    include_deleted=self.request.query_params.get("deleted") in ("1", "true"))

    @extend_schema(tags=TAGS, operation_id="ssm_parameters_list",
                   summary="SSM parameters the registry publishes, where, and when they were last synced",
                   parameters=[OpenApiParameter("template", str, OpenApiParameter.QUERY, required=False),
                               OpenApiParameter("deleted", bool, OpenApiParameter.QUERY, required=False,
                                                description="Include parameters deleted by a sync.")])
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        last = ssm_last_sync(template=_template_or_400(request.query_params.get("template")))
        response.data["last_sync"] = OperationOutputSerializer(last).data if last else None
        return response


class SsmSyncApi(APIView):
    """``POST /ssm/sync {"template": ...}``: a moderator asks for a sync now (202 with the operation)."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        template = serializers.CharField(max_length=200)

    @extend_schema(tags=TAGS, operation_id="ssm_sync", request=InputSerializer,
                   responses={202: OperationOutputSerializer, 400: OpenApiResponse(description="Unknown template"),
                              403: OpenApiResponse(description="Moderators only"),
                              409: OpenApiResponse(description="Publishing is turned off")},
                   summary="Sync a template's SSM parameters now (moderators)")
    def post(self, request):
        moderator_required(request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = _template_or_400(data.validated_data["template"])
        op = ssm_sync_request(template=template, reason="requested by a moderator", actor=request.user)
        if op is None:
            raise ApplicationError("SSM publishing is turned off (REGISTRY_SSM_PUBLISH)", code="ssm_disabled",
                                   status_code=409)
        op.refresh_from_db()
        return Response(OperationOutputSerializer(op).data, status=status.HTTP_202_ACCEPTED)
