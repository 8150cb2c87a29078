"""REST endpoints of API.md *Community AMIs* (thin: parse → one service/selector → render).

Every endpoint that names an AMI looks it up through ``amis.selectors.ami_get_visible_or_404`` first:
an AMI the caller may not see answers 404 everywhere, before any permission check (403 only
for an AMI the caller can see but may not change), so private entries never leak.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from django.http import HttpResponse
from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from amis import citation, downloads, metadata, selectors, services
from amis.filters import ORDERINGS, AMIFilter
from amis.lineage_selectors import ami_version_facts, channel_moves_away
from amis.models import AMI, ChannelMove
from amis.scanner import ami_scan_report
from amis.selectors import ami_get_visible_or_404
from amis.ownership import ami_owner_account_verified_by
from amis.serializers import (AMIDetailOutputSerializer, AMIListOutputSerializer, AMIOutputSerializer,
                              AMIRetiredOutputSerializer, AMIStatsOutputSerializer, DownloadOutputSerializer,
                              LaunchDetailOutputSerializer, ScanReportOutputSerializer, ShareBriefSerializer,
                              StrictCharField, TagsField)
from registry.aws import COMMERCIAL_REGIONS
from registry.errors import InvalidInput
from registry.representation import RenderedJSON, SplicingJSONRenderer
from registry.permissions import moderator_required
from registry.schema_errors import error_response

TAGS = ["amis"]
ERRORS = {400: error_response(400, "Invalid input (envelope with `errors`)"),
          403: error_response(403, "Visible but not yours to change"),
          404: error_response(404, "Unknown or invisible to you"),
          409: error_response(409, "State conflict: an illegal transition (`current_status` names the "
                                "status) or an image already registered")}


def _param(name: str, description: str, type_=OpenApiTypes.STR, enum=None) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, required=False, description=description, enum=enum)


def ami_objects(amis: list[AMI]) -> list[RenderedJSON]:
    """The API's AMI objects of ``amis``, rendered (a page of browse; cached per row by the
    selector and spliced into the response by ``SplicingJSONRenderer``)."""
    return [SplicingJSONRenderer.render_value(obj) for obj in AMIOutputSerializer(amis, many=True).data]


def _browse_parameters() -> list[OpenApiParameter]:
    return [
        _param("q", "Full-text search over name, description, tags, template and creator; every word is "
                    "matched as a prefix (`pyto` finds PyTorch)."),
        _param("category", "Category (case-insensitive)."),
        _param("architecture", "CPU architecture.", enum=AMI.Architecture.values),
        _param("region", "Has an available copy in this region.", enum=list(COMMERCIAL_REGIONS)),
        _param("template", "Template slug (or exact name)."),
        _param("creator", "Creator's username."),
        _param("verified", "Only verified (true/1) or unverified (false/0) entries.", enum=["true", "false", "1", "0"]),
        _param("min_rating", "Minimum average rating (0–5).", OpenApiTypes.NUMBER),
        _param("has_doi", "Only entries with (true/1) or without (false/0) a DOI.", enum=["true", "false", "1", "0"]),
        _param("status", "Narrows what is visible to you (default: everything visible but revoked).",
               enum=AMI.Status.values),
        _param("ordering", "Sort order; default `best` (Bayesian rating + downloads + freshness, deprecated "
                           "last), or relevance first when `q` is given.", enum=list(ORDERINGS)),
        _param("page", "Page number.", OpenApiTypes.INT),
        _param("page_size", "Results per page (max 100, default 25).", OpenApiTypes.INT),
    ]


def ami_for_request(request, ref: str) -> AMI:
    """The AMI named by ``ref`` if the caller may see it; 404 otherwise (never 403)."""
    return ami_get_visible_or_404(user=request.user, ref=ref)


def ami_detail_data(request, ami: AMI) -> dict:
    """The detail representation: AMI object + rating histogram + grants (owner/moderator only)."""
    data = dict(AMIOutputSerializer(ami).data)
    data["rating_histogram"] = selectors.ami_rating_histogram(ami=ami)
    report = ami_scan_report(ami=ami)
    data["scan"] = ScanReportOutputSerializer(report).data if report else None
    data["launch"] = LaunchDetailOutputSerializer(selectors.ami_launch_details(ami=ami), many=True).data
    if selectors.ami_can_manage(user=request.user, ami=ami):
        data["shares"] = ShareBriefSerializer(ami.shares.all(), many=True).data
        # Whose AWS account the image is in, as proven (moderators review it with the submission).
        data["owner_account_verified_by"] = ami_owner_account_verified_by(ami)
    data["version_info"] = ami_version_facts(ami=ami, user=request.user)
    return data


class AmiListCreateApi(GenericAPIView):
    """``GET /amis/`` browse/search with facets; ``POST /amis/`` register an existing image."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    filterset_class = AMIFilter  # read by drf-spectacular for the query parameters

    class InputSerializer(serializers.Serializer):
        ami_id = StrictCharField(max_length=21)
        region = StrictCharField(max_length=32)
        name = StrictCharField(max_length=metadata.NAME_MAX)
        description = StrictCharField(max_length=metadata.DESCRIPTION_MAX, required=False, allow_blank=True,
                                      default="")
        template = StrictCharField(max_length=200, required=False, allow_blank=True, allow_null=True,
                                   help_text="Template slug or exact name.")
        version = StrictCharField(max_length=metadata.VERSION_MAX, required=False, allow_blank=True, default="",
                                  help_text="Free text; SemVer (1.4.0) when a lineage is named.")
        lineage = StrictCharField(max_length=100, required=False, allow_blank=True, allow_null=True, default=None,
                                  help_text="Name of one of your lineages (created on first use): this image "
                                            "becomes its version `version`.")
        category = StrictCharField(max_length=metadata.CATEGORY_MAX, required=False, allow_blank=True, default="",
                                   help_text="Required unless a template is given (then it defaults to the "
                                             "template's category).")
        tags = TagsField(required=False, default=dict)
        visibility = serializers.ChoiceField(choices=AMI.Visibility.choices, default=AMI.Visibility.PRIVATE)
        signature = StrictCharField(max_length=4096, required=False, allow_null=True, allow_blank=True,
                                    help_text="Publisher signature (base64 Ed25519), verified by the trust app.")

        def validate(self, attrs):
            if not attrs.get("category") and not attrs.get("template"):
                raise serializers.ValidationError({"category": ["This field is required (or give a template)."]})
            return attrs

    def get_queryset(self):
        return selectors.ami_list_visible_to(user=self.request.user)

    @extend_schema(responses={200: AMIListOutputSerializer, 400: ERRORS[400]}, tags=TAGS, operation_id="amis_list",
                   parameters=_browse_parameters(), filters=False,
                   summary="Browse and search the AMIs visible to the caller, with facets")
    def get(self, request):
        result = selectors.ami_search(user=request.user, params=request.query_params)
        self.paginator.known_count = result.count
        page = self.paginate_queryset(result.queryset.represented("api", ami_objects))
        response = self.get_paginated_response(page)
        response.data["facets"] = result.facets
        return response

    @extend_schema(
        examples=[
            OpenApiExample("Register a private image", request_only=True, value={"ami_id": "ami-0123456789abcdef0", "region": "us-east-1", "name": "PyTorch 2.5 GPU", "description": "PyTorch 2.5 + CUDA 12.6", "template": "python-ml", "version": "2.5.0", "tags": {"cuda": "12.6"}, "visibility": "private"}),
        ],
        request=InputSerializer, responses={201: AMIDetailOutputSerializer, 400: ERRORS[400],
                                                       409: ERRORS[409]},
                   tags=TAGS, summary="Register an existing AWS image (created in draft)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["template"] = values.get("template") or None
        ami = services.ami_register(user=request.user, **values)
        ami = selectors.ami_get_visible(user=request.user, ref=str(ami.pk))
        return Response(ami_detail_data(request, ami), status=status.HTTP_201_CREATED)


class AmiDetailApi(APIView):
    """``GET/PATCH/DELETE /amis/{ami}``."""

    permission_classes = [IsAuthenticatedOrReadOnly]

    class UpdateInputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=metadata.NAME_MAX, required=False)
        description = StrictCharField(max_length=metadata.DESCRIPTION_MAX, required=False, allow_blank=True)
        tags = TagsField(required=False)
        category = StrictCharField(max_length=metadata.CATEGORY_MAX, required=False, allow_blank=True)
        version = StrictCharField(max_length=metadata.VERSION_MAX, required=False, allow_blank=True)
        # Research metadata: shapes here for the schema, every rule in amis.research (400 naming the field).
        doi = StrictCharField(required=False, allow_blank=True, help_text="DOI of the image (10.x/…); \"\" clears it.")
        authors = serializers.JSONField(required=False, help_text="[{name, orcid?}]; ORCID iDs are checksum-checked.")
        papers = serializers.JSONField(required=False, help_text="[{title, url, doi?}]")
        datasets = serializers.JSONField(required=False, help_text="[{title, url, doi?}]")
        notebooks = serializers.JSONField(required=False, help_text="[{title, url, doi?}]")
        license = StrictCharField(required=False, allow_blank=True, help_text="One SPDX licence id, e.g. MIT.")
        funding = serializers.JSONField(required=False, help_text="[{funder, award?}]")

    @extend_schema(responses={200: AMIDetailOutputSerializer, 404: ERRORS[404]}, tags=TAGS, operation_id="amis_retrieve",
                   summary="One AMI, with rating histogram (and grants for its owner/moderators)")
    def get(self, request, ami: str):
        return Response(ami_detail_data(request, ami_for_request(request, ami)))

    @extend_schema(request=UpdateInputSerializer, responses={200: AMIDetailOutputSerializer, **ERRORS}, tags=TAGS,
                   summary="Edit name, description, tags, category, version and research metadata (owner or "
                           "moderator)")
    def patch(self, request, ami: str):
        entry = ami_for_request(request, ami)
        if isinstance(request.data, dict):
            unknown = sorted(set(request.data) - set(services.EDITABLE_FIELDS))
            if unknown:
                raise InvalidInput(f"not editable: {', '.join(unknown)}",
                                   errors={k: ["This field cannot be changed here."] for k in unknown})
        data = self.UpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.ami_update(ami=entry, user=request.user, **data.validated_data)
        return Response(ami_detail_data(request, ami_for_request(request, ami)))

    @extend_schema(responses={204: None, **ERRORS}, tags=TAGS,
                   parameters=[_param("deregister", "Also deregister the images and delete their snapshots in "
                                                    "AWS (by a task after commit). Default false: AWS untouched.",
                                      enum=["true", "false", "1", "0"])],
                   summary="Delete a draft or rejected entry (owner)")
    def delete(self, request, ami: str):
        entry = ami_for_request(request, ami)
        flag = request.query_params.get("deregister", "false").lower()
        if flag not in ("true", "false", "1", "0"):
            raise InvalidInput("deregister: must be true or false", errors={"deregister": ["Must be true or false."]})
        services.ami_delete(ami=entry, user=request.user, deregister=flag in ("true", "1"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AmiSubmitApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        description = StrictCharField(max_length=metadata.DESCRIPTION_MAX, required=False, allow_blank=True)
        public = serializers.BooleanField(required=False, allow_null=True, default=None,
                                          help_text="true → public, false → private; omitted keeps it.")
        signature = StrictCharField(max_length=400, required=False, allow_null=True, allow_blank=True,
                                    help_text="Publisher signature of the manifest (422 with the reason if invalid).")

    @extend_schema(
        examples=[
            OpenApiExample("Submit for public listing", request_only=True, value={"public": True}),
            OpenApiExample("Submit as private (ready at once)", request_only=True, value={"public": False}),
        ],
        description="Owner only; from `draft` or `rejected`. The sharing rule: a private entry becomes `approved` "
                    "at once (no moderator) and its grantees see it immediately; a community or public entry (or "
                    "one asked to be public in AWS) goes to `pending_review` for a moderator, public ones are "
                    "scanned first. An optional `signature` is verified (422 when it does not match). Audited "
                    "`ami.submit`.",
        request=InputSerializer, responses={200: AMIDetailOutputSerializer, **ERRORS}, tags=TAGS,
                   summary="Submit a draft (or a fixed rejected entry) for review (owner)")
    def post(self, request, ami: str):
        entry = ami_for_request(request, ami)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.ami_submit(ami=entry, user=request.user, **data.validated_data)
        return Response(ami_detail_data(request, ami_for_request(request, ami)))


class AmiApproveApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        description="Moderators only. From `pending_review` to `approved` (409 `invalid_transition` from any other"
                    " status; 409 `scan_failed` when the last scan failed and no exception is active). A public "
                    "entry then appears in everyone's search. Audited `ami.approve`.",
        request=None, responses={200: AMIDetailOutputSerializer, **ERRORS}, tags=TAGS,
                   summary="Approve a pending entry (moderator)")
    def post(self, request, ami: str):
        entry = ami_for_request(request, ami)
        moderator_required(request.user)
        services.ami_approve(ami=entry, moderator=request.user)
        return Response(ami_detail_data(request, ami_for_request(request, ami)))


class _ReasonInput(serializers.Serializer):
    reason = StrictCharField(max_length=2000)


class AmiRejectApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(_ReasonInput):
        pass

    @extend_schema(
        description="Moderators only; from `pending_review`. The reason (required, up to 2,000 characters) is "
                    "shown to the owner as written. Audited `ami.reject`.",
        request=InputSerializer, responses={200: AMIDetailOutputSerializer, **ERRORS}, tags=TAGS,
                   summary="Reject a pending entry with a reason (moderator)")
    def post(self, request, ami: str):
        entry = ami_for_request(request, ami)
        moderator_required(request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.ami_reject(ami=entry, moderator=request.user, reason=data.validated_data["reason"])
        return Response(ami_detail_data(request, ami_for_request(request, ami)))


class AmiDeprecateApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
        replacement = StrictCharField(max_length=64, required=False, allow_blank=True, allow_null=True,
                                      help_text="The replacing AMI (registry uuid or AMI id).")

    @extend_schema(
        description="Owner or moderator; from `approved` only. `replacement` names the entry to use instead (uuid "
                    "or AMI id of an entry you can see). The images are marked deprecated in AWS by a task. "
                    "Audited `ami.deprecate`.",
        request=InputSerializer, responses={200: AMIRetiredOutputSerializer, **ERRORS}, tags=TAGS,
                   summary="Deprecate an approved entry, optionally naming its replacement (owner or moderator)")
    def post(self, request, ami: str):
        entry = ami_for_request(request, ami)
        selectors.ami_require_manage(user=request.user, ami=entry)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        replacement = None
        ref = data.validated_data.get("replacement")
        if ref:
            replacement = selectors.ami_get_visible(user=request.user, ref=ref)
            if replacement is None:
                raise InvalidInput(f"replacement: unknown AMI '{ref}'", errors={"replacement": ["Unknown AMI."]})
        services.ami_deprecate(ami=entry, user=request.user, reason=data.validated_data["reason"],
                               replacement=replacement)
        return Response({**ami_detail_data(request, ami_for_request(request, ami)),
                         "channels_moved": channel_moves_away(ami=entry, cause=ChannelMove.Cause.DEPRECATED)})


class AmiRevokeApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(_ReasonInput):
        pass

    @extend_schema(
        description="Moderators only; from `approved` or `deprecated`. A revoked entry is never resolved again, "
                    "leaves browse and its launch permissions are withdrawn in AWS (task). Audited `ami.revoke`.",
        request=InputSerializer, responses={200: AMIRetiredOutputSerializer, **ERRORS}, tags=TAGS,
        summary="Revoke an approved or deprecated entry (moderator): never resolved again; channels "
                "that pointed at it move back (listed in `channels_moved`)")
    def post(self, request, ami: str):
        entry = ami_for_request(request, ami)
        moderator_required(request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.ami_revoke(ami=entry, moderator=request.user, reason=data.validated_data["reason"])
        return Response({**ami_detail_data(request, ami_for_request(request, ami)),
                         "channels_moved": channel_moves_away(ami=entry, cause=ChannelMove.Cause.REVOKED)})


class AmiStatsApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        description="Anyone who can see the AMI. Counts of recorded downloads per region and per day (UTC) and the"
                    " histogram of visible ratings.",
        responses={200: AMIStatsOutputSerializer, 404: ERRORS[404]}, tags=TAGS,
                   summary="Downloads per region and per day, and the rating histogram")
    def get(self, request, ami: str):
        return Response(selectors.ami_stats(ami=ami_for_request(request, ami)))


class AmiDownloadCreateApi(APIView):
    """Anyone who can see an AMI may record a download/launch of it (the cws client does)."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        region = StrictCharField(max_length=32)
        client = StrictCharField(max_length=metadata.CLIENT_MAX, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={201: DownloadOutputSerializer, 400: ERRORS[400],
                                                       404: ERRORS[404], 409: ERRORS[409]},
                   tags=TAGS, summary="Record one download/launch (counted exactly once per call)")
    def post(self, request, ami: str):
        entry = ami_for_request(request, ami)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        download = downloads.download_record(ami=entry, user=request.user, **data.validated_data)
        download.download_count = AMI.objects.values_list("download_count", flat=True).get(pk=entry.pk)
        return Response(DownloadOutputSerializer(download).data, status=status.HTTP_201_CREATED)


def ami_page_url(request, ami: AMI) -> str:
    """The absolute URL of the AMI's page (what a citation points readers to)."""
    return request.build_absolute_uri(reverse("web:ami-detail", kwargs={"ref": ami.pk}))


class AmiCitationCffApi(APIView):
    """``GET /amis/{ami}/citation.cff``: CITATION.cff (CFF 1.2.0 YAML) with version and regional ids."""

    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "application/yaml"): OpenApiTypes.STR, 404: ERRORS[404]}, tags=TAGS,
                   operation_id="amis_citation_cff",
                   summary="How to cite the image: CITATION.cff (Citation File Format 1.2.0)")
    def get(self, request, ami: str):
        entry = ami_for_request(request, ami)
        body = citation.citation_cff(entry, url=ami_page_url(request, entry))
        response = HttpResponse(body, content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="CITATION.cff"'
        return response


class AmiCitationBibtexApi(APIView):
    """``GET /amis/{ami}/citation.bib``: one BibTeX ``@misc`` entry."""

    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "application/x-bibtex"): OpenApiTypes.STR, 404: ERRORS[404]}, tags=TAGS,
                   operation_id="amis_citation_bib",
                   summary="How to cite the image: a BibTeX entry")
    def get(self, request, ami: str):
        entry = ami_for_request(request, ami)
        body = citation.citation_bibtex(entry, url=ami_page_url(request, entry))
        response = HttpResponse(body, content_type="application/x-bibtex; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{citation.bibtex_key(entry)}.bib"'
        return response
