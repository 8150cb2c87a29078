"""``manage.py retention [--dry-run]``: apply the retention rules now (the beat task does it daily)."""
import json

from django.core.management.base import BaseCommand

from registry.composers.retention import retention_run


class Command(BaseCommand):
    help = "Fold+delete old downloads, truncate old audit IPs, purge audit events past retention."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; change nothing.")

    def handle(self, *args, dry_run=False, **options):
        report = retention_run(dry_run=dry_run)
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
