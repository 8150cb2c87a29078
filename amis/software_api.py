"""REST endpoints of software manifests and diffs (thin: look up → ``amis.software`` → render).

``GET/PUT /amis/{ami}/software`` and ``GET /amis/diff?a={ami}&b={ami}``. Both AMIs of a diff are
looked up with the caller's visibility: an invisible one is a 404, as everywhere.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from amis import software
from amis.api import ERRORS, ami_for_request
from registry.errors import InvalidInput

TAGS = ["amis"]


class PackageSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField(allow_blank=True)
    kind = serializers.ChoiceField(choices=software.KINDS)


class ManifestPackageSerializer(PackageSerializer):
    origin = serializers.ChoiceField(choices=["template", "declared"])


def _facts(field_factory) -> dict:
    return {key: field_factory(key) for key in software.FACT_KEYS}


SoftwareManifestOutputSerializer = type("SoftwareManifestOutputSerializer", (serializers.Serializer,), {
    "packages": ManifestPackageSerializer(many=True),
    **_facts(lambda key: serializers.CharField(allow_blank=True, help_text=f'{key} version ("" when unknown)')),
    "source": serializers.ChoiceField(choices=["none", "template", *software.SOURCES],
                                      help_text="Where the declared part came from (template: nothing declared)."),
    "declared_at": serializers.DateTimeField(allow_null=True),
    "__doc__": "The effective manifest: the template's packages with the publisher's declaration over them.",
})


# "from" is a Python keyword: the class is built from a field map.
ChangedPackageSerializer = type("ChangedPackageSerializer", (serializers.Serializer,), {
    "name": serializers.CharField(), "kind": serializers.CharField(),
    "from": serializers.CharField(allow_blank=True), "to": serializers.CharField(allow_blank=True)})


class FactChangeSerializer(serializers.Serializer):
    a = serializers.CharField(allow_blank=True)
    b = serializers.CharField(allow_blank=True)
    changed = serializers.BooleanField()


class ScoreChangeSerializer(serializers.Serializer):
    a = serializers.FloatField(allow_null=True)
    b = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True)


class DiffSideSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    ami_id = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()


SoftwareDiffOutputSerializer = type("SoftwareDiffOutputSerializer", (serializers.Serializer,), {
    "a": DiffSideSerializer(),
    "b": DiffSideSerializer(),
    "consecutive": serializers.BooleanField(help_text="One names the other as its replacement."),
    "added": PackageSerializer(many=True),
    "removed": PackageSerializer(many=True),
    "changed": ChangedPackageSerializer(many=True),
    "unchanged": serializers.IntegerField(),
    **_facts(lambda key: FactChangeSerializer()),
    "scan_score": ScoreChangeSerializer(),
    "scan_status": serializers.DictField(child=serializers.CharField()),
})


class AmiSoftwareApi(APIView):
    """``GET /amis/{ami}/software`` (anyone who may see it); ``PUT`` (owner or moderator)."""

    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(responses={200: SoftwareManifestOutputSerializer, 404: ERRORS[404]}, tags=TAGS,
                   operation_id="amis_software_retrieve",
                   summary="The image's software manifest: template packages + what the publisher declared")
    def get(self, request, ami: str):
        return Response(software.ami_software_manifest(ami_for_request(request, ami)))

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: SoftwareManifestOutputSerializer, **ERRORS},
                   tags=TAGS, operation_id="amis_software_update",
                   summary="Declare the image's software: {packages: [{name, version, kind}], kernel, cuda, "
                           "driver, python, r, ...}, or an SPDX 2.x JSON document, or a CycloneDX JSON BOM")
    def put(self, request, ami: str):
        entry = ami_for_request(request, ami)
        return Response(software.ami_software_declare(ami=entry, user=request.user, document=request.data))


class AmiDiffApi(APIView):
    """``GET /amis/diff?a=&b=``: what changed from image a to image b."""

    permission_classes = [AllowAny]

    @extend_schema(parameters=[OpenApiParameter("a", OpenApiTypes.STR, required=True, description="The older AMI."),
                               OpenApiParameter("b", OpenApiTypes.STR, required=True, description="The newer AMI.")],
                   responses={200: SoftwareDiffOutputSerializer, 400: ERRORS[400], 404: ERRORS[404]}, tags=TAGS,
                   operation_id="amis_diff",
                   summary="Diff two AMIs: packages added/removed/changed, kernel/driver/CUDA..., scan score")
    def get(self, request):
        missing = [k for k in ("a", "b") if not request.query_params.get(k, "").strip()]
        if missing:
            raise InvalidInput(f"give both AMIs: {', '.join(missing)} missing",
                               errors={k: ["This parameter is required."] for k in missing})
        a = ami_for_request(request, request.query_params["a"])
        b = ami_for_request(request, request.query_params["b"])
        return Response(software.ami_software_diff(a, b))
