"""Browse/search filters for ``GET /api/v1/amis/`` (and the web catalogue page).

Every parameter is validated by the FilterSet's form: a bad value answers 400 naming the
parameter, never a 500, whatever the string. Full-text search uses PostgreSQL (``to_tsquery``
with prefix terms built from sanitised words, ranked with ``SearchRank``) over the stored,
GIN-indexed ``search_document``, with typo tolerance from ``amis.search_index``; on SQLite — the
``make run`` fallback — it degrades to case-insensitive substring matching of every word.
"""
from __future__ import annotations

import re

import django_filters
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, Lower

from amis.models import AMI, AMIRegion
from amis.ranking import best_score_expression
from amis.search_index import READ_GENERATION, is_indexed, typo_expansions
from registry.declared import CopiedOneLevel
from registry.aws import COMMERCIAL_REGIONS

# The text-search configuration: English stemming ("models" finds "model"); prefix terms make
# partial words match ("pyto" finds "PyTorch").
SEARCH_CONFIG = "english"
# Letters and digits only: nothing the tsquery parser could read as an operator survives.
TERM_RE = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 8
MAX_TERM_LENGTH = 64

ORDERINGS = {
    "best": None,  # the default blend (see best_score_expression)
    "-rating_avg": ["-rating_avg", "-rating_count", "-created_at", "id"],
    "-download_count": ["-download_count", "-created_at", "id"],
    "-created_at": ["-created_at", "id"],
    "name": [Lower("name").asc(), "name", "id"],
}
# A search's relevance order, as (field, descending): the rank, the stored best score, the newest,
# the id. ``filter_queryset`` orders by it, and ``amis.selectors`` ranks a search's facet pass by it.
RELEVANCE_ORDER = (("search_rank", True), ("best_score", True), ("created_at", True), ("id", False))
BOOLEAN_CHOICES = [("true", "true"), ("false", "false"), ("1", "1"), ("0", "0")]


def search_terms(text: str) -> list[str]:
    """The words of a search string, lower-cased, at most MAX_TERMS of MAX_TERM_LENGTH characters."""
    return [t[:MAX_TERM_LENGTH].lower() for t in TERM_RE.findall(text or "")][:MAX_TERMS]


def search_vector() -> SearchVector:
    """Weighted document: name, DOI (A); tags, template name/slug (B); description, creator, authors
    (with ORCID iDs), licence (C).

    The definition of the stored ``AMI.search_document``, which the database computes with the
    same texts and weights (``ami_search_document_of`` in amis/migrations/0005; a test holds the
    two equal). Searching reads the stored, GIN-indexed column, never this per-row expression."""
    # A DOI is one token to the parser ("10.5281/zenodo.1"); its words are indexed apart so that
    # every part of it can be searched for, as the terms of a query are.
    doi_words = Func(F("doi"), Value(r"[^A-Za-z0-9]+"), Value(" "), Value("g"), function="regexp_replace",
                     output_field=TextField())
    return (SearchVector("name", doi_words, weight="A", config=SEARCH_CONFIG)
            + SearchVector(Cast("tags", TextField()), "template__name", "template__slug", weight="B",
                           config=SEARCH_CONFIG)
            + SearchVector("description", "creator__username", Cast("authors", TextField()), "license", weight="C",
                           config=SEARCH_CONFIG))


def search_query(terms: list[str], expansions: dict[str, list[str]] | None = None) -> SearchQuery:
    """``t1:* & t2:*`` — every word must match, each as a prefix; a term with typo expansions
    matches them too: ``(pyhton:* | python) & t2:*``. Safe: terms and known words are alphanumeric."""
    expansions = expansions or {}
    parts = [f"({t}:* | {' | '.join(expansions[t])})" if expansions.get(t) else f"{t}:*" for t in terms]
    return SearchQuery(" & ".join(parts), search_type="raw", config=SEARCH_CONFIG)


class AMIFilter(django_filters.FilterSet):
    """Filters of API.md's browse: q, category, architecture, region, template, creator, verified,
    min_rating, has_doi, status, ordering. Without ``status``, revoked entries are left out."""

    q = django_filters.CharFilter(method="filter_q", max_length=1000)
    category = django_filters.CharFilter(field_name="category", lookup_expr="iexact", max_length=100)
    architecture = django_filters.ChoiceFilter(choices=AMI.Architecture.choices)
    region = django_filters.ChoiceFilter(choices=[(r, r) for r in COMMERCIAL_REGIONS], method="filter_region")
    template = django_filters.CharFilter(method="filter_template", max_length=200)
    creator = django_filters.CharFilter(field_name="creator__username", max_length=150)
    verified = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_verified")
    min_rating = django_filters.NumberFilter(field_name="rating_avg", lookup_expr="gte", min_value=0, max_value=5)
    has_doi = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_has_doi")
    status = django_filters.ChoiceFilter(choices=AMI.Status.choices)
    ordering = django_filters.ChoiceFilter(choices=[(k, k) for k in ORDERINGS], method="filter_noop")

    class Meta:
        model = AMI
        fields: list[str] = []

    def __init__(self, *args, generation=READ_GENERATION, **kwargs):
        # The catalogue generation when the caller read it already (typo expansions are cached under it).
        self.catalogue_generation = generation
        super().__init__(*args, **kwargs)

    def get_form_class(self):
        # The form's fields follow from the declared filters alone, never from the instance:
        # build the class once (django-filter builds one per request: a metaclass run per browse).
        form_class = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            # Validation only (the form is never rendered per request): see registry.declared.
            form_class.base_fields = CopiedOneLevel(form_class.base_fields)
            type(self)._form_class = form_class
        return form_class

    # --- filters ---------------------------------------------------------------------------------
    def filter_q(self, queryset: QuerySet[AMI], name: str, value: str) -> QuerySet[AMI]:
        terms = search_terms(value)
        if not terms:
            return queryset  # nothing searchable (only punctuation): same as no q
        if is_indexed():
            # The stored document (GIN-indexed, kept current by triggers); a term no word of the
            # catalogue starts with also matches the known words that look like it.
            query = search_query(terms, typo_expansions(terms, generation=self.catalogue_generation))
            return (queryset.filter(search_document=query)
                    .annotate(search_rank=SearchRank(F("search_document"), query)))
        # SQLite/other fallback: every word must appear somewhere (case-insensitive).
        queryset = queryset.annotate(_tags_text=Cast("tags", TextField()), _authors_text=Cast("authors", TextField()))
        for term in terms:
            queryset = queryset.filter(
                Q(name__icontains=term) | Q(description__icontains=term) | Q(_tags_text__icontains=term)
                | Q(template__name__icontains=term) | Q(template__slug__icontains=term)
                | Q(creator__username__icontains=term) | Q(doi__icontains=term) | Q(_authors_text__icontains=term))
        return queryset

    def filter_region(self, queryset, name, value):
        if is_indexed():
            return queryset.filter(available_regions__contains=[value])  # GIN on the stored array
        available = AMIRegion.objects.filter(ami=OuterRef("pk"), region=value, state=AMIRegion.State.AVAILABLE)
        return queryset.filter(Exists(available))

    def filter_template(self, queryset, name, value):
        return queryset.filter(Q(template__slug=value) | Q(template__name=value))

    def filter_verified(self, queryset, name, value):
        return queryset.filter(verified=value in ("true", "1"))

    def filter_has_doi(self, queryset, name, value):
        with_doi = ~Q(doi="")
        return queryset.filter(with_doi if value in ("true", "1") else ~with_doi)

    def filter_noop(self, queryset, name, value):
        return queryset  # ordering is applied after filtering, in filter_queryset

    # --- filtering + ordering ----------------------------------------------------------------------
    def filtered_unordered(self) -> QuerySet[AMI]:
        """The filtered queryset without ordering (for counts and facets). Call after is_valid()."""
        queryset = super().filter_queryset(self.queryset.all())
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.exclude(status=AMI.Status.REVOKED)
        return queryset

    def filter_queryset(self, queryset):
        queryset = self.filtered_unordered()
        data = self.form.cleaned_data
        ordering = data.get("ordering") or ""
        if ordering and ORDERINGS.get(ordering):
            return queryset.order_by(*ORDERINGS[ordering])
        if is_indexed():
            best = F("best_score")  # stored (amis.ranking.best_score_refresh), indexed with its tie-breakers
        else:
            queryset = queryset.annotate(_best=best_score_expression())
            best = F("_best")
        if data.get("q") and search_terms(data["q"]) and is_indexed() and not ordering:
            return queryset.order_by(*(F(field).desc() if descending else F(field).asc()
                                       for field, descending in RELEVANCE_ORDER))
        return queryset.order_by(best.desc(), "-created_at", "id")


# The filters only read what they were declared with (registry.declared).
AMIFilter.base_filters = CopiedOneLevel(AMIFilter.base_filters)
