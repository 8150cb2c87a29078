"""Routes of the dashboard API (mounted under /api/v1/ by registry.urls)."""
from django.urls import path

from dashboard import api

urlpatterns = [
    path("dashboard", api.DashboardApi.as_view(), name="dashboard"),
    path("dashboard/publisher", api.PublisherDashboardApi.as_view(), name="dashboard-publisher"),
]
