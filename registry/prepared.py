"""Querysets compiled to SQL once per process, run again with other values (``PreparedQuery``).

Building and compiling a queryset costs Django 0.5–2 ms for a statement with a few subqueries —
on the AMI page, more than PostgreSQL takes to run it. Where a hot path sends the same statement
with other values each time, it is built once with marker values standing in for those values;
each run sends the compiled SQL with the caller's values in the markers' places: the statement
the ORM would have sent, its results converted as the ORM converts them (``results_iter``).

The markers must be values no other parameter of the statement has (a UUID, an id that cannot
occur): compiling checks that each one appears, and the values passed later must be what the
ORM would have sent for that field (a ``uuid.UUID`` for a UUID column, an ``int`` for a key).
What is compiled must not depend on anything but the markers — no ``timezone.now()``, no
setting read while building it.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet

# A marker for a UUID primary or foreign key: version-4 keys never take the nil UUID.
NIL_UUID = uuid.UUID(int=0)


class PreparedQuery:
    """``build(**markers)`` compiled once; ``rows(**values)`` runs it.

    ``build`` returns a ``values_list`` queryset; ``rows`` returns its tuples. PostgreSQL only:
    elsewhere (SQLite, the ``make run`` fallback, prepares values differently — a UUID as hex
    text) ``rows`` runs ``build(**values)`` as the ORM would, every time.
    """

    def __init__(self, build: Callable[..., QuerySet], **markers: Any):
        self._build = build
        self._markers = markers
        self._compiled: tuple | None = None
        self._lock = threading.Lock()

    def _compile(self) -> tuple:
        with self._lock:
            if self._compiled is not None:
                return self._compiled
            query = self._build(**self._markers).query
            if query.is_sliced:
                raise ImproperlyConfigured("a prepared statement is sliced by rows(limit=, offset=), not when built")
            compiler = query.get_compiler(DEFAULT_DB_ALIAS)
            sql, params = compiler.as_sql()
            slots = {}
            for name, marker in self._markers.items():
                positions = [i for i, param in enumerate(params) if param == marker]
                if not positions:
                    raise ImproperlyConfigured(f"marker {name}={marker!r} is not a parameter of the statement")
                slots[name] = positions
            self._compiled = (compiler, sql, tuple(params), slots)
            return self._compiled

    def rows(self, *, limit: int | None = None, offset: int = 0, **values: Any) -> list[tuple]:
        """The statement's rows with ``values`` (one per marker, by name) in the markers' places;
        ``limit``/``offset``: ``[offset:offset + limit]`` of them (the statement is not sliced)."""
        if values.keys() != self._markers.keys():
            raise TypeError(f"expected values for {sorted(self._markers)}, got {sorted(values)}")
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.vendor != "postgresql":
            queryset = self._build(**values)
            return list(queryset[offset:offset + limit] if limit is not None else queryset[offset:])
        compiler, sql, params, slots = self._compiled or self._compile()
        params = list(params)
        for name, positions in slots.items():
            for position in positions:
                params[position] = values[name]
        if limit is not None or offset:
            # Django writes a slice into the SQL as literals: one compiled statement serves every
            # slice by taking it as parameters (PostgreSQL: LIMIT NULL is no limit).
            sql = f"{sql} LIMIT %s OFFSET %s"
            params += [limit, offset]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        return list(compiler.results_iter(results=[fetched], tuple_expected=True))
