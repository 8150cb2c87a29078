from django.apps import AppConfig


class AmisConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "amis"

    def ready(self):
        # NOTE: registers the catalogue's Celery tasks in every process (web included): services
        # send them by name (registry.celery.task_send), and without a broker (eager mode) a name
        # can only run if its task is registered here. Imported in ready(), once the models are.
        from amis import tasks  # noqa: F401
        from django.db.models.signals import post_save

        from amis.models import AMI, Download, ScanResult
        from amis.ranking import best_score_on_save
        # The stored best score follows every save of what it reads: the entry, its scans and launches.
        for model in (AMI, ScanResult, Download):
            post_save.connect(best_score_on_save, sender=model, dispatch_uid=f"amis.best_score_on_save.{model.__name__}")
