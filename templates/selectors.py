"""Read queries for workstation templates."""
from django.db.models import Q, QuerySet

from templates.models import Template


def template_list() -> QuerySet[Template]:
    return Template.objects.all().order_by("name")


def template_get(ref: str) -> Template | None:
    """A template by slug or exact name (API paths accept either)."""
    ref = (ref or "").strip()
    if not ref:
        return None
    return Template.objects.filter(Q(slug=ref) | Q(name=ref)).first()
