"""REST endpoints of the resolver (API.md, *Resolver and AMI operations*; wire-compatible with cws).

Thin: parse the query/body with an input serializer, call one function of ``resolver.services``
(or ``resolver.preview``), return its dict. The answers are plain dicts built in one place
(``resolver.answers.resolution``; the preview's in ``resolver.preview``); the output
serializers here describe them for the OpenAPI schema (a test checks they agree). Anyone may
resolve: anonymous callers get what anonymous users may see of the registry.
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.regions import request_region
from resolver import serializers as s
from resolver import services
from resolver.freshness import check_freshness
from resolver.preview import resolve_preview

TAGS = ["resolver"]
TEMPLATE_PARAM = OpenApiParameter("template", str, OpenApiParameter.PATH,
                                  description="Template slug or exact name (URL-encoded); `{template}@{channel}` "
                                              "names a channel too.")
ERRORS = {400: OpenApiResponse(description="Unknown region, architecture or strategy (envelope with `errors`)"),
          404: OpenApiResponse(description="Unknown template")}


class AmiResolveApi(APIView):
    """``GET /ami/resolve/{template}``: which AMI to launch, and how."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="ami_resolve", tags=TAGS, parameters=[TEMPLATE_PARAM, s.ResolveQuerySerializer],
                   responses={200: s.ResolutionOutputSerializer, **ERRORS,
                              403: OpenApiResponse(description="refresh requested by a non-moderator"),
                              422: OpenApiResponse(s.NoAmiErrorSerializer,
                                                   description="code no_ami_available: the strategy forbids "
                                                               "every remaining tier")})
    def get(self, request, template: str):
        query = s.ResolveQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        answer = services.resolve(template=template, region=request_region(request, data.get("region")), architecture=data.get("architecture"),
                                  strategy=data.get("strategy"), user=request.user, details=data["details"],
                                  refresh=data["refresh"], policy=data["policy"], channel=data.get("channel"),
                                  version=data.get("version"))
        return Response(answer)


class AmiPreviewApi(APIView):
    """``GET /ami/preview/{template}``: which tier would answer — no AWS calls."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="ami_preview", tags=TAGS, parameters=[TEMPLATE_PARAM, s.PreviewQuerySerializer],
                   responses={200: s.PreviewOutputSerializer, **ERRORS})
    def get(self, request, template: str):
        query = s.PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return Response(resolve_preview(template=template, region=request_region(request, data.get("region")),
                                        architecture=data.get("architecture"), strategy=data.get("strategy"),
                                        user=request.user, channel=data.get("channel"), version=data.get("version")))


class AmiTestApi(APIView):
    """``POST /ami/test``: resolve in many regions concurrently."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="ami_test", tags=TAGS, request=s.AmiTestInputSerializer,
                   responses={200: s.AmiTestOutputSerializer, **ERRORS})
    def post(self, request):
        body = s.AmiTestInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        return Response(services.resolve_test(template=data["template_name"], regions=data.get("regions"),
                                              caller_region=request_region(request),
                                              all_regions=data["all_regions"], architecture=data.get("architecture"),
                                              strategy=data.get("strategy"), user=request.user, deep=data["deep"]))


class AmiCostsApi(APIView):
    """``GET /ami/costs/{template}``: AMI launch against script provisioning (cws cost analysis)."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="ami_costs", tags=TAGS, parameters=[TEMPLATE_PARAM, s.CostsQuerySerializer],
                   responses={200: s.CostAnalysisSerializer, **ERRORS})
    def get(self, request, template: str):
        query = s.CostsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return Response(services.template_costs(template=template, region=request_region(request, data.get("region")),
                                                instance_type=data["instance_type"],
                                                architecture=data.get("architecture")))


class AmiCheckFreshnessApi(APIView):
    """``GET /ami/check-freshness``: template mappings and approved community AMIs against the
    latest SSM base image of their OS (cws ``ami check-freshness``)."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="ami_check_freshness", tags=TAGS, responses={200: s.FreshnessOutputSerializer})
    def get(self, request):
        return Response(check_freshness())
