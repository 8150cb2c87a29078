import importlib
import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class ResolverConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "resolver"

    def ready(self):
        """Connect cache invalidation: the domain signals of templates and amis, plus model saves
        and deletes (so any writer — admin, migration, fixture — invalidates too)."""
        from django.db.models.signals import post_delete, post_save

        from amis.models import AMI, AMIRegion
        from resolver import cache
        from templates.models import Template

        for model in (Template, AMI, AMIRegion):
            post_save.connect(cache.on_model_saved_or_deleted, sender=model,
                              dispatch_uid=f"resolver-save-{model._meta.label}")
            post_delete.connect(cache.on_model_saved_or_deleted, sender=model,
                                dispatch_uid=f"resolver-delete-{model._meta.label}")
        # NOTE: looked up by name so the resolver keeps working while an app does not (yet) send one.
        for module_name, signal_name, receiver in (
            ("templates.signals", "template_changed", cache.on_template_changed),
            ("amis.signals", "ami_changed", cache.on_ami_changed),
        ):
            try:
                signal = getattr(importlib.import_module(module_name), signal_name)
            except (ImportError, AttributeError):
                logger.info("resolver: %s.%s not available; relying on model signals", module_name, signal_name)
                continue
            signal.connect(receiver, dispatch_uid=f"resolver-{signal_name}")
