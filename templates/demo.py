"""Demo data: the shipped example templates (``templates/examples/``). Idempotent."""
from pathlib import Path

from templates.services import template_load_path

EXAMPLES = Path(__file__).resolve().parent / "examples"


def seed(stdout=None, admin=None, **kwargs):
    """Called by ``manage.py seed_demo``; loading unchanged files again changes nothing."""
    report = template_load_path(paths=[EXAMPLES], actor=admin)
    if stdout is not None:
        stdout.write(f"templates: {len(report.created)} created, {len(report.updated)} updated, "
                     f"{len(report.unchanged)} unchanged")
        for path, errors in report.errors.items():
            stdout.write(f"templates: invalid example {path}: {errors}")
    return report
