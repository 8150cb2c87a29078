"""URL map. Only this module (and the settings) know every app."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from registry import api as registry_api
from registry import health

api_v1 = [
    path("auth/register", registry_api.RegisterApi.as_view(), name="auth-register"),
    path("auth/token", registry_api.TokenApi.as_view(), name="auth-token"),
    path("me", registry_api.MeApi.as_view(), name="me"),
    path("", include("templates.urls")),
    path("", include("amis.urls")),
    path("", include("amis.urls_aws")),
    path("amis/<str:ami>/ratings/", include("ratings.urls")),
    path("amis/<str:ami>/shares/", include("sharing.urls")),
    path("", include("resolver.urls")),
    path("", include("registry.trust_urls")),
    path("", include("notifications.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("notifications.web_urls")),
    path("", include("registry.web_urls")),
]

handler404 = "registry.web_errors.page_not_found"
handler403 = "registry.web_errors.permission_denied"
handler500 = "registry.web_errors.server_error"
