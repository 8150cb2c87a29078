"""Demo data for `make run`: communities, users, an admin. Idempotent (safe to run every start).

Apps extend the demo through ``registry.demo`` hooks as they land (templates, AMIs, ratings).

Demo only. It runs when ``DEBUG`` is on (``make run``); in production mode (``DJANGO_DEBUG=0``) it
refuses unless told ``--i-know-this-is-a-demo``, and even then it never gives an account a
documented password: new accounts get random ones (printed once), and a demo account that still
has its documented password gets a new random one.

Prints one ``account:`` line per demo account (the `make run` banner shows them): its name and
password, or why the password is not shown.
"""
import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from registry.demo import run_demo_hooks
from registry.models import Community

CONFIRM_FLAG = "--i-know-this-is-a-demo"
# (username, documented password, role): the README and the banner name these.
DEMO_ACCOUNTS = (("admin", "admin-demo-password", "superuser and moderator"),
                 ("researcher", "researcher-demo-password", "researcher"),
                 ("moderator", "moderator-demo-password", "moderator"))


class Command(BaseCommand):
    help = "Load idempotent demo data (communities, users, admin). Demo only: see --i-know-this-is-a-demo."

    def add_arguments(self, parser):
        parser.add_argument(CONFIRM_FLAG, dest="confirmed", action="store_true",
                            help="seed although DEBUG is off (production mode); accounts then get random "
                                 "passwords, printed once, never the documented ones")

    def handle(self, *args, **options):
        production = not settings.DEBUG
        if production and not options["confirmed"]:
            raise CommandError(
                "seed_demo loads demo accounts and data, so it runs only in the demo (DJANGO_DEBUG=1, as `make run` "
                f"sets). This is production mode (DJANGO_DEBUG=0): to seed anyway, pass {CONFIRM_FLAG}; the "
                "accounts then get random passwords, printed once.")
        lines: list[str] = []
        users = {key: self._account(key, password, role, production=production, lines=lines)
                 for key, password, role in self._accounts(production=production)}
        users["moderator"].groups.add(Group.objects.get(name="moderators"))
        uni, _ = Community.objects.get_or_create(
            slug="example-university", defaults={"name": "Example University", "kind": Community.Kind.INSTITUTION,
                                                 "description": "A demo institution with its own policy."})
        Community.objects.get_or_create(slug="bioinformatics", defaults={"name": "Bioinformatics",
                                                                         "description": "Genomics workstations."})
        uni.memberships.get_or_create(user=users["researcher"])
        run_demo_hooks(stdout=self.stdout, admin=users["admin"], researcher=users["researcher"],
                       moderator=users["moderator"])
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for line in lines:
            self.stdout.write(line)

    @staticmethod
    def _accounts(*, production: bool):
        """The demo accounts; in the demo the admin's password may come from DEMO_ADMIN_PASSWORD."""
        if production:
            return DEMO_ACCOUNTS
        (key, password, role), *others = DEMO_ACCOUNTS
        return [(key, os.environ.get("DEMO_ADMIN_PASSWORD", password), role), *others]

    @staticmethod
    def _account(key: str, documented: str, role: str, *, production: bool, lines: list[str]):
        User = get_user_model()
        username = os.environ.get("DEMO_ADMIN_USER", "admin") if key == "admin" else key
        defaults = {"email": f"{username}@example.org"}
        if key == "admin":
            defaults.update(is_staff=True, is_superuser=True)
        user, created = User.objects.get_or_create(username=username, defaults=defaults)
        if created or (production and user.check_password(documented)):
            password = secrets.token_urlsafe(15) if production else documented
            user.set_password(password)
            user.save(update_fields=["password"])
            note = "" if created else " (new password: the documented one is never kept in production mode)"
            lines.append(f"account: {username} / {password}  ({role}){note}")
        elif production:
            lines.append(f"account: {username} ({role}; password not shown: set on an earlier run)")
        elif user.check_password(documented):
            lines.append(f"account: {username} / {documented}  ({role})")
        else:
            lines.append(f"account: {username} ({role}; password changed since the demo set it)")
        return user
