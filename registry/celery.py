"""The Celery application.

Without ``CELERY_BROKER_URL`` the settings make every task run eagerly in the calling process
(the embedded default), so the same service code path is used with or without a worker.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings.base")

app = Celery("registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
