"""``manage.py seed_scale --amis 100000 --ratings 1000000 --downloads 5000000``: a large, realistic
catalogue for benchmarks (registry/composers/scale_seed.py), written with PostgreSQL COPY.

Refuses a database that already holds users, templates or AMIs unless ``--replace`` is given,
which empties those tables (and what references them) first.
"""
import time

from django.core.management.base import BaseCommand, CommandError

from registry.composers.scale_seed import SeedRefused, seed_scale


class Command(BaseCommand):
    help = "Seed a large benchmark catalogue (PostgreSQL COPY). Refuses a database holding data unless --replace."

    def add_arguments(self, parser):
        parser.add_argument("--amis", type=int, default=100_000)
        parser.add_argument("--ratings", type=int, default=1_000_000)
        parser.add_argument("--downloads", type=int, default=5_000_000)
        parser.add_argument("--seed", type=int, default=14, help="random seed (same seed, same catalogue)")
        parser.add_argument("--replace", action="store_true",
                            help="empty the users, templates and catalogue tables first (destroys their data)")

    def handle(self, *args, amis, ratings, downloads, seed, replace, **options):
        if min(amis, ratings, downloads) < 0 or amis < 1:
            raise CommandError("--amis must be at least 1; counts cannot be negative")
        started = time.monotonic()

        def log(message: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:6.1f}s] {message}")

        try:
            counts = seed_scale(amis=amis, ratings=ratings, downloads=downloads, replace=replace, seed=seed, log=log)
        except SeedRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            "seeded " + ", ".join(f"{n} {what}" for what, n in counts.items())
            + f" in {time.monotonic() - started:.1f}s"))
