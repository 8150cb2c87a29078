from django.apps import AppConfig


class RegistryConfig(AppConfig):
    verbose_name = "Registry (site)"
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"

