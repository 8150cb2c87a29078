"""REST endpoints of institution policies (docs/trust-and-compliance.md): an institution's policy
(read by its members, replaced by its admins and moderators) and the caller's effective policy.
Thin: parse → one service or selector of ``amis.policy`` → render."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amis.policy import community_policy_update, policy_for_user
from registry.errors import NotFound
from registry.models import Community, CommunityMembership
from registry.permissions import is_moderator
from registry.schema_errors import errors


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
        community = Community.objects.filter(slug=slug).first()
        if community is None or not (is_moderator(request.user) or CommunityMembership.objects.filter(
                community=community, user=request.user).exists()):
            raise NotFound("no such community")
        return community

    @extend_schema(
        summary="An institution's AMI policy",
        responses={200: CommunityPolicyOutputSerializer, **errors(401, 404)}, tags=["trust"])
    def get(self, request, slug: str):
        return Response(_policy_body(self._community(request, slug)))

    @extend_schema(
        summary="Replace an institution's AMI policy (its admins or moderators)",
        request=InputSerializer, responses={200: CommunityPolicyOutputSerializer,
                                                       **errors(400, 401, 403, 404)}, tags=["trust"])
    def put(self, request, slug: str):
        community = self._community(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        community = community_policy_update(community=community, user=request.user, **data.validated_data)
        return Response(_policy_body(community))


class MyPolicyApi(APIView):
    """GET the caller's effective policy (the strictest combination of their institutions')."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="The combined policy of my institutions",
        responses={200: inline_serializer("EffectivePolicy", {
        "sources": serializers.ListField(child=serializers.CharField()),
        "require_verified_signature": serializers.BooleanField(),
        "require_passed_scan": serializers.BooleanField(),
        "min_rating": serializers.FloatField(allow_null=True),
        "allowed_owner_accounts": serializers.ListField(child=serializers.CharField(), allow_null=True),
        "allowed_regions": serializers.ListField(child=serializers.CharField(), allow_null=True),
        "allowed_architectures": serializers.ListField(child=serializers.CharField(), allow_null=True),
        "blocked_amis": serializers.ListField(child=serializers.CharField())}), **errors(401)}, tags=["trust"])
    def get(self, request):
        return Response(policy_for_user(request.user).as_dict())
