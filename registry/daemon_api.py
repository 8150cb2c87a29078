"""What the real cws client asks of its daemon before AMI commands: ``GET /api/v1/ping`` and
``GET /api/v1/status`` (``CheckVersionCompatibility`` reads ``version``: the major must equal the
client's and the minor be at least the client's). ``version`` is the cws protocol version this
registry speaks (``REGISTRY_CWS_PROTOCOL_VERSION``); the registry's own is ``registry_version``."""
from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.regions import request_region

TAGS = ["daemon"]


class PingApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: inline_serializer("PingOutput", {"status": serializers.CharField()})},
                   tags=TAGS, summary="Liveness for the cws client (Ping)")
    def get(self, request):
        return Response({"status": "ok"})


class StatusApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: inline_serializer("DaemonStatusOutput", {
        "status": serializers.CharField(), "version": serializers.CharField(
            help_text="cws protocol version (major.minor.patch) the client checks"),
        "registry_version": serializers.CharField(), "api_version": serializers.CharField(),
        "aws_region": serializers.CharField(help_text="The region a request without ?region= uses for you"),
        "authenticated": serializers.BooleanField(), "current_time": serializers.DateTimeField()})},
        tags=TAGS, summary="Server status and version (cws CheckVersionCompatibility)")
    def get(self, request):
        return Response({
            "status": "running",
            "version": settings.REGISTRY_CWS_PROTOCOL_VERSION,
            "registry_version": settings.SPECTACULAR_SETTINGS.get("VERSION", ""),
            "api_version": "v1",
            "aws_region": request_region(request),
            "authenticated": bool(request.user and request.user.is_authenticated),
            "current_time": timezone.now(),
        })
