from django.apps import AppConfig


class AmisConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "amis"

    def ready(self):
        # NOTE: registers the catalogue's Celery tasks in every process (web included): services
        # send them by name (registry.celery.task_send), and without a broker (eager mode) a name
        # can only run if its task is registered here. Imported in ready(), once the models are.
        from amis import tasks  # noqa: F401
