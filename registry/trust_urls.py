"""Trust & compliance API routes (keys, audit, compliance, export/erase)."""
from django.urls import path  # noqa: F401

urlpatterns: list = []
