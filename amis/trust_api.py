"""REST endpoints of an AMI's trust: publisher keys, signatures over the canonical manifest, security
scans and scan exceptions (docs/trust-and-compliance.md). Thin: parse → one service or selector
(``amis.signatures``, ``amis.scanner``) → render. An AMI named in a path is looked up through the
visibility selector first (404 when invisible); changing its trust needs its owner or a moderator.
"""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amis import signatures
from amis.models import AMISignature
from amis.scanner import ami_scan_request, finding_explain, scan_exception_active, scan_exception_create
from amis.selectors import ami_get_visible_or_404, ami_require_manage
from amis.serializers import ScanFindingOutputSerializer
from registry.models import PublisherKey
from registry.permissions import moderator_required
from registry.schema_errors import errors


def _ami_managed_or_error(request, ref: str):
    """The AMI if the caller owns it or moderates; invisible → 404, foreign → 403."""
    ami = ami_get_visible_or_404(user=request.user, ref=ref)
    ami_require_manage(user=request.user, ami=ami)
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


class AmiManifestApi(APIView):
    """GET the canonical manifest of an AMI (rebuilt from DescribeImages) and the exact bytes to sign."""

    @extend_schema(responses={200: inline_serializer("AMIManifestOutput", {
        "manifest": ManifestSerializer, "canonical": serializers.CharField()}), **errors(404, 503)},
                   tags=["trust"])
    def get(self, request, ami: str):
        entry = ami_get_visible_or_404(user=request.user, ref=ami)
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


class AmiSignatureApi(APIView):
    """GET: the AMI's signature history (owner/moderator). POST: verify a signature (owner):
    200 when valid, 422 with ``code`` = the precise failure otherwise (recorded either way)."""

    class InputSerializer(serializers.Serializer):
        signature = serializers.CharField(max_length=400, help_text="Base64 Ed25519 signature of the manifest.")
        key_fingerprint = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
        manifest = serializers.JSONField(required=False, help_text="The manifest you signed (diagnostics only).")

    @extend_schema(responses={200: AMISignatureOutputSerializer(many=True), **errors(401, 403, 404)}, tags=["trust"])
    def get(self, request, ami: str):
        entry = _ami_managed_or_error(request, ami)
        return Response(AMISignatureOutputSerializer(entry.signatures.all()[:50], many=True).data)

    @extend_schema(request=InputSerializer,
                   responses={200: AMISignatureOutputSerializer, **errors(400, 401, 403, 404, 422, 503)}, tags=["trust"])
    def post(self, request, ami: str):
        entry = _ami_managed_or_error(request, ami)
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
    findings = serializers.SerializerMethodField(help_text="Every check that did not pass, explained.")
    checks = serializers.ListField(child=serializers.CharField())
    scanners = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField()
    region = serializers.CharField()
    ami_id = serializers.CharField(source="image_id")
    scanned_at = serializers.DateTimeField()

    @extend_schema_field(ScanFindingOutputSerializer(many=True))
    def get_findings(self, obj) -> list[dict]:
        return [finding_explain(f) for f in obj.findings or []]


class AmiScanApi(APIView):
    """GET: the AMI's scan verdict, newest findings and active exception (anyone who can see it).
    POST: scan now (owner or moderator) → 202 with the scan Operation."""

    @extend_schema(responses={200: inline_serializer("AMIScanOutput", {
        "scan_status": serializers.CharField(),
        "security_score": serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True),
        "latest": ScanResultOutputSerializer(allow_null=True),
        "exception": ScanExceptionOutputSerializer(allow_null=True)}), **errors(404)}, tags=["trust"])
    def get(self, request, ami: str):
        entry = ami_get_visible_or_404(user=request.user, ref=ami)
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
        entry = _ami_managed_or_error(request, ami)
        operation = ami_scan_request(ami=entry, user=request.user)
        operation.refresh_from_db()
        return Response({"operation": ScanOperationOutputSerializer(operation).data},
                        status=status.HTTP_202_ACCEPTED)


class AmiScanExceptionApi(APIView):
    """POST (moderators): allow approving despite a failed scan until ``expires_at``, with a reason."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)
        expires_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: ScanExceptionOutputSerializer, **errors(400, 401, 403, 404)},
                   tags=["trust"])
    def post(self, request, ami: str):
        moderator_required(request.user, message="only moderators may record scan exceptions")
        entry = ami_get_visible_or_404(user=request.user, ref=ami)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exception = scan_exception_create(ami=entry, moderator=request.user, **data.validated_data)
        return Response(ScanExceptionOutputSerializer(exception).data, status=status.HTTP_201_CREATED)
