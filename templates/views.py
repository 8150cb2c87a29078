"""Browser page for the workstation template catalogue (the per-template page, which needs the
community catalogue and the resolver, lives in ``resolver/views.py`` to keep imports pointing left)."""
from django.shortcuts import render
from django.views.decorators.http import require_GET

from templates.selectors import template_list as template_list_selector


@require_GET
def template_list(request):
    """Every workstation template, grouped by category (one query)."""
    groups: dict[str, list] = {}
    for template in template_list_selector():
        groups.setdefault(template.category or "Other", []).append(template)
    return render(request, "templates/list.html", {"groups": sorted(groups.items())})
