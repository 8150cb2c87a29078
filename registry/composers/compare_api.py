"""``GET /api/v1/compare?amis=a,b,c`` and the page ``/compare/?amis=a,b,c`` (shareable: the URL is
the selection). Thin: parse → ``registry.composers.compare.comparison_build`` → render."""
from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from amis import software
from registry.composers.compare import MAX_AMIS, comparison_build
from registry.errors import ApplicationError
from registry.schema_errors import errors
from registry.web_errors import raise_page_error


class PricedTypeSerializer(serializers.Serializer):
    instance_type = serializers.CharField()
    architecture = serializers.CharField()
    hourly_price = serializers.FloatField()


class StaleSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    reason = serializers.CharField()


class CostSerializer(serializers.Serializer):
    region = serializers.CharField()
    instance_types = PricedTypeSerializer(many=True, help_text="The recommended type first (instance advice).")
    reasoning = serializers.CharField()


class FreshnessSerializer(serializers.Serializer):
    image_built = serializers.CharField()
    approved_at = serializers.CharField(allow_null=True)
    last_scan_at = serializers.CharField(allow_null=True)
    last_launch_at = serializers.CharField(allow_null=True)
    stale = StaleSerializer(many=True)
    best_score = serializers.FloatField(help_text="The catalogue's \"best\" score (amis.ranking).")


class CompareRowSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    ami_id = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    template = serializers.CharField(allow_null=True)
    architecture = serializers.CharField()
    status = serializers.CharField()
    regions = serializers.ListField(child=serializers.CharField(), help_text="Regions with an available copy.")
    size_gb = serializers.IntegerField(allow_null=True)
    launch_time_estimate_seconds = serializers.IntegerField(help_text="Boot from the AMI (+ the copy when the "
                                                                      "region has none), cost model.")
    script_setup_seconds = serializers.IntegerField(allow_null=True)
    copy = serializers.DictField(allow_null=True)
    cost = CostSerializer()
    rating_avg = serializers.FloatField()
    rating_count = serializers.IntegerField()
    download_count = serializers.IntegerField()
    verified = serializers.BooleanField()
    signature_valid = serializers.BooleanField(allow_null=True)
    scan_status = serializers.CharField()
    security_score = serializers.FloatField(allow_null=True)
    highlights = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                       help_text=f"{', '.join(software.HIGHLIGHTS)} versions.")
    package_count = serializers.IntegerField()
    doi = serializers.CharField()
    license = serializers.CharField()
    freshness = FreshnessSerializer()


class CompareOutputSerializer(serializers.Serializer):
    template = serializers.CharField(allow_null=True)
    requested = serializers.ListField(child=serializers.CharField())
    region = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()
    amis = CompareRowSerializer(many=True)
    cheapest_hourly_price = serializers.FloatField(allow_null=True)
    best_score = serializers.FloatField(allow_null=True)


class CompareApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("amis", OpenApiTypes.STR, description=f"2–{MAX_AMIS} AMIs, comma-separated "
                                     "(registry ids or any AWS AMI id)."),
                    OpenApiParameter("template", OpenApiTypes.STR, description="Instead of amis: the template's "
                                     f"best {MAX_AMIS} candidates."),
                    OpenApiParameter("region", OpenApiTypes.STR, description="Price and time every image here "
                                     "(default: each image's source region).")],
        responses={200: CompareOutputSerializer, **errors(400, 404)}, tags=["amis"], operation_id="compare",
        summary="Compare AMIs side by side: architecture, regions, size, launch time, cost per hour, rating, "
                "downloads, trust, software highlights, freshness")
    def get(self, request):
        q = request.query_params
        return Response(comparison_build(user=request.user, amis=q.get("amis"), template=q.get("template"),
                                         region=q.get("region")))


@require_GET
def compare_page(request):
    """``/compare/?amis=a,b,c`` (or ``?template=slug``): the grid; without a selection, how to make one."""
    q = request.GET
    grid, error = None, ""
    if q.get("amis") or q.get("template"):
        try:
            grid = comparison_build(user=request.user, amis=q.get("amis"), template=q.get("template"),
                                    region=q.get("region"))
        except ApplicationError as exc:
            raise_page_error(exc)   # 404 page for an invisible AMI; a 400 stays on this page
            error = exc.message
    return render(request, "registry/compare.html", {
        "grid": grid, "error": error, "amis_param": q.get("amis", ""), "region": q.get("region", ""),
        "highlight_keys": software.HIGHLIGHTS, "max_amis": MAX_AMIS,
    }, status=400 if error else 200)
