"""``/api/v1/templates/...`` (mounted by registry/urls.py)."""
from django.urls import path

from templates import api

urlpatterns = [
    path("templates/", api.TemplateListCreateApi.as_view(), name="template-list"),
    # Before the catch-all below: a template cannot be fetched under the name "validate".
    path("templates/validate", api.TemplateValidateApi.as_view(), name="template-validate"),
    # <path:> because names contain spaces, parentheses and even slashes (URL-encoded by clients).
    path("templates/<path:template>", api.TemplateDetailApi.as_view(), name="template-detail"),
]
