from django.apps import AppConfig


class RegistryConfig(AppConfig):
    verbose_name = "Registry (site)"
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"

    def ready(self):
        # Failed-login auditing and lockout counting (registry/signals.py). Imported in ready(),
        # Django's place for connecting receivers: the app registry is loaded by then.
        from registry import signals  # noqa: F401
