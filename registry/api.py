"""Accounts API: register and token (the kernel's). ``/me`` — the profile and its erasure — and
the GDPR export are composed across apps in ``registry.composers.gdpr_api``."""
from django.contrib.auth import authenticate
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.lockout import login_locked_out, lockout_message
from registry.schema_errors import errors
from registry.errors import InvalidInput
from registry.services import user_register, user_token_get_or_create
from registry.login_limits import LoginRateThrottle


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

    def get_throttles(self):
        # The login budget per client IP, shared with the browser and admin login pages.
        return [*super().get_throttles(), LoginRateThrottle()]

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
            raise Throttled(wait=wait, detail=lockout_message(wait))
        # A failure fires user_login_failed: registry/signals.py audits it once and counts it.
        user = authenticate(request, username=username, password=data.validated_data["password"])
        if user is None:
            raise InvalidInput("Unable to log in with the provided credentials.", code="invalid_credentials",
                               errors={"non_field_errors": ["Unable to log in with the provided credentials."]})
        return Response({"token": user_token_get_or_create(user=user).key})
