"""Read queries for workstation templates."""
from django.db.models import Q, QuerySet

from templates.inheritance import Parent
from templates.models import Template


def template_list() -> QuerySet[Template]:
    return Template.objects.all().order_by("name")


def template_names_by_slug(slugs) -> dict[str, str]:
    """``{slug: name}`` for the given slugs (one query); unknown slugs are absent."""
    return dict(Template.objects.filter(slug__in=list(slugs)).values_list("slug", "name"))


def template_get(ref: str) -> Template | None:
    """A template by slug or exact name (API paths accept either). The slug wins when one
    template's slug equals another's name."""
    ref = (ref or "").strip() if isinstance(ref, str) else ""
    # NOTE: PostgreSQL refuses NUL in text parameters (a 500, not a miss), and no stored slug or
    # name is longer than 200 characters: answer "not found" without asking.
    if not ref or "\x00" in ref or len(ref) > 200:
        return None
    return Template.objects.filter(slug=ref).first() or Template.objects.filter(name=ref).first()


def template_children(template: Template) -> QuerySet[Template]:
    """Templates whose own ``inherits`` names ``template`` (by slug or by name)."""
    return Template.objects.filter(
        Q(own_document__inherits__contains=[template.slug]) | Q(own_document__inherits__contains=[template.name])
    ).exclude(pk=template.pk).order_by("name")


def template_parent_lookup(ref: str) -> Parent | None:
    """``templates.inheritance`` lookup over stored templates."""
    template = template_get(ref)
    if template is None:
        return None
    return Parent(slug=template.slug, name=template.name, document=template.document,
                  inherits=tuple(r for r in template.inherits if isinstance(r, str)))
