"""Routes of API.md *Community AMIs* (``/copy`` lives in ``amis.urls_aws``)."""
from django.urls import path

from amis import api

urlpatterns = [
    path("amis/", api.AMIListCreateApi.as_view(), name="ami-list"),
    path("amis/<str:ami>", api.AMIDetailApi.as_view(), name="ami-detail"),
    path("amis/<str:ami>/submit", api.AMISubmitApi.as_view(), name="ami-submit"),
    path("amis/<str:ami>/approve", api.AMIApproveApi.as_view(), name="ami-approve"),
    path("amis/<str:ami>/reject", api.AMIRejectApi.as_view(), name="ami-reject"),
    path("amis/<str:ami>/deprecate", api.AMIDeprecateApi.as_view(), name="ami-deprecate"),
    path("amis/<str:ami>/revoke", api.AMIRevokeApi.as_view(), name="ami-revoke"),
    path("amis/<str:ami>/stats", api.AMIStatsApi.as_view(), name="ami-stats"),
    path("amis/<str:ami>/downloads", api.AMIDownloadCreateApi.as_view(), name="ami-downloads"),
]
