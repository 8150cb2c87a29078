"""Trust & compliance API routes (keys, signatures, scans, policies, audit, compliance, export/erase)."""
from django.urls import path

from registry import api as accounts_api
from registry import trust_api as api

urlpatterns: list = [
    path("me/export", accounts_api.MeExportApi.as_view(), name="me-export"),
    path("me/keys/", api.PublisherKeyListApi.as_view(), name="me-keys"),
    path("me/keys/<int:key_id>", api.PublisherKeyDetailApi.as_view(), name="me-key"),
    path("me/keys/<int:key_id>/revoke", api.PublisherKeyRevokeApi.as_view(), name="me-key-revoke"),
    path("amis/<str:ami>/manifest", api.AMIManifestApi.as_view(), name="ami-manifest"),
    path("amis/<str:ami>/signature", api.AMISignatureApi.as_view(), name="ami-signature"),
    path("users/<str:username>", api.UserEraseApi.as_view(), name="user-erase"),
    path("me/policy", api.MyPolicyApi.as_view(), name="me-policy"),
    path("communities/<slug:slug>/policy", api.CommunityPolicyApi.as_view(), name="community-policy"),
    path("compliance/report", api.ComplianceReportApi.as_view(), name="compliance-report"),
    path("audit/", api.AuditEventListApi.as_view(), name="audit-list"),
    path("amis/<str:ami>/scan", api.AMIScanApi.as_view(), name="ami-scan"),
    path("amis/<str:ami>/scan-exception", api.AMIScanExceptionApi.as_view(), name="ami-scan-exception"),
]
