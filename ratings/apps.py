from django.apps import AppConfig


class RatingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ratings"

    def ready(self):
        # NOTE: imported in ready(), Django's place for connecting receivers (the models are loaded).
        from amis.signals import ami_page_context
        from ratings.views import ami_page_section

        ami_page_context.connect(ami_page_section, dispatch_uid="ratings.ami_page_section")
