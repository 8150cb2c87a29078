from django.apps import AppConfig


class TemplatesConfig(AppConfig):
    verbose_name = "Workstation templates"
    default_auto_field = "django.db.models.BigAutoField"
    name = "templates"
