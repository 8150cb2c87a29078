"""django-filter FilterSet for the template list (``GET /api/v1/templates/``)."""
import django_filters
from django.db.models import Q

from templates.models import Template


class TemplateFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", help_text="words found in the name, slug or description")
    category = django_filters.CharFilter(field_name="category", lookup_expr="iexact")
    base = django_filters.CharFilter(field_name="base")

    class Meta:
        model = Template
        fields = ["q", "category", "base"]

    def search(self, queryset, name, value):
        # Every word must match somewhere (name, slug or description); case-insensitive.
        for word in value.split()[:10]:
            queryset = queryset.filter(Q(name__icontains=word) | Q(slug__icontains=word)
                                       | Q(description__icontains=word))
        return queryset
