from django.apps import AppConfig


class ResolverConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "resolver"

    def ready(self):
        """Connect cache invalidation: the domain signals of templates and amis, plus model saves
        and deletes (so any writer — admin, migration, fixture — invalidates too)."""
        # Imported here, not at the top: models may only be imported once the app registry is
        # ready, and ready() is the hook Django gives for connecting receivers.
        from django.db.models.signals import post_delete, post_save

        from amis.models import AMI, AMIRegion, Channel
        from amis.signals import ami_changed, ami_copy_available, channel_moved, policy_changed
        from resolver import cache, ssm
        from resolver import tasks  # noqa: F401 — registers resolver.ssm_sync in every process
        from templates.models import Template
        from templates.signals import template_changed

        for model in (Template, AMI, AMIRegion, Channel):
            post_save.connect(cache.on_model_saved_or_deleted, sender=model,
                              dispatch_uid=f"resolver-save-{model._meta.label}")
            post_delete.connect(cache.on_model_saved_or_deleted, sender=model,
                                dispatch_uid=f"resolver-delete-{model._meta.label}")
        template_changed.connect(cache.on_template_changed, dispatch_uid="resolver-template_changed")
        ami_changed.connect(cache.on_ami_changed, dispatch_uid="resolver-ami_changed")
        policy_changed.connect(cache.on_policy_changed, dispatch_uid="resolver-policy_changed")
        # Published answers (SSM parameters) follow channel moves and new copies.
        channel_moved.connect(ssm.on_channel_moved, dispatch_uid="resolver-ssm-channel_moved")
        ami_copy_available.connect(ssm.on_copy_available, dispatch_uid="resolver-ssm-copy_available")
