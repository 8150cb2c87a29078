"""Trust & compliance API (thin views): publisher keys, signatures, scans, policies, audit,
compliance report, GDPR export/erase. Each view parses input, calls one service or selector and
renders the result; the services own transactions and audit events."""
from __future__ import annotations

import django_filters
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amis import signatures
from amis.models import AMISignature
from amis.selectors import ami_get_visible
from registry.errors import NotFound
from registry.models import AuditEvent, PublisherKey
from registry.permissions import IsModerator, is_moderator
from registry.schema_errors import errors




def _ami_or_404(request, ref: str):
    ami = ami_get_visible(user=request.user, ref=ref)
    if ami is None:
        raise NotFound("no such AMI")
    return ami


def _ami_owned_or_404(request, ref: str):
    """The AMI if the caller owns it or moderates; invisible and foreign entries → 404/403."""
    ami = _ami_or_404(request, ref)
    if not (is_moderator(request.user) or ami.creator_id == request.user.pk):
        from registry.errors import Forbidden
        raise Forbidden("only the owner or a moderator may do this")
    return ami


# --- publisher keys --------------------------------------------------------------------------

class PublisherKeyOutputSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = PublisherKey
        fields = ["id", "name", "algorithm", "fingerprint", "public_key", "active", "created_at", "revoked_at",
                  "revoked_reason"]
        read_only_fields = fields


class PublisherKeyListApi(ListAPIView):
    """GET: the caller's publisher keys (active and revoked). POST: add an Ed25519 public key."""

    permission_classes = [IsAuthenticated]
    serializer_class = PublisherKeyOutputSerializer
    filter_backends: list = []

    class InputSerializer(serializers.Serializer):
        public_key = serializers.CharField(max_length=10_000, trim_whitespace=True,
                                           help_text="Ed25519 public key, PEM or OpenSSH one-line form.")
        name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    def get_queryset(self):
        return PublisherKey.objects.filter(user=self.request.user).order_by("-created_at", "-id")

    @extend_schema(responses={200: PublisherKeyOutputSerializer(many=True), **errors(401)}, tags=["trust"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=InputSerializer, responses={201: PublisherKeyOutputSerializer, **errors(400, 401, 409)},
                   tags=["trust"])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = signatures.publisher_key_add(user=request.user, **data.validated_data)
        return Response(PublisherKeyOutputSerializer(key).data, status=status.HTTP_201_CREATED)


class PublisherKeyDetailApi(APIView):
    """GET one of the caller's keys; DELETE revokes it (kept for history, signatures re-verified)."""

    permission_classes = [IsAuthenticated]

    def _key(self, request, key_id: int) -> PublisherKey:
        return get_object_or_404(PublisherKey, pk=key_id, user=request.user)

    @extend_schema(responses={200: PublisherKeyOutputSerializer, **errors(401, 404)}, tags=["trust"])
    def get(self, request, key_id: int):
        return Response(PublisherKeyOutputSerializer(self._key(request, key_id)).data)

    @extend_schema(responses={204: None, **errors(401, 404)}, tags=["trust"])
    def delete(self, request, key_id: int):
        signatures.publisher_key_revoke(key=self._key(request, key_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PublisherKeyRevokeApi(APIView):
    """POST: revoke one of the caller's keys with an optional reason; returns the key."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={200: PublisherKeyOutputSerializer, **errors(400, 401, 404)},
                   tags=["trust"])
    def post(self, request, key_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = get_object_or_404(PublisherKey, pk=key_id, user=request.user)
        key = signatures.publisher_key_revoke(key=key, user=request.user, reason=data.validated_data["reason"])
        return Response(PublisherKeyOutputSerializer(key).data)


# --- signatures --------------------------------------------------------------------------------

ManifestSerializer = inline_serializer("AMIManifest", {
    "ami_id": serializers.CharField(), "region": serializers.CharField(), "owner_id": serializers.CharField(),
    "architecture": serializers.CharField(), "creation_date": serializers.CharField(),
    "root_snapshot_ids": serializers.ListField(child=serializers.CharField()), "name": serializers.CharField(),
})


class AMIManifestApi(APIView):
    """GET the canonical manifest of an AMI (rebuilt from DescribeImages) and the exact bytes to sign."""

    @extend_schema(responses={200: inline_serializer("AMIManifestOutput", {
        "manifest": ManifestSerializer, "canonical": serializers.CharField()}), **errors(404, 503)},
                   tags=["trust"])
    def get(self, request, ami: str):
        entry = _ami_or_404(request, ami)
        manifest = signatures.ami_manifest_build(ami=entry)
        return Response({"manifest": manifest,
                         "canonical": signatures.manifest_canonical_bytes(manifest).decode("ascii")})


class AMISignatureOutputSerializer(serializers.ModelSerializer):
    code = serializers.SerializerMethodField()
    reason = serializers.CharField(source="failure_reason")
    fingerprint = serializers.CharField(source="key_fingerprint")
    signer = serializers.CharField(source="signer_username")
    details = serializers.SerializerMethodField()

    class Meta:
        model = AMISignature
        fields = ["id", "valid", "code", "reason", "fingerprint", "signer", "manifest", "details", "verified_at"]
        read_only_fields = fields

    def get_code(self, obj) -> str:
        return obj.failure_code or "valid"

    def get_details(self, obj) -> dict:
        return getattr(obj, "details", {})


class AMISignatureApi(APIView):
    """GET: the AMI's signature history (owner/moderator). POST: verify a signature (owner):
    200 when valid, 422 with ``code`` = the precise failure otherwise (recorded either way)."""

    class InputSerializer(serializers.Serializer):
        signature = serializers.CharField(max_length=400, help_text="Base64 Ed25519 signature of the manifest.")
        key_fingerprint = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
        manifest = serializers.JSONField(required=False, help_text="The manifest you signed (diagnostics only).")

    @extend_schema(responses={200: AMISignatureOutputSerializer(many=True), **errors(401, 403, 404)}, tags=["trust"])
    def get(self, request, ami: str):
        entry = _ami_owned_or_404(request, ami)
        return Response(AMISignatureOutputSerializer(entry.signatures.all()[:50], many=True).data)

    @extend_schema(request=InputSerializer,
                   responses={200: AMISignatureOutputSerializer, **errors(400, 401, 403, 404, 422, 503)}, tags=["trust"])
    def post(self, request, ami: str):
        entry = _ami_owned_or_404(request, ami)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = signatures.ami_signature_verify(ami=entry, user=request.user, **data.validated_data)
        if not row.valid:
            raise signatures.signature_failure(row)
        return Response(AMISignatureOutputSerializer(row).data)


# --- scans -----------------------------------------------------------------------------------------

class ScanOperationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    state = serializers.CharField()
    progress = serializers.IntegerField()
    region = serializers.CharField()
    ami_id = serializers.CharField(source="image_id")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()


class FindingSerializer(serializers.Serializer):
    id = serializers.CharField()
    severity = serializers.ChoiceField(choices=["critical", "high", "medium", "low", "info"])
    message = serializers.CharField()
    scanner = serializers.CharField(required=False)


class ScanExceptionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reason = serializers.CharField()
    expires_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by_username")
    created_at = serializers.DateTimeField()


class ScanResultOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    security_score = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True)
    findings = FindingSerializer(many=True)
    checks = serializers.ListField(child=serializers.CharField())
    scanners = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField()
    region = serializers.CharField()
    ami_id = serializers.CharField(source="image_id")
    scanned_at = serializers.DateTimeField()


class AMIScanApi(APIView):
    """GET: the AMI's scan verdict, newest findings and active exception (anyone who can see it).
    POST: scan now (owner or moderator) → 202 with the scan Operation."""

    @extend_schema(responses={200: inline_serializer("AMIScanOutput", {
        "scan_status": serializers.CharField(),
        "security_score": serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True),
        "latest": ScanResultOutputSerializer(allow_null=True),
        "exception": ScanExceptionOutputSerializer(allow_null=True)}), **errors(404)}, tags=["trust"])
    def get(self, request, ami: str):
        from amis.scanner import scan_exception_active

        entry = _ami_or_404(request, ami)
        latest = entry.scan_results.first()
        active = scan_exception_active(entry)
        return Response({
            "scan_status": entry.scan_status,
            "security_score": None if entry.security_score is None else str(entry.security_score),
            "latest": ScanResultOutputSerializer(latest).data if latest else None,
            "exception": ScanExceptionOutputSerializer(active).data if active else None,
        })

    @extend_schema(request=None, responses={202: inline_serializer("AMIScanQueued", {
        "operation": ScanOperationOutputSerializer()}), **errors(401, 403, 404)}, tags=["trust"])
    def post(self, request, ami: str):
        from amis.scanner import ami_scan_request

        entry = _ami_owned_or_404(request, ami)
        operation = ami_scan_request(ami=entry, user=request.user)
        operation.refresh_from_db()
        return Response({"operation": ScanOperationOutputSerializer(operation).data},
                        status=status.HTTP_202_ACCEPTED)


class AMIScanExceptionApi(APIView):
    """POST (moderators): allow approving despite a failed scan until ``expires_at``, with a reason."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)
        expires_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: ScanExceptionOutputSerializer, **errors(400, 401, 403, 404)},
                   tags=["trust"])
    def post(self, request, ami: str):
        from amis.scanner import scan_exception_create
        from registry.errors import Forbidden

        if not is_moderator(request.user):
            raise Forbidden("only moderators may record scan exceptions")
        entry = _ami_or_404(request, ami)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exception = scan_exception_create(ami=entry, moderator=request.user, **data.validated_data)
        return Response(ScanExceptionOutputSerializer(exception).data, status=status.HTTP_201_CREATED)


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

    @extend_schema(responses={200: AuditEventOutputSerializer(many=True), **errors(400, 401, 403, 404)},
                   tags=["compliance"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- institution policies ----------------------------------------------------------------------------

PolicyDocumentSerializer = inline_serializer("InstitutionPolicy", {
    "require_verified_signature": serializers.BooleanField(required=False),
    "require_passed_scan": serializers.BooleanField(required=False),
    "min_rating": serializers.FloatField(required=False, min_value=0, max_value=5),
    "allowed_owner_accounts": serializers.ListField(child=serializers.CharField(), required=False),
    "allowed_regions": serializers.ListField(child=serializers.CharField(), required=False),
    "allowed_architectures": serializers.ListField(child=serializers.CharField(), required=False),
    "blocked_amis": serializers.ListField(child=serializers.CharField(), required=False),
})

CommunityPolicyOutputSerializer = inline_serializer("CommunityPolicyOutput", {
    "community": serializers.CharField(), "kind": serializers.CharField(), "policy": PolicyDocumentSerializer,
    "aws_role_arn": serializers.CharField(), "updated_at": serializers.DateTimeField()})


def _policy_body(community) -> dict:
    return {"community": community.slug, "kind": community.kind, "policy": community.policy or {},
            "aws_role_arn": community.aws_role_arn, "updated_at": community.updated_at}


class CommunityPolicyApi(APIView):
    """GET (members, admins, moderators) / PUT (the institution's admins, moderators) an
    institution's policy. PUT replaces the whole document; every rule is validated."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        policy = serializers.JSONField(help_text="The policy document (see docs/trust-and-compliance.md).")
        aws_role_arn = serializers.CharField(max_length=2048, required=False, allow_blank=True,
                                             help_text="Optional cross-account role for copies into the "
                                                       "institution's account.")

    def _community(self, request, slug: str):
        from registry.models import Community, CommunityMembership

        community = Community.objects.filter(slug=slug).first()
        if community is None or not (is_moderator(request.user) or CommunityMembership.objects.filter(
                community=community, user=request.user).exists()):
            raise NotFound("no such community")
        return community

    @extend_schema(responses={200: CommunityPolicyOutputSerializer, **errors(401, 404)}, tags=["trust"])
    def get(self, request, slug: str):
        return Response(_policy_body(self._community(request, slug)))

    @extend_schema(request=InputSerializer, responses={200: CommunityPolicyOutputSerializer,
                                                       **errors(400, 401, 403, 404)}, tags=["trust"])
    def put(self, request, slug: str):
        from registry.policy import community_policy_update

        community = self._community(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        community = community_policy_update(community=community, user=request.user, **data.validated_data)
        return Response(_policy_body(community))


class MyPolicyApi(APIView):
    """GET the caller's effective policy (the strictest combination of their institutions')."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: inline_serializer("EffectivePolicy", {
        "sources": serializers.ListField(child=serializers.CharField()),
        "require_verified_signature": serializers.BooleanField(),
        "require_passed_scan": serializers.BooleanField(),
        "min_rating": serializers.FloatField(allow_null=True),
        "allowed_owner_accounts": serializers.ListField(child=serializers.CharField(), allow_null=True),
        "allowed_regions": serializers.ListField(child=serializers.CharField(), allow_null=True),
        "allowed_architectures": serializers.ListField(child=serializers.CharField(), allow_null=True),
        "blocked_amis": serializers.ListField(child=serializers.CharField())}), **errors(401)}, tags=["trust"])
    def get(self, request):
        from registry.policy import policy_for_user

        return Response(policy_for_user(request.user).as_dict())


# --- erasure by a moderator ----------------------------------------------------------------------------

class UserEraseApi(APIView):
    """DELETE (moderators): erase another user's account, choosing who receives their AMIs
    (``transfer_to``; without it the REGISTRY_ERASURE_TRANSFER_TO setting, else they are revoked)."""

    permission_classes = [IsModerator]

    class InputSerializer(serializers.Serializer):
        reviews = serializers.ChoiceField(choices=["anonymise", "delete"], default="anonymise")
        transfer_to = serializers.CharField(max_length=150, required=False, allow_blank=False)

    @extend_schema(request=InputSerializer, responses={200: inline_serializer("UserEraseOutput", {
        "user_id": serializers.IntegerField(), "reviews": serializers.CharField(),
        "amis_transferred": serializers.ListField(child=serializers.CharField(), required=False),
        "amis_revoked": serializers.ListField(child=serializers.CharField(), required=False)}),
        **errors(400, 401, 403, 404)}, tags=["compliance"])
    def delete(self, request, username: str):
        from django.contrib.auth import get_user_model

        from registry.gdpr import user_erase

        target = get_user_model().objects.filter(username=username).first()
        if target is None:
            raise NotFound("no such user")
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        summary = user_erase(user=target, actor=request.user, **data.validated_data)
        return Response(summary)


# --- compliance report ---------------------------------------------------------------------------------

_Figure = inline_serializer("ComplianceFigure", {"count": serializers.IntegerField(),
                                                 "event_ids": serializers.ListField(child=serializers.IntegerField())})


class ComplianceReportApi(APIView):
    """GET (moderators): compliance figures for ``since`` <= t < ``until`` (default: the last 30 days)."""

    permission_classes = [IsModerator]

    class QuerySerializer(serializers.Serializer):
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(parameters=[OpenApiParameter("since", OpenApiTypes.DATETIME),
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
        from datetime import timedelta

        from django.utils import timezone

        from registry.compliance import compliance_report

        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        until = query.validated_data.get("until") or timezone.now()
        since = query.validated_data.get("since") or until - timedelta(days=30)
        return Response(compliance_report(since=since, until=until))
