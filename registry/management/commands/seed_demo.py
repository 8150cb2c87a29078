"""Demo data for `make run`: communities, users, an admin. Idempotent (safe to run every start).

Apps extend the demo through ``registry.demo`` hooks as they land (templates, AMIs, ratings)."""
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from registry.models import Community


class Command(BaseCommand):
    help = "Load idempotent demo data (communities, users, admin)."

    def handle(self, *args, **options):
        User = get_user_model()
        admin_user = os.environ.get("DEMO_ADMIN_USER", "admin")
        admin_password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin-demo-password")
        admin, created = User.objects.get_or_create(username=admin_user,
                                                    defaults={"email": f"{admin_user}@example.org",
                                                              "is_staff": True, "is_superuser": True})
        if created:
            admin.set_password(admin_password)
            admin.save(update_fields=["password"])
        researcher, created = User.objects.get_or_create(username="researcher",
                                                         defaults={"email": "researcher@example.org"})
        if created:
            researcher.set_password("researcher-demo-password")
            researcher.save(update_fields=["password"])
        moderator, created = User.objects.get_or_create(username="moderator",
                                                        defaults={"email": "moderator@example.org"})
        if created:
            moderator.set_password("moderator-demo-password")
            moderator.save(update_fields=["password"])
        moderator.groups.add(Group.objects.get(name="moderators"))
        uni, _ = Community.objects.get_or_create(
            slug="example-university", defaults={"name": "Example University", "kind": Community.Kind.INSTITUTION,
                                                 "description": "A demo institution with its own policy."})
        Community.objects.get_or_create(slug="bioinformatics", defaults={"name": "Bioinformatics",
                                                                         "description": "Genomics workstations."})
        uni.memberships.get_or_create(user=researcher)
        from registry.demo import run_demo_hooks

        run_demo_hooks(stdout=self.stdout, admin=admin, researcher=researcher, moderator=moderator)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
