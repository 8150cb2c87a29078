"""``manage.py compliance_report --since 2026-01-01 --until 2026-04-01 --format json|csv``."""
import json
from datetime import datetime, time
from datetime import timezone as dt_timezone

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from registry.compliance import compliance_report, compliance_report_csv
from registry.errors import ApplicationError


def _when(value: str) -> datetime:
    """ISO date (midnight UTC) or datetime (UTC when no zone is given)."""
    try:
        parsed = parse_datetime(value) or (datetime.combine(parse_date(value), time.min) if parse_date(value) else None)
    except ValueError:  # well-formed but impossible, e.g. 2026-13-01
        parsed = None
    if parsed is None:
        raise CommandError(f"not an ISO 8601 date or datetime: {value!r}")
    return timezone.make_aware(parsed, dt_timezone.utc) if timezone.is_naive(parsed) else parsed


class Command(BaseCommand):
    help = "Compliance figures for a period, each with the audit event ids behind it."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="Start (inclusive), ISO 8601 date or datetime.")
        parser.add_argument("--until", required=True, help="End (exclusive), ISO 8601 date or datetime.")
        parser.add_argument("--format", choices=["json", "csv"], default="json")

    def handle(self, *args, since, until, format, **options):
        try:
            report = compliance_report(since=_when(since), until=_when(until))
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if format == "csv":
            self.stdout.write(compliance_report_csv(report), ending="")
        else:
            self.stdout.write(json.dumps(report, cls=DjangoJSONEncoder, indent=2))
