from django.apps import AppConfig


class SharingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sharing"

    def ready(self):
        # NOTE: imports inside ready() are Django's documented place to connect receivers: at
        # module level they would load models before the app registry is ready.
        from amis.signals import (ami_copy_available, ami_grants_requested, ami_launch_permissions_withdrawn,
                                  ami_page_context)
        from sharing import aws_sync, services, tasks, views  # noqa: F401 — tasks: registered for sending by name

        ami_grants_requested.connect(services.on_grants_requested, dispatch_uid="sharing.grants_requested")
        ami_copy_available.connect(aws_sync.on_copy_available, dispatch_uid="sharing.copy_available")
        ami_launch_permissions_withdrawn.connect(aws_sync.on_launch_permissions_withdrawn,
                                                 dispatch_uid="sharing.permissions_withdrawn")
        ami_page_context.connect(views.ami_page_section, dispatch_uid="sharing.ami_page_section")
