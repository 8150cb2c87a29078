"""The shipped example templates resolve in every default test region: an answer or a 422, never a crash."""
from pathlib import Path

import pytest

from registry.errors import Unprocessable
from resolver import preview, services
from templates.models import Template
from templates.services import template_load_path

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "templates" / "examples"


def test_every_example_template_resolves(aws):
    report = template_load_path(paths=[EXAMPLES])
    assert not report.errors, report.errors
    templates = list(Template.objects.all())
    assert len(templates) >= 6
    for template in templates:
        for region in services.DEFAULT_TEST_REGIONS:
            try:
                answer = services.resolve(template=template, region=region)
            except Unprocessable as exc:          # ami_required templates with nothing in the emulator
                assert exc.code == "no_ami_available"
                assert exc.extra["tried"], template.slug
                continue
            assert answer["resolution_method"] in {"direct_mapping", "registry", "dynamic_search", "marketplace",
                                                   "cross_region", "fallback_script"}, template.slug
            assert answer["tried"] and answer["fallback_chain"], template.slug
            dry_run = preview.resolve_preview(template=template, region=region)
            assert dry_run["aws_calls"] == 0
