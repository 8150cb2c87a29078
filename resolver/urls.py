"""Resolver routes, mounted under /api/v1/ by registry/urls.py.

``<path:template>``: template names may contain characters a ``str`` converter refuses once the
URL is decoded (e.g. "/"); the template is the last segment, so nothing else can be swallowed.
"""
from django.urls import path

from resolver import api, ssm_api

urlpatterns = [
    path("ami/resolve/<path:template>", api.AmiResolveApi.as_view(), name="ami-resolve"),
    path("ami/preview/<path:template>", api.AmiPreviewApi.as_view(), name="ami-preview"),
    path("ami/costs/<path:template>", api.AmiCostsApi.as_view(), name="ami-costs"),
    path("ami/test", api.AmiTestApi.as_view(), name="ami-test"),
    path("ssm/parameters", ssm_api.PublishedParameterListApi.as_view(), name="ssm-parameter-list"),
    path("ssm/sync", ssm_api.SsmSyncApi.as_view(), name="ssm-sync"),
    path("ami/check-freshness", api.AmiCheckFreshnessApi.as_view(), name="ami-check-freshness"),
]
