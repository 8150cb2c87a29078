"""A regression guard for the catalogue at size that times nothing: on a seeded database, the
number of queries of browse, search and facets, and their query plans.

Plans are read with ``EXPLAIN`` from the SQL the API really ran, on a table of a few thousand
seeded rows (seeding 100,000 would make the suite slow). At that size PostgreSQL rightly prefers
reading the whole table and sorting it over walking an index (it did, when this test was written
without the setting below), so plans are read with ``enable_seqscan = off``: PostgreSQL then
picks a sequential scan only where no index can answer the query — the property that keeps the
queries fast at 100,000 rows (bench/bench_scale.py measures that). Browse pages without a search
must also come out of their ordering's index already sorted (no Sort node: page 1 reads ~25
index entries whatever the size). Unfiltered facet counts read every listed row by nature; they
are computed once per catalogue generation and then served from the cache, which the query count
asserts.
"""
import json

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from amis.models import AMIRegion
from tests.amis.helpers import client_for

pytestmark = pytest.mark.django_db(transaction=True)
LIST = "/api/v1/amis/"
SEEDED = 4000

PAGE_REQUESTS = [
    {},                                           # browse page 1, default "best" order
    {"ordering": "-rating_avg"}, {"ordering": "-download_count"}, {"ordering": "-created_at"},
    {"ordering": "name"},
    {"q": "pytorch"}, {"q": "gpu notebook"},      # one- and two-word search
    {"q": "pyhton"},                              # typo tolerance
    {"category": "Genomics", "architecture": "arm64"},
    {"region": "eu-west-1"}, {"verified": "true", "ordering": "-created_at"},
]


@pytest.fixture
def seeded(django_db_setup):
    call_command("seed_scale", amis=SEEDED, ratings=SEEDED, downloads=SEEDED, stdout=open("/dev/null", "w"))


def _plans_on_ami_registry(queries):
    """``(sql, plan text)`` of every captured SELECT that reads the AMI table (seqscan off)."""
    out = []
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            for query in queries:
                sql = query["sql"]
                if not sql.startswith(("SELECT", "WITH")) or '"ami_registry"' not in sql:
                    continue
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
                out.append((sql, json.dumps(cursor.fetchone()[0])))
        finally:
            cursor.execute("RESET enable_seqscan")
    return out


def _sorts(plan_json: str) -> int:
    def walk(node):
        return int(node.get("Node Type") in ("Sort", "Incremental Sort")) + sum(walk(c) for c in node.get("Plans", []))
    return sum(walk(entry["Plan"]) for entry in json.loads(plan_json))


def _seq_scans_on_ami(plan_json: str) -> int:
    def walk(node):
        here = int(node.get("Node Type") == "Seq Scan" and node.get("Relation Name") == "ami_registry")
        return here + sum(walk(child) for child in node.get("Plans", []))
    return sum(walk(entry["Plan"]) for entry in json.loads(plan_json))


def _request(client, params):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST, {**params, "page_size": 25})
    assert response.status_code == 200, response.json()
    return response, captured.captured_queries


def test_page_queries_use_indexes(seeded):
    for params in PAGE_REQUESTS:                   # one seed for all: seeding dominates the time
        _check_page(params)


def _check_page(params):
    client = client_for(None)
    _request(client, params)                       # warm: facets and count cached
    response, queries = _request(client, params)
    # Warm: generation + page ids + page rows + regions prefetch (+ the typo look-up, cached per
    # generation: its generation read).
    assert len(queries) <= 6, [q["sql"][:120] for q in queries]
    page_plans = _plans_on_ami_registry(queries)
    assert page_plans, "the page query reads the AMI table"
    for sql, plan in page_plans:
        assert _seq_scans_on_ami(plan) == 0, f"sequential scan on ami_registry:\n{sql}\n{plan}"
    if set(params) <= {"ordering"}:
        assert _sorts(page_plans[0][1]) == 0, f"page 1 sorts instead of reading its index:\n{page_plans[0][1]}"


def test_facet_and_count_queries_have_an_index_path(seeded):
    for params in PAGE_REQUESTS:
        _check_facets(params)


def _check_facets(params):
    cache.clear()                                  # cold: this request computes facets and count
    client = client_for(None)
    response, queries = _request(client, params)   # cold: facets and count computed
    assert response.json()["count"] == sum(response.json()["facets"]["architecture"].values()) \
        or "architecture" in params
    filtered = {k for k in params if k != "ordering"}
    plans = _plans_on_ami_registry(queries)
    # Computed on this cold request: 4 facets + the count, or — no facet parameter set — one
    # statement for the four facets and the count; then the page's ids and rows.
    faceted = {"category", "architecture", "region", "template"} & set(params)
    facet_plans = [sql for sql, _ in plans if "COUNT(" in sql.upper()]
    assert len(facet_plans) == (5 if faceted else 1), [sql[:100] for sql, _ in plans]
    for sql, plan in plans:
        if not filtered:
            continue  # counting every listed row: a full read by nature, cached per generation
        assert _seq_scans_on_ami(plan) == 0, f"no index can answer:\n{sql}\n{plan}"


def test_ami_lookup_reads_indexes_and_joins_little(seeded):
    """``GET /amis/{ami}`` by registry id, canonical AMI id and a regional copy's id: the look-up is
    its own small statement (no seven-relation join planned around its UNION), and no statement
    reads the AMI table sequentially."""
    copy = AMIRegion.objects.filter(is_source=False, ami__status="approved", ami__visibility="public").first()
    ami = copy.ami
    client = client_for(None)
    for ref in (str(ami.pk), ami.ami_id, copy.image_id):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"{LIST}{ref}")
        assert response.status_code == 200 and response.json()["id"] == str(ami.pk), ref
        reads = [q["sql"] for q in captured.captured_queries if '"ami_registry"' in q["sql"]]
        lookup = next(sql for sql in reads if sql.startswith('SELECT "ami_registry"."id" AS "pk"'))
        assert "JOIN" not in lookup, lookup
        for sql, plan in _plans_on_ami_registry(captured.captured_queries):
            assert _seq_scans_on_ami(plan) == 0, f"sequential scan on ami_registry:\n{sql}\n{plan}"
