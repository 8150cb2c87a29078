"""Mounted by registry/urls.py at ``amis/<str:ami>/ratings/``: every view receives ``ami``."""
from django.urls import path

from ratings import api

urlpatterns = [
    path("", api.RatingListCreateApi.as_view(), name="rating-list"),
    path("mine", api.RatingMineDeleteApi.as_view(), name="rating-mine"),
    path("<int:rating_id>/hide", api.RatingHideApi.as_view(), name="rating-hide"),
    path("<int:rating_id>/helpful", api.RatingHelpfulApi.as_view(), name="rating-helpful"),
    path("<int:rating_id>/report", api.RatingReportApi.as_view(), name="rating-report"),
]
