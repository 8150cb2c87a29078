"""REST endpoints of the GDPR use-cases, which span every app: the caller's profile and its
erasure (``/me``), the export (``/me/export``) and a moderator's erasure of another account
(``/users/{username}``). Thin: parse → one composer service (``registry.composers.gdpr``) → render."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.composers.gdpr import user_erase, user_export
from registry.errors import NotFound
from registry.permissions import IsModerator, is_moderator
from registry.regions import user_default_region, user_default_region_set
from registry.schema_errors import errors
from registry.selectors import community_list_for_user


class MeEraseInputSerializer(serializers.Serializer):
    reviews = serializers.ChoiceField(choices=["anonymise", "delete"], default="anonymise",
                                      help_text="Keep your reviews as 'deleted user', or delete them.")


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        email = serializers.EmailField()
        is_moderator = serializers.BooleanField()
        communities = serializers.ListField(child=serializers.CharField())
        default_region = serializers.CharField(
            help_text='Region used when a request names none and sends no X-AWS-Region ("" = AWS_DEFAULT_REGION)')

    class UpdateSerializer(serializers.Serializer):
        default_region = serializers.CharField(max_length=32, allow_blank=True,
                                               help_text='An AWS region, or "" to clear it')

    def _body(self, user) -> dict:
        return {
            "username": user.username,
            "email": user.email,
            "is_moderator": is_moderator(user),
            "communities": list(community_list_for_user(user=user).values_list("slug", flat=True)),
            "default_region": user_default_region(user),
        }

    @extend_schema(responses={200: OutputSerializer, **errors(401)}, tags=["auth"])
    def get(self, request):
        return Response(self._body(request.user))

    @extend_schema(request=UpdateSerializer, responses={200: OutputSerializer, **errors(400, 401)}, tags=["auth"],
                   summary="Update the caller's settings (default region)")
    def patch(self, request):
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_default_region_set(user=request.user, region=data.validated_data["default_region"])
        return Response(self._body(request.user))

    @extend_schema(request=MeEraseInputSerializer, responses={204: None, **errors(400, 401)}, tags=["auth"])
    def delete(self, request):
        """Erase the caller's account (GDPR, registry/composers/gdpr.py): 204, then every token stops working."""
        data = MeEraseInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        user_erase(user=request.user, actor=request.user, reviews=data.validated_data["reviews"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeExportApi(APIView):
    """GET every personal datum held about the caller, as one JSON document (GDPR; audited)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: inline_serializer("UserExport", {
        "format": serializers.CharField(), "exported_at": serializers.DateTimeField(),
        "profile": serializers.DictField(), "memberships": serializers.ListField(child=serializers.DictField()),
        "publisher_keys": serializers.ListField(child=serializers.DictField()),
        "signatures": serializers.ListField(child=serializers.DictField()),
        "amis": serializers.ListField(child=serializers.DictField()),
        "ratings": serializers.ListField(child=serializers.DictField()),
        "downloads": serializers.ListField(child=serializers.DictField()),
        "shares_made": serializers.ListField(child=serializers.DictField()),
        "shares_received": serializers.ListField(child=serializers.DictField()),
        "operations": serializers.ListField(child=serializers.DictField()),
        "scan_exceptions_recorded": serializers.ListField(child=serializers.DictField()),
        "audit_events": serializers.ListField(child=serializers.DictField())}), **errors(401)}, tags=["auth"])
    def get(self, request):
        response = Response(user_export(user=request.user))
        response["Content-Disposition"] = f'attachment; filename="registry-export-{request.user.username}.json"'
        return response


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
        target = get_user_model().objects.filter(username=username).first()
        if target is None:
            raise NotFound("no such user")
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        summary = user_erase(user=target, actor=request.user, **data.validated_data)
        return Response(summary)
