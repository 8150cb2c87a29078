from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The success-metrics dashboard: aggregates over the catalogue, the templates and the resolver
    (it sits above all of them and nothing imports it). No tables of its own."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard"

    def ready(self):
        # Imported here: the collector reads models, which exist only once the app registry is ready.
        from dashboard.prometheus import DashboardCollector
        from registry.metrics import collector_register

        collector_register(DashboardCollector())
