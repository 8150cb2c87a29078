"""Accounts API: register, token, me."""
from django.contrib.auth import authenticate
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.lockout import login_locked_out
from registry.schema_errors import errors
from registry.errors import InvalidInput
from registry.permissions import is_moderator
from registry.selectors import community_list_for_user
from registry.services import user_register, user_token_get_or_create


# Passwords never appear in Django's error reports (500 mails/logs show POST data otherwise).
@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class RegisterApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150,
                                          error_messages={"invalid": "Letters, digits and @/./+/-/_ only."})
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()
        token = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, **errors(400, 409)}, tags=["auth"])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = user_register(**data.validated_data)
        return Response({"username": user.username, "token": token.key}, status=status.HTTP_201_CREATED)


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class TokenApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(request=InputSerializer,
                   responses={200: inline_serializer("TokenOutput", {"token": serializers.CharField()}),
                              **errors(400, 429)},
                   tags=["auth"])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        wait = login_locked_out(username=username, request=request)
        if wait:
            # Checked before authenticate(): a locked-out caller learns nothing about the password.
            raise Throttled(wait=wait, detail="Too many failed logins; try again later.")
        # A failure fires user_login_failed: registry/signals.py audits it once and counts it.
        user = authenticate(request, username=username, password=data.validated_data["password"])
        if user is None:
            raise InvalidInput("Unable to log in with the provided credentials.", code="invalid_credentials",
                               errors={"non_field_errors": ["Unable to log in with the provided credentials."]})
        return Response({"token": user_token_get_or_create(user=user).key})


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

    @extend_schema(responses={200: OutputSerializer, **errors(401)}, tags=["auth"])
    def get(self, request):
        user = request.user
        return Response({
            "username": user.username,
            "email": user.email,
            "is_moderator": is_moderator(user),
            "communities": list(community_list_for_user(user=user).values_list("slug", flat=True)),
        })

    @extend_schema(request=MeEraseInputSerializer, responses={204: None, **errors(400, 401)}, tags=["auth"])
    def delete(self, request):
        """Erase the caller's account (GDPR, registry/gdpr.py): 204, then every token stops working."""
        from registry.gdpr import user_erase

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
        from registry.gdpr import user_export

        response = Response(user_export(user=request.user))
        response["Content-Disposition"] = f'attachment; filename="registry-export-{request.user.username}.json"'
        return response
