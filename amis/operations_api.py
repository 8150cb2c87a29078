"""REST endpoints of the AWS lifecycle (API.md *Operations* and the cws-shaped *AMI operations*).

Thin: parse → one service (``amis.aws_create``, ``amis.aws_copy``) or selector → render. An AMI
named in a path is looked up through the visibility selector first (404 when invisible, never
403); an operation is visible to whoever started it and to moderators (404 otherwise).
"""
from __future__ import annotations

from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amis.aws_copy import ami_copy_request
from amis.aws_create import ami_create_request
from amis.metadata import DESCRIPTION_MAX, MAX_COPY_REGIONS, NAME_MAX, TAG_VALUE_MAX, VERSION_MAX
from amis.models import AMIRegion, Operation
from amis.operations import operation_poke
from amis.operation_selectors import (ami_creation_status, create_estimates, creation_operation_for_ref,
                                      creation_status, operation_get_for_or_404, operation_list_for)
from amis.selectors import ami_get_visible_or_404, ami_list_owned_by
from amis.serializers import AMIOutputSerializer
from registry.regions import request_region

TAGS = ["operations"]
ERRORS = {400: OpenApiResponse(description="Invalid input (envelope with `errors`)"),
          401: OpenApiResponse(description="Not signed in"),
          404: OpenApiResponse(description="Unknown or not yours"),
          409: OpenApiResponse(description="The AMI's state does not allow it")}


class OperationOutputSerializer(serializers.Serializer):
    """An asynchronous AWS job (API.md *Operations*)."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Operation.Kind.choices)
    state = serializers.ChoiceField(choices=Operation.State.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    region = serializers.CharField()
    ami_id = serializers.CharField(source="image_id", help_text="AWS image produced or acted on")
    registry_id = serializers.UUIDField(source="ami_id", allow_null=True, help_text="The registry entry")
    source_region = serializers.CharField()
    source_ami_id = serializers.CharField(source="source_image_id")
    instance_id = serializers.CharField()
    parent = serializers.UUIDField(source="parent_id", allow_null=True)
    message = serializers.CharField()
    error = serializers.CharField()
    result = serializers.JSONField()
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CreationRegionResultSerializer(serializers.Serializer):
    region = serializers.CharField()
    ami_id = serializers.CharField()
    status = serializers.CharField(help_text="pending, in_progress, completed or failed")
    error = serializers.CharField()


class CreationStatusOutputSerializer(serializers.Serializer):
    creation_id = serializers.CharField(help_text='The create operation\'s id ("" for an entry registered, '
                                                  'not created here)')
    ami_id = serializers.CharField(help_text="The AWS image id")
    registry_id = serializers.CharField()
    name = serializers.CharField()
    template_name = serializers.CharField()
    status = serializers.CharField(help_text="pending, in_progress, completed or failed")
    progress = serializers.IntegerField(min_value=0, max_value=100)
    message = serializers.CharField(help_text="The error when failed")
    elapsed_time_minutes = serializers.FloatField()
    estimated_completion_minutes = serializers.IntegerField(help_text="Minutes remaining (0 once finished)")
    storage_cost = serializers.FloatField(help_text="USD per month for the snapshots, all regions")
    creation_cost = serializers.FloatField(help_text="USD one-off cross-region copy transfer")
    region_results = serializers.DictField(child=CreationRegionResultSerializer())


class UserAmiSerializer(serializers.Serializer):
    """One of the caller's AMIs as the cws client prints it (``cws ami list`` of its daemon)."""

    ami_id = serializers.CharField()
    registry_id = serializers.UUIDField(source="pk")
    name = serializers.CharField()
    description = serializers.SerializerMethodField()
    architecture = serializers.CharField()
    creation_date = serializers.SerializerMethodField()
    public = serializers.SerializerMethodField()
    region = serializers.CharField(source="source_region")
    status = serializers.CharField()
    template_name = serializers.SerializerMethodField()

    def get_description(self, ami) -> str:
        return ami.description or f"{ami.name} ({ami.architecture}, {ami.source_region})"

    def get_creation_date(self, ami) -> str:
        return ami.image_creation_date or ami.created_at.isoformat()

    def get_public(self, ami) -> bool:
        return ami.visibility == ami.Visibility.PUBLIC

    def get_template_name(self, ami) -> str:
        return ami.template.slug if ami.template_id else ""


def _operation_for(request, operation_id: str) -> Operation:
    """The caller's operation (404 otherwise), advanced first when it waits in eager mode."""
    return operation_poke(operation_get_for_or_404(user=request.user, operation_id=operation_id))


class AmiCreateApi(APIView):
    """``POST /ami/create`` — the cws client's ``cws ami create`` / ``create-multi``."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        instance_id = serializers.CharField(max_length=256, help_text="EC2 instance id, or the instance's Name tag "
                                                                      "(looked for in every region)")
        template_name = serializers.CharField(max_length=200, help_text="Template slug or exact name")
        name = serializers.CharField(max_length=NAME_MAX, required=False, allow_blank=True,
                                     help_text="Default: cws-<template>-<unix time>")
        description = serializers.CharField(max_length=DESCRIPTION_MAX, required=False, allow_blank=True)
        version = serializers.CharField(max_length=VERSION_MAX, required=False, allow_blank=True,
                                        help_text="Free text; SemVer (1.4.0) when a lineage is named.")
        lineage = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                        help_text="Name of one of your lineages (created on first use): the new "
                                                  "image becomes its version `version`.")
        tags = serializers.DictField(child=serializers.CharField(max_length=TAG_VALUE_MAX, allow_blank=True),
                                     required=False)
        public = serializers.BooleanField(required=False, default=False,
                                          help_text="Make the image public in AWS once a moderator approves it")
        share_with = serializers.ListField(child=serializers.CharField(max_length=12), required=False,
                                           max_length=100, help_text="AWS account ids given launch permission")
        community = serializers.CharField(max_length=100, required=False, allow_blank=True)
        multi_region = serializers.ListField(child=serializers.CharField(max_length=32), required=False,
                                             max_length=MAX_COPY_REGIONS)
        no_reboot = serializers.BooleanField(required=False, default=True)
        region = serializers.CharField(max_length=32, required=False, allow_blank=True,
                                       help_text="Region to look for the instance first (default: X-AWS-Region, "
                                                 "your default region, AWS_DEFAULT_REGION)")

    class OutputSerializer(serializers.Serializer):
        creation_id = serializers.UUIDField(help_text="The create operation's id")
        ami_id = serializers.CharField(help_text="The new AWS image id (CreateImage answered in the request)")
        name = serializers.CharField(help_text="The registry entry's name")
        registry_id = serializers.UUIDField(help_text="The registry entry's id (exists once AWS answered)")
        template_name = serializers.CharField()
        instance_id = serializers.CharField()
        source_region = serializers.CharField()
        target_regions = serializers.ListField(child=serializers.CharField())
        status = serializers.CharField()
        message = serializers.CharField()
        estimated_completion_minutes = serializers.IntegerField()
        storage_cost = serializers.FloatField(help_text="USD per month for the snapshots, all regions")
        creation_cost = serializers.FloatField(help_text="USD one-off cross-region copy transfer")

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer, 503: OpenApiResponse(
        description="AWS did not answer"), **ERRORS}, tags=TAGS,
        summary="Create a community AMI from a running instance (async; poll /ami/status/{creation_id})")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = {**data.validated_data, "region": request_region(request, data.validated_data.get("region"))}
        op = ami_create_request(user=request.user, **fields)
        op.refresh_from_db()
        status_now = creation_status(op)
        body = {
            "creation_id": op.pk, "ami_id": op.image_id, "name": op.params["name"],
            "registry_id": op.params["registry_id"],
            "template_name": op.params["template"], "instance_id": op.instance_id, "source_region": op.region,
            "target_regions": [op.region, *op.params["multi_region"]], "status": status_now["status"],
            "message": status_now["message"], **create_estimates(op),
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class AmiCreationStatusApi(APIView):
    """``GET /ami/status/{id}`` — progress over the create step and every copy. ``id`` is the
    creation id, the registry id or the AWS AMI id (the client tells users ``cws ami status <ami_id>``)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: CreationStatusOutputSerializer, **ERRORS}, tags=TAGS,
                   summary="Status of an AMI creation (cws shape), by creation, registry or AMI id")
    def get(self, request, creation_id: str):
        found = creation_operation_for_ref(user=request.user, ref=creation_id)
        if isinstance(found, Operation):
            body = creation_status(operation_poke(found))
        else:
            body = ami_creation_status(found)
        return Response(CreationStatusOutputSerializer(body).data)


class AmiCopyApi(APIView):
    """``POST /amis/{ami}/copy`` — one copy operation per new region (owner or moderator)."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        regions = serializers.ListField(child=serializers.CharField(max_length=32), allow_empty=False,
                                        max_length=MAX_COPY_REGIONS)

    class OutputSerializer(serializers.Serializer):
        operations = OperationOutputSerializer(many=True)
        skipped = serializers.ListField(child=serializers.CharField(),
                                        help_text="Regions that already have a pending or available copy")

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer, 403: OpenApiResponse(
        description="Visible but not yours"), **ERRORS}, tags=TAGS,
        summary="Copy an AMI to more regions (regions already present are skipped)")
    def post(self, request, ami: str):
        entry = ami_get_visible_or_404(user=request.user, ref=ami)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ops, skipped = ami_copy_request(ami=entry, user=request.user, **data.validated_data)
        for op in ops:
            op.refresh_from_db()
        return Response(self.OutputSerializer({"operations": ops, "skipped": skipped}).data,
                        status=status.HTTP_202_ACCEPTED)


class AmiUserListApi(APIView):
    """``GET /ami/list`` — the caller's own AMIs (cws ``ami list``)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[OpenApiParameter("template", OpenApiTypes.STR, description="slug or exact name"),
                               OpenApiParameter("region", OpenApiTypes.STR, description="has a copy there")],
                   responses={200: inline_serializer("AmiUserListOutput", {
                       "user_amis": AMIOutputSerializer(many=True),
                       "amis": UserAmiSerializer(many=True, help_text="The same AMIs with the cws client's keys"),
                       "total_count": serializers.IntegerField()}), **ERRORS}, tags=TAGS,
                   summary="The caller's AMIs")
    def get(self, request):
        qs = ami_list_owned_by(user=request.user)
        template = request.query_params.get("template")
        if template:
            qs = qs.filter(Q(template__slug=template) | Q(template__name=template))
        region = request.query_params.get("region")
        if region:
            qs = qs.filter(pk__in=AMIRegion.objects.filter(region=region).values("ami_id"))
        amis = list(qs)
        return Response({"user_amis": AMIOutputSerializer(amis, many=True).data,
                         "amis": UserAmiSerializer(amis, many=True).data, "total_count": len(amis)})


class OperationListApi(GenericAPIView):
    """``GET /operations/?ami=`` — the caller's operations (moderators: all), paginated."""

    permission_classes = [IsAuthenticated]
    serializer_class = OperationOutputSerializer
    filter_backends: list = []

    @extend_schema(parameters=[OpenApiParameter("ami", OpenApiTypes.STR,
                                                description="registry uuid or any AWS AMI id of the entry")],
                   responses={200: OperationOutputSerializer(many=True), **ERRORS}, tags=TAGS,
                   summary="List operations")
    def get(self, request):
        ref = request.query_params.get("ami")
        ami = ami_get_visible_or_404(user=request.user, ref=ref) if ref else None
        page = self.paginate_queryset(operation_list_for(user=request.user, ami=ami))
        return self.get_paginated_response(OperationOutputSerializer(page, many=True).data)


class OperationDetailApi(APIView):
    """``GET /operations/{id}``."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: OperationOutputSerializer, **ERRORS}, tags=TAGS, summary="One operation")
    def get(self, request, operation_id: str):
        return Response(OperationOutputSerializer(_operation_for(request, operation_id)).data)
