from django.contrib.admin.apps import AdminConfig


class RegistryAdminConfig(AdminConfig):
    # The site with the moderation queue on its index (a composer: it reads several apps).
    default_site = "registry.composers.moderation.ModerationAdminSite"
