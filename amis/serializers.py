"""Output serializers of the catalogue API (API.md, *Community AMIs*). Input serializers live
inside each view (one per endpoint, HackSoft style); these shapes are shared because API.md
defines one AMI object for every endpoint that returns one."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers

from amis.models import AMI, AMIRegion
from registry.representation import PlannedRepresentation


# The ``{ami}`` of every path under /amis/ (the catalogue's, ratings' and sharing's endpoints).
AMI_PARAM = OpenApiParameter("ami", OpenApiTypes.STR, OpenApiParameter.PATH,
                             description="Registry uuid, canonical AMI id or any regional copy's AMI id.")


class AMIRegionOutputSerializer(PlannedRepresentation, serializers.Serializer):
    region = serializers.CharField()
    ami_id = serializers.CharField(source="image_id")
    state = serializers.CharField()
    source = serializers.SerializerMethodField(help_text='Region it was copied from, or "origin" for the source.')
    last_tested = serializers.DateTimeField(allow_null=True)

    def get_source(self, obj: AMIRegion) -> str:
        return "origin" if obj.is_source else (obj.copied_from or "")


class AuthorSerializer(serializers.Serializer):
    name = serializers.CharField()
    orcid = serializers.CharField(help_text='0000-0002-1825-0097 form, or "".')


class LinkSerializer(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.URLField()
    doi = serializers.CharField(required=False)


class FundingSerializer(serializers.Serializer):
    funder = serializers.CharField()
    award = serializers.CharField()


class AMIOutputSerializer(PlannedRepresentation, serializers.Serializer):
    """The AMI object. Needs ``regions`` prefetched and ``template``/``creator`` selected (the
    selectors do it), so a page costs a constant number of queries. Represented by a plan made
    once per page (``registry.representation``): the same output as DRF's, for less CPU."""

    id = serializers.UUIDField()
    ami_id = serializers.CharField()
    source_region = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    template = serializers.CharField(source="template.slug", read_only=True, allow_null=True,
                                     help_text="The template's slug, or null.")
    version = serializers.CharField()
    category = serializers.CharField()
    architecture = serializers.ChoiceField(choices=AMI.Architecture.choices)
    platform = serializers.CharField()
    tags = serializers.SerializerMethodField()
    creator = serializers.CharField(source="creator.username", read_only=True, allow_null=True,
                                    help_text="The creator's username, or null (erased account).")
    status = serializers.ChoiceField(choices=AMI.Status.choices)
    status_reason = serializers.CharField()
    visibility = serializers.ChoiceField(choices=AMI.Visibility.choices)
    verified = serializers.BooleanField()
    signature_valid = serializers.BooleanField(allow_null=True)
    scan_status = serializers.ChoiceField(choices=AMI.ScanStatus.choices)
    security_score = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True, coerce_to_string=False)
    size_gb = serializers.IntegerField(allow_null=True)
    rating_avg = serializers.DecimalField(max_digits=3, decimal_places=2, coerce_to_string=False)
    rating_count = serializers.IntegerField()
    download_count = serializers.IntegerField()
    regions = AMIRegionOutputSerializer(many=True)
    owner_account_id = serializers.CharField()
    image_name = serializers.CharField()
    image_creation_date = serializers.CharField()
    boot_mode = serializers.CharField()
    ena_support = serializers.BooleanField(allow_null=True)
    imds_support = serializers.CharField()
    replacement = serializers.SerializerMethodField(help_text="AMI id of the replacement of a deprecated entry "
                                                              "(for a version of a lineage: the next version).")
    lineage = serializers.UUIDField(source="lineage_id", allow_null=True,
                                    help_text="The lineage this entry is a version of (GET /lineages/{id}), or null.")
    # Research metadata (amis.research): how to cite the image and what it belongs to.
    doi = serializers.CharField(help_text='Bare DOI ("" when none).')
    authors = AuthorSerializer(many=True)
    papers = LinkSerializer(many=True)
    datasets = LinkSerializer(many=True)
    notebooks = LinkSerializer(many=True)
    license = serializers.CharField(help_text='SPDX licence id ("" when none).')
    funding = FundingSerializer(many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)
    deprecated_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.DictField(child=serializers.CharField(allow_blank=True)))
    def get_tags(self, obj: AMI) -> dict:
        # Services store {key: value}; tolerate a list written by older code rather than fail the page.
        if isinstance(obj.tags, dict):
            return {str(k): "" if v is None else str(v) for k, v in obj.tags.items()}
        if isinstance(obj.tags, list):
            return {str(t): "" for t in obj.tags}
        return {}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_replacement(self, obj: AMI) -> str | None:
        # The selectors select_related("replacement"): no query per row.
        return obj.replacement.ami_id if obj.replacement_id else None

class ShareBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    grantee_type = serializers.CharField()
    grantee = serializers.CharField()
    permission = serializers.CharField()
    sync_state = serializers.CharField()
    created_at = serializers.DateTimeField()


class LineageBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    owner = serializers.CharField(allow_null=True)


class NewerVersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    ami_id = serializers.CharField()
    registry_id = serializers.UUIDField()


class VersionInfoSerializer(serializers.Serializer):
    lineage = LineageBriefSerializer()
    channels = serializers.ListField(child=serializers.CharField(), help_text="Channels pointing at this version.")
    newer_version = NewerVersionSerializer(allow_null=True, help_text="The newest approved version, when newer.")


class ChannelMovedSerializer(serializers.Serializer):
    channel = serializers.CharField()
    from_version = serializers.CharField()
    to_version = serializers.CharField(allow_null=True, help_text="null: the channel is now empty.")
    to_ami = serializers.CharField(allow_null=True)
class ScanFindingOutputSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The check's id, e.g. imdsv2_required.")
    severity = serializers.ChoiceField(choices=["critical", "high", "medium", "low", "info"])
    message = serializers.CharField(help_text="What the scanner saw on this image.")
    scanner = serializers.CharField()
    title = serializers.CharField(help_text="A short name of the finding.")
    meaning = serializers.CharField(help_text="What it means for someone launching the image, and what fixes it.")
    effect = serializers.CharField(help_text="What it does to the verdict: blocks approval, or points off the score.")


class ScanReportOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["passed", "failed", "error"])
    security_score = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True, coerce_to_string=False)
    scanned_at = serializers.DateTimeField()
    checks_run = serializers.IntegerField()
    checks_passed = serializers.IntegerField()
    findings = ScanFindingOutputSerializer(many=True, help_text="Every check that did not pass, blocking ones first.")


class LaunchDetailOutputSerializer(serializers.Serializer):
    region = serializers.CharField()
    ami_id = serializers.CharField(help_text="The image id in this region.")
    cws = serializers.ListField(child=serializers.CharField(), help_text="CloudWorkstation commands (templates only).")
    aws_cli = serializers.CharField(help_text="An `aws ec2 run-instances` line for this region.")


class AMIDetailOutputSerializer(AMIOutputSerializer):
    """The AMI object plus its rating histogram, its newest scan (explained), how to launch it
    and, for its owner/moderators, its grants."""

    scan = ScanReportOutputSerializer(allow_null=True, help_text="The newest scan with every finding explained; "
                                                                 "null when never scanned.")
    launch = LaunchDetailOutputSerializer(many=True, help_text="Per available region; empty for drafts, "
                                                               "pending, rejected and revoked entries.")

    rating_histogram = serializers.DictField(child=serializers.IntegerField(),
                                             help_text='{"1": n, ..., "5": n} over visible ratings.')
    shares = ShareBriefSerializer(many=True, allow_null=True,
                                  help_text="Grants (owner and moderators only; null for others).")
    owner_account_verified_by = serializers.CharField(
        allow_null=True, required=False,
        help_text="Owner and moderators only: the publisher who verified owner_account_id (a linked AWS "
                  "account), or null when the image was claimed by tag or is the registry's own.")
    version_info = VersionInfoSerializer(allow_null=True, help_text="For a version of a lineage: the lineage, "
                                                                    "the channels pointing at it, a newer version.")


class AMIRetiredOutputSerializer(AMIDetailOutputSerializer):
    """The answer of a deprecation or revocation: the AMI, and the channels that moved away from it."""

    channels_moved = ChannelMovedSerializer(many=True)


class AMIListOutputSerializer(serializers.Serializer):
    """The paginated envelope of ``GET /amis/`` with facet counts (for the OpenAPI schema)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AMIOutputSerializer(many=True)
    facets = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()),
                                   help_text="{category|architecture|region|template: {value: count}}")


class AMIStatsOutputSerializer(serializers.Serializer):
    download_count = serializers.IntegerField()
    downloads_by_region = serializers.DictField(child=serializers.IntegerField())
    downloads_by_day = serializers.DictField(child=serializers.IntegerField(), help_text="ISO date → count")
    rating_histogram = serializers.DictField(child=serializers.IntegerField())


class DownloadOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ami = serializers.UUIDField(source="ami_id")
    region = serializers.CharField()
    client = serializers.CharField()
    at = serializers.DateTimeField()
    download_count = serializers.IntegerField()


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans (DRF's silently turns 123 into "123")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class TagsField(serializers.JSONField):
    """``{key: value}`` tags (a list of strings is accepted as keys); checked in the services."""

    def to_internal_value(self, data):
        if not isinstance(data, (dict, list)):
            raise serializers.ValidationError("Must be an object of key → value (or a list of strings).")
        return super().to_internal_value(data)
