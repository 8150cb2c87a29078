"""REST endpoints of the audit log and the compliance report (moderators). Thin: the filter and
the serializer here, the figures in ``registry.compliance``; both read the one audit writer's table."""
from __future__ import annotations

from datetime import timedelta

import django_filters
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.compliance import compliance_report
from registry.models import AuditEvent
from registry.permissions import IsModerator
from registry.schema_errors import errors


# --- audit log ---------------------------------------------------------------------------------------

class AuditEventFilter(django_filters.FilterSet):
    """Filters of ``GET /audit/``: actor (username or user id), action (exact, or a prefix ending
    in ``.`` such as ``ami.``), target_type, target_id, since/until (ISO 8601, inclusive/exclusive)."""

    actor = django_filters.CharFilter(method="filter_actor")
    action = django_filters.CharFilter(method="filter_action")
    target_type = django_filters.CharFilter(field_name="target_type")
    target_id = django_filters.CharFilter(field_name="target_id")
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "target_type", "target_id", "since", "until"]

    def filter_actor(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(actor_username=value) | (Q(actor_id=int(value)) if value.isdigit() else Q()))

    def filter_action(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(action__startswith=value) if value.endswith(".") else queryset.filter(action=value)


class AuditEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username")
    actor_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "actor_id", "action", "target_type", "target_id", "target_repr", "before",
                  "after", "reason", "ip_address", "user_agent", "request_id"]
        read_only_fields = fields


class AuditEventListApi(ListAPIView):
    """GET (moderators): the audit log, newest first, filtered and paginated."""

    permission_classes = [IsModerator]
    serializer_class = AuditEventOutputSerializer
    filterset_class = AuditEventFilter

    def get_queryset(self):
        return AuditEvent.objects.all().order_by("-at", "-id")

    @extend_schema(
        summary="The audit trail (moderators; filters by action, actor, target and time)",
        responses={200: AuditEventOutputSerializer(many=True), **errors(400, 401, 403, 404)},
                   tags=["compliance"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- compliance report ---------------------------------------------------------------------------------

_Figure = inline_serializer("ComplianceFigure", {"count": serializers.IntegerField(),
                                                 "event_ids": serializers.ListField(child=serializers.IntegerField())})


class ComplianceReportApi(APIView):
    """GET (moderators): compliance figures for ``since`` <= t < ``until`` (default: the last 30 days)."""

    permission_classes = [IsModerator]

    class QuerySerializer(serializers.Serializer):
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(
        summary="Compliance report over a period (moderators)",
        parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME),
                               OpenApiParameter("until", OpenApiTypes.DATETIME)],
                   responses={200: inline_serializer("ComplianceReport", {
                       "since": serializers.DateTimeField(), "until": serializers.DateTimeField(),
                       "generated_at": serializers.DateTimeField(),
                       **{name: _Figure for name in ("submissions", "approvals", "rejections", "revocations",
                                                     "scan_exceptions", "erasure_requests_handled",
                                                     "data_exports", "scan_failures", "external_shares")},
                       "time_to_review": inline_serializer("TimeToReview", {
                           "count": serializers.IntegerField(),
                           "median_seconds": serializers.FloatField(allow_null=True),
                           "p90_seconds": serializers.FloatField(allow_null=True),
                           "pairs": serializers.ListField(child=serializers.DictField())})}),
                              **errors(400, 401, 403)},
                   tags=["compliance"])
    def get(self, request):
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        until = query.validated_data.get("until") or timezone.now()
        since = query.validated_data.get("since") or until - timedelta(days=30)
        return Response(compliance_report(since=since, until=until))
