from django.apps import AppConfig


class RegistryConfig(AppConfig):
    verbose_name = "Registry (site)"
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"


    def ready(self):
        # Failed-login auditing and lockout counting (registry/signals.py).
        from registry import signals  # noqa: F401
