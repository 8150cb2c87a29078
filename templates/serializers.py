"""Output serializers for workstation templates (read-only views of ``Template``)."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from templates.models import Template


class TemplateListOutputSerializer(serializers.ModelSerializer):
    """One template in a list: identity, the facts a client filters on, and its ``ami_config``."""

    long_description = serializers.SerializerMethodField()
    architectures = serializers.ListField(child=serializers.CharField(), read_only=True)
    package_manager = serializers.CharField(read_only=True)
    strategy = serializers.CharField(read_only=True, help_text="ami_config.strategy (default ami_preferred)")
    inherits = serializers.ListField(child=serializers.CharField(), read_only=True)
    tags = serializers.SerializerMethodField()
    ami_config = serializers.SerializerMethodField()
    instance_defaults = serializers.SerializerMethodField()

    class Meta:
        model = Template
        fields = ["name", "slug", "description", "long_description", "category", "base", "architectures",
                  "package_manager", "strategy", "inherits", "version", "tags", "ami_config", "instance_defaults",
                  "created_at", "updated_at"]

    def get_long_description(self, obj) -> str:
        value = obj.document.get("long_description")
        return value if isinstance(value, str) else ""

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_tags(self, obj):
        value = obj.document.get("tags")
        return {k: ("" if v is None else str(v)) for k, v in value.items()} if isinstance(value, dict) else {}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_ami_config(self, obj):
        return obj.ami_config

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_instance_defaults(self, obj):
        value = obj.document.get("instance_defaults")
        return value if isinstance(value, dict) else {}


class TemplateDetailOutputSerializer(TemplateListOutputSerializer):
    """One template in full: the list fields plus packages, the merged document and the source."""

    packages = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), read_only=True)
    document = serializers.JSONField(read_only=True, help_text="the template with its parents merged in")

    class Meta(TemplateListOutputSerializer.Meta):
        fields = [*TemplateListOutputSerializer.Meta.fields, "packages", "document", "source_yaml"]


class TemplateYamlInputSerializer(serializers.Serializer):
    yaml = serializers.CharField(trim_whitespace=False, help_text="the template's YAML text (at most 256 KiB)")


class TemplateValidateOutputSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="{dotted.path: [messages]}, e.g. ami_config.ami_mappings.us-east-1")
    template = serializers.JSONField(allow_null=True,
                                     help_text="the parsed template (parents merged when valid), or null")
