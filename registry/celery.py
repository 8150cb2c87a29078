"""The Celery application.

Without ``CELERY_BROKER_URL`` the settings make every task run eagerly in the calling process
(the embedded default), so the same service code path is used with or without a worker.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings.base")

# Eager tasks still pass through a producer (Celery round-trips their arguments through the
# serializer). With no broker configured it would default to AMQP on localhost and warn "No
# hostname was supplied" on the first task; kombu's in-memory transport is all it needs.
EAGER_BROKER_URL = "memory://localhost/"

app = Celery("registry")


@app.on_after_configure.connect
def _eager_producer_without_amqp(sender, source, **kwargs):
    if not source.broker_url:
        source["CELERY_BROKER_URL"] = EAGER_BROKER_URL


app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
