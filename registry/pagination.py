from django.core.paginator import Paginator
from rest_framework.pagination import PageNumberPagination


class CountedPaginator(Paginator):
    """A Django paginator told the number of objects when the caller already knows it exactly
    (the catalogue's browse counts its results with its cached facets), saving a COUNT query."""

    def __init__(self, object_list, per_page, *args, count: int | None = None, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        if count is not None:
            self.__dict__["count"] = count  # Paginator.count is a cached_property


class StandardPagination(PageNumberPagination):
    """``{count, next, previous, results}`` with ``?page=`` and ``?page_size=`` (max 100).

    A view that knows the exact result count sets ``known_count`` before paginating."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    known_count: int | None = None

    def django_paginator_class(self, object_list, per_page):
        return CountedPaginator(object_list, per_page, count=self.known_count)
