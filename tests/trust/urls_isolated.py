"""URLconf with only the trust routes, for running tests/trust while other apps' pages are
mid-edit (TRUST_ISOLATED=1). The normal run uses the project's URLconf."""
from django.contrib import admin
from django.urls import include, path

from registry import api as registry_api

urlpatterns = [
    path("api/v1/", include([
        path("me", registry_api.MeApi.as_view(), name="me"),
        path("auth/token", registry_api.TokenApi.as_view(), name="auth-token"),
        path("", include("registry.trust_urls")),
    ])),
    path("admin/", admin.site.urls),
]
