"""URL map. Only this module (with ``web_urls``, the settings and ``registry/composers``) knows
every app. Names are namespaced: ``api:`` for the REST API, ``web:`` for the browser pages, so a
name such as ``ami-detail`` exists once per namespace."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from registry import api as registry_api
from registry import audit_api, aws_accounts_api, daemon_api, health
from registry.composers import compare_api, gdpr_api

# Django tries the patterns in order and, for each include that does not match, copies what it
# tried: the hottest paths come first (a warm resolution is ~1 ms of work, and reached the
# resolver's patterns after ~100 others).
api_v1 = [
    path("", include("resolver.urls")),
    path("", include("amis.urls")),
    path("ping", daemon_api.PingApi.as_view(), name="ping"),
    path("status", daemon_api.StatusApi.as_view(), name="status"),
    path("auth/register", registry_api.RegisterApi.as_view(), name="auth-register"),
    path("auth/token", registry_api.TokenApi.as_view(), name="auth-token"),
    path("me", gdpr_api.MeApi.as_view(), name="me"),
    path("me/export", gdpr_api.MeExportApi.as_view(), name="me-export"),
    path("me/claim", aws_accounts_api.MeClaimApi.as_view(), name="me-claim"),
    path("me/aws-accounts", aws_accounts_api.MeAwsAccountListApi.as_view(), name="me-aws-accounts"),
    path("me/aws-accounts/<str:account_id>", aws_accounts_api.MeAwsAccountDetailApi.as_view(),
         name="me-aws-account"),
    path("me/aws-accounts/<str:account_id>/verify", aws_accounts_api.MeAwsAccountVerifyApi.as_view(),
         name="me-aws-account-verify"),
    path("users/<str:username>", gdpr_api.UserEraseApi.as_view(), name="user-erase"),
    path("audit/", audit_api.AuditEventListApi.as_view(), name="audit-list"),
    path("compliance/report", audit_api.ComplianceReportApi.as_view(), name="compliance-report"),
    path("compare", compare_api.CompareApi.as_view(), name="compare"),
    path("", include("templates.urls")),
    path("", include("amis.urls_aws")),
    path("", include("amis.urls_trust")),
    path("amis/<str:ami>/ratings/", include("ratings.urls")),
    path("amis/<str:ami>/shares/", include("sharing.urls")),
    path("", include("notifications.urls")),
    path("", include("dashboard.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("api/v1/", include((api_v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("registry.web_urls")),
]

handler404 = "registry.web_errors.page_not_found"
handler403 = "registry.web_errors.permission_denied"
handler500 = "registry.web_errors.server_error"
