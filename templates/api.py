"""REST API for workstation templates (API.md, *Workstation templates*). Thin: parse, call, render."""
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.generics import ListAPIView
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.errors import InvalidInput, NotFound
from registry.permissions import IsModerator
from templates.filters import TemplateFilter
from templates.selectors import template_get, template_list
from templates.serializers import (
    TemplateDetailOutputSerializer,
    TemplateListOutputSerializer,
    TemplateValidateOutputSerializer,
    TemplateYamlInputSerializer,
)
from templates.services import template_create, template_replace, template_validate
from templates.yaml_parse import DOCUMENT_PATH, MAX_BYTES

TEMPLATE_PARAM = OpenApiParameter("template", OpenApiTypes.STR, OpenApiParameter.PATH,
                                  description="the template's slug or its exact name (URL-encoded)")
ERROR_RESPONSES = {
    400: OpenApiResponse(description="invalid template: `errors` maps dotted paths to messages"),
    401: OpenApiResponse(description="not authenticated"),
    403: OpenApiResponse(description="not a moderator"),
}


class YamlTextParser(BaseParser):
    """A raw YAML body (``Content-Type: application/yaml`` or ``text/plain``) is read as ``{"yaml": ...}``,
    so ``curl --data-binary @template.yml`` works. Bytes are passed on undecoded: the validator
    reports non-UTF-8 input itself."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return {"yaml": stream.read() if stream is not None else b""}


class _RawYamlParser(YamlTextParser):
    media_type = "application/yaml"


class _RawYamlParserX(YamlTextParser):
    media_type = "application/x-yaml"


class _TextParser(YamlTextParser):
    media_type = "text/plain"


def _yaml_from(request):
    """The YAML text of a request body, raising ``InvalidInput`` (400) for a body that is not an
    object with a ``yaml`` string."""
    try:
        data = request.data
    except (ParseError, UnsupportedMediaType) as exc:
        raise InvalidInput(f"the request body must be a JSON object with a 'yaml' string ({exc.detail})")
    if not hasattr(data, "get"):
        raise InvalidInput("the request body must be a JSON object with a 'yaml' string",
                           errors={DOCUMENT_PATH: ["the request body must be a JSON object"]})
    return data.get("yaml")


class TemplateListCreateApi(ListAPIView):
    """``GET /templates/`` (anyone) and ``POST /templates/`` (moderators)."""

    serializer_class = TemplateListOutputSerializer
    filterset_class = TemplateFilter
    parser_classes = [JSONParser, FormParser, MultiPartParser, _RawYamlParser, _RawYamlParserX, _TextParser]

    def get_permissions(self):
        return [IsModerator()] if self.request.method == "POST" else [AllowAny()]

    def get_queryset(self):
        return template_list()

    @extend_schema(tags=["templates"], summary="List workstation templates",
                   responses={200: TemplateListOutputSerializer(many=True)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=["templates"], summary="Create a template from YAML (moderators)",
                   request=TemplateYamlInputSerializer,
                   responses={201: TemplateDetailOutputSerializer, **ERROR_RESPONSES,
                              409: OpenApiResponse(description="a template with that name or slug exists")})
    def post(self, request):
        source = _yaml_from(request)
        if not isinstance(source, (str, bytes)):
            raise InvalidInput("yaml is required and must be a string", errors={DOCUMENT_PATH: ["yaml is required"]})
        template = template_create(source_yaml=source, actor=request.user)
        return Response(TemplateDetailOutputSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    """``GET /templates/{template}`` (anyone) and ``PUT /templates/{template}`` (moderators)."""

    parser_classes = [JSONParser, FormParser, MultiPartParser, _RawYamlParser, _RawYamlParserX, _TextParser]

    def get_permissions(self):
        return [IsModerator()] if self.request.method == "PUT" else [AllowAny()]

    def _get(self, ref: str):
        template = template_get(ref)
        if template is None:
            raise NotFound(f"template '{ref[:200]}' not found")
        return template

    @extend_schema(tags=["templates"], summary="One workstation template", parameters=[TEMPLATE_PARAM],
                   responses={200: TemplateDetailOutputSerializer, 404: OpenApiResponse(description="unknown template")})
    def get(self, request, template: str):
        return Response(TemplateDetailOutputSerializer(self._get(template)).data)

    @extend_schema(tags=["templates"], summary="Replace a template with new YAML (moderators)",
                   parameters=[TEMPLATE_PARAM], request=TemplateYamlInputSerializer,
                   responses={200: TemplateDetailOutputSerializer, **ERROR_RESPONSES,
                              404: OpenApiResponse(description="unknown template"),
                              409: OpenApiResponse(description="the new name/slug belongs to another template, "
                                                               "or a child template would become invalid")})
    def put(self, request, template: str):
        current = self._get(template)
        source = _yaml_from(request)
        if not isinstance(source, (str, bytes)):
            raise InvalidInput("yaml is required and must be a string", errors={DOCUMENT_PATH: ["yaml is required"]})
        outcome = template_replace(template=current, source_yaml=source, actor=request.user)
        return Response(TemplateDetailOutputSerializer(outcome.template).data)


class TemplateValidateApi(APIView):
    """``POST /templates/validate``: anyone; a 200 answer for any text, a 400 envelope only for a
    body that is not an object (e.g. malformed JSON, a JSON list)."""

    permission_classes = [AllowAny]
    # NOTE: token auth only — no session authentication means no CSRF check, so any client
    # (browser page, curl, cws) can validate; validation does not depend on who asks.
    authentication_classes = [TokenAuthentication]
    parser_classes = [JSONParser, FormParser, MultiPartParser, _RawYamlParser, _RawYamlParserX, _TextParser]

    @extend_schema(tags=["templates"], summary="Validate a template text (anyone)",
                   description="Always 200 with `valid`, `errors` by dotted path and the parsed `template` "
                               "(parents merged in when valid). Parents are looked up among stored templates.",
                   request=TemplateYamlInputSerializer,
                   responses={200: TemplateValidateOutputSerializer,
                              400: OpenApiResponse(description="the body is not a JSON object")})
    def post(self, request):
        try:
            source = _yaml_from(request)
        except RequestDataTooBig:
            return Response({"valid": False, "template": None,
                             "errors": {DOCUMENT_PATH: [f"document is larger than {MAX_BYTES} bytes "
                                                        f"({MAX_BYTES // 1024} KiB)"]}})
        if source is not None and not isinstance(source, (str, bytes)):
            return Response({"valid": False, "template": None,
                             "errors": {DOCUMENT_PATH: ["yaml must be a string"]}})
        result = template_validate(source_yaml=source)
        return Response({"valid": result.valid, "errors": result.errors,
                         "template": result.merged if result.valid else result.document})
