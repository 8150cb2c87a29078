from django.apps import AppConfig


class AmisConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "amis"
