"""Routes of an AMI's trust (publisher keys, signatures, scans) and of institution policies."""
from django.urls import path

from amis import policy_api, trust_api

urlpatterns = [
    path("me/keys/", trust_api.PublisherKeyListApi.as_view(), name="me-keys"),
    path("me/keys/<int:key_id>", trust_api.PublisherKeyDetailApi.as_view(), name="me-key"),
    path("me/keys/<int:key_id>/revoke", trust_api.PublisherKeyRevokeApi.as_view(), name="me-key-revoke"),
    path("amis/<str:ami>/manifest", trust_api.AmiManifestApi.as_view(), name="ami-manifest"),
    path("amis/<str:ami>/signature", trust_api.AmiSignatureApi.as_view(), name="ami-signature"),
    path("amis/<str:ami>/scan", trust_api.AmiScanApi.as_view(), name="ami-scan"),
    path("amis/<str:ami>/scan-exception", trust_api.AmiScanExceptionApi.as_view(), name="ami-scan-exception"),
    path("me/policy", policy_api.MyPolicyApi.as_view(), name="me-policy"),
    path("communities/<slug:slug>/policy", policy_api.CommunityPolicyApi.as_view(), name="community-policy"),
]
