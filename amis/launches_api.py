"""``POST /api/v1/launches``: a client reports a workstation launch (thin: parse → ``amis.launches``)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from amis.api import ERRORS, ami_for_request
from amis.launches import launch_record
from amis.models import Launch
from amis.serializers import StrictCharField
from registry.errors import NotFound
from templates.selectors import template_get


class LaunchOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ami = serializers.CharField(source="ami.ami_id", allow_null=True, default=None)
    template = serializers.CharField(source="template.slug", allow_null=True, default=None)
    region = serializers.CharField()
    method = serializers.ChoiceField(choices=Launch.Method.choices)
    resolution_method = serializers.CharField()
    instance_type = serializers.CharField()
    seconds = serializers.FloatField(allow_null=True)
    succeeded = serializers.BooleanField()
    at = serializers.DateTimeField()


class LaunchCreateApi(APIView):
    """Anyone may report a launch (the cws client does after every ``cws launch``)."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        region = StrictCharField(max_length=32)
        method = serializers.ChoiceField(choices=Launch.Method.choices)
        ami = StrictCharField(max_length=64, required=False, allow_blank=True, default="",
                              help_text="The AMI launched from (registry id or any AWS AMI id); required for ami.")
        template = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
        resolution_method = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
        instance_type = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
        seconds = serializers.FloatField(required=False, allow_null=True, default=None,
                                         help_text="Seconds until the workstation was ready, when measured.")
        succeeded = serializers.BooleanField(required=False, default=True)
        error = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
        client = StrictCharField(max_length=100, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: LaunchOutputSerializer, 400: ERRORS[400],
                                                       404: ERRORS[404]},
                   tags=["amis"], operation_id="launches_create",
                   summary="Report a workstation launch (from an AMI or by script): time and outcome")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        ami = ami_for_request(request, values.pop("ami")) if values.get("ami") else None
        values.pop("ami", None)
        template = None
        ref = values.pop("template")
        if ref:
            template = template_get(ref)
            if template is None:
                raise NotFound("template not found")
        launch = launch_record(ami=ami, template=template, user=request.user, **values)
        return Response(LaunchOutputSerializer(launch).data, status=status.HTTP_201_CREATED)
