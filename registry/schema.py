"""OpenAPI schema generation tweaks (drf-spectacular)."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


class RegistryAutoSchema(AutoSchema):
    """Names nested serializers after their view: ``MeApi.OutputSerializer`` → ``MeOutput``.

    The house style nests ``InputSerializer``/``OutputSerializer`` inside each view (HackSoft);
    without this every one of them would be the component "Input"/"Output" and collide.
    """

    def get_serializer_name(self, serializer, direction):
        cls = serializer if isinstance(serializer, type) else serializer.__class__
        parts = cls.__qualname__.split(".")
        if len(parts) > 1:
            outer = parts[-2]
            for suffix in ("Api", "View", "ViewSet"):
                if outer.endswith(suffix) and len(outer) > len(suffix):
                    outer = outer[: -len(suffix)]
                    break
            return outer + parts[-1]
        return super().get_serializer_name(serializer, direction)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """``X-API-Key: <token>`` (registry/authentication.py), the cws client's credential."""

    target_class = "registry.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-API-Key",
                "description": "The same token as `Authorization: Token <key>`"}
