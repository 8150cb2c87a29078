"""Routes of API.md *Community AMIs* (``/copy`` lives in ``amis.urls_aws``)."""
from django.urls import path

from amis import api, lineages_api
from amis import api, launches_api, software_api

urlpatterns = [
    path("amis/", api.AmiListCreateApi.as_view(), name="ami-list"),
    path("launches", launches_api.LaunchCreateApi.as_view(), name="launch-create"),
    # Before amis/<ami>: "diff" is no AMI reference.
    path("amis/diff", software_api.AmiDiffApi.as_view(), name="ami-diff"),
    path("amis/<str:ami>", api.AmiDetailApi.as_view(), name="ami-detail"),
    path("amis/<str:ami>/submit", api.AmiSubmitApi.as_view(), name="ami-submit"),
    path("amis/<str:ami>/approve", api.AmiApproveApi.as_view(), name="ami-approve"),
    path("amis/<str:ami>/reject", api.AmiRejectApi.as_view(), name="ami-reject"),
    path("amis/<str:ami>/deprecate", api.AmiDeprecateApi.as_view(), name="ami-deprecate"),
    path("amis/<str:ami>/revoke", api.AmiRevokeApi.as_view(), name="ami-revoke"),
    path("amis/<str:ami>/stats", api.AmiStatsApi.as_view(), name="ami-stats"),
    path("amis/<str:ami>/downloads", api.AmiDownloadCreateApi.as_view(), name="ami-downloads"),
    path("amis/<str:ami>/channel", lineages_api.AmiChannelApi.as_view(), name="ami-channel"),
    path("lineages/", lineages_api.LineageListApi.as_view(), name="lineage-list"),
    path("lineages/<str:lineage>", lineages_api.LineageDetailApi.as_view(), name="lineage-detail"),
    path("amis/<str:ami>/software", software_api.AmiSoftwareApi.as_view(), name="ami-software"),
    path("amis/<str:ami>/citation.cff", api.AmiCitationCffApi.as_view(), name="ami-citation-cff"),
    path("amis/<str:ami>/citation.bib", api.AmiCitationBibtexApi.as_view(), name="ami-citation-bib"),
]
