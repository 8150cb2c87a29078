"""Mounted by registry/urls.py at ``amis/<str:ami>/shares/``: every view receives ``ami``."""
from django.urls import path

from sharing import api

urlpatterns = [
    path("", api.ShareListCreateApi.as_view(), name="share-list"),
    path("<int:share_id>", api.ShareDeleteApi.as_view(), name="share-delete"),
]
