"""``GET /api/v1/dashboard`` (public aggregates) and ``GET /api/v1/dashboard/publisher`` (the
caller's own images; a moderator may name another publisher). Thin: → ``dashboard_data``."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboard.selectors import MAX_DAYS, MAX_MONTHS, dashboard_data
from registry.errors import NotFound
from registry.permissions import is_moderator
from registry.schema_errors import errors


class WindowSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, default=30,
                                    help_text="Window of the daily series and the rates.")
    months = serializers.IntegerField(min_value=1, max_value=MAX_MONTHS, default=12,
                                      help_text="Months of the monthly series.")


class PublisherWindowSerializer(WindowSerializer):
    username = serializers.CharField(required=False, help_text="Another publisher (moderators only).")


class TargetSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    target = serializers.FloatField()
    comparison = serializers.ChoiceField(choices=["<=", ">", ">="])
    unit = serializers.CharField()
    measured = serializers.FloatField(allow_null=True)
    met = serializers.BooleanField(allow_null=True, help_text="null: no data to measure yet.")
    basis = serializers.CharField(help_text="What the measured value is computed from.")


class DashboardOutputSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    days = serializers.IntegerField()
    months = serializers.IntegerField()
    publisher = serializers.CharField(allow_null=True)
    targets = TargetSerializer(many=True)
    launches = serializers.DictField(help_text="{ami|script: {count, succeeded, success_rate, median_seconds, "
                                               "measured}, time_difference_seconds, by_day}")
    operations = serializers.DictField(help_text="{total, succeeded, failed, success_rate, by_kind}")
    cost = serializers.DictField(help_text="{dollars_saved, launches_counted, reduction_factor, model_speedup}")
    templates = serializers.DictField(help_text="{total, with_ami_config, share}")
    community = serializers.DictField(help_text="{listed, by_month: {YYYY-MM: {published, approved}}, review}")
    resolutions = serializers.DictField(required=False, help_text="{methods, by_day: {date: {method: n}}, totals} "
                                                                  "(global dashboard only)")


class DashboardApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(parameters=[WindowSerializer], responses={200: DashboardOutputSerializer, **errors(400)},
                   tags=["dashboard"], operation_id="dashboard",
                   summary="The product plan's success metrics, measured, each against its target")
    def get(self, request):
        window = WindowSerializer(data=request.query_params)
        window.is_valid(raise_exception=True)
        return Response(dashboard_data(**window.validated_data))


def publisher_for(request, username: str | None):
    """The caller, or (moderators only) the publisher named; 404 for an unknown name."""
    if not username or username == request.user.username:
        return request.user
    if not is_moderator(request.user):
        raise NotFound("publisher not found")  # another publisher's detail is not public
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound("publisher not found")
    return user


class PublisherDashboardApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[PublisherWindowSerializer],
                   responses={200: DashboardOutputSerializer, **errors(400, 401, 404)}, tags=["dashboard"],
                   operation_id="dashboard_publisher",
                   summary="The same metrics over one publisher's own images (the caller's)")
    def get(self, request):
        window = PublisherWindowSerializer(data=request.query_params)
        window.is_valid(raise_exception=True)
        values = dict(window.validated_data)
        publisher = publisher_for(request, values.pop("username", None))
        return Response(dashboard_data(publisher=publisher, **values))
