"""Browser pages (server-rendered). Filled in by the web UI issue."""
from django.urls import path

from registry import web_home

urlpatterns = [
    path("", web_home.home, name="home"),
]
