"""``python manage.py load_templates PATH...`` — load workstation template files or folders."""
from django.core.management.base import BaseCommand, CommandError

from templates.services import template_load_path


class Command(BaseCommand):
    help = ("Load CloudWorkstation template YAML files (a file, or every *.yml/*.yaml under a folder). "
            "Idempotent: reports created / updated / unchanged; exits non-zero listing every error of "
            "every invalid file, after loading the valid ones.")

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="template file or folder")

    def handle(self, *args, paths, **options):
        report = template_load_path(paths=paths)
        for label, rows in (("created", report.created), ("updated", report.updated),
                            ("unchanged", report.unchanged)):
            for path, slug in rows:
                self.stdout.write(f"{label:9}  {slug}  ({path})")
        for path, errors in report.errors.items():
            self.stderr.write(self.style.ERROR(f"invalid    {path}"))
            for field, messages in errors.items():
                for message in messages:
                    self.stderr.write(f"    {field}: {message}")
        summary = (f"{len(report.created)} created, {len(report.updated)} updated, "
                   f"{len(report.unchanged)} unchanged, {len(report.errors)} invalid")
        if report.errors:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
