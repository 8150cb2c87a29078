"""Property-based API fuzzing with schemathesis against /api/schema/ (every operation, anonymous,
as a signed-in user and as a moderator).

Checks per example: no 5xx (``not_a_server_error``) and every documented response conforms to its
schema (``response_schema_conformance``). Status codes the schema does not document (mostly the
4xx envelope) are collected and printed, not failed. Examples per operation are bounded (``SCHEMATHESIS_MAX_EXAMPLES``,
default 5) so the run fits CI; the total number of examples run is printed at the end
(``-s`` to see it) and written to ``SCHEMATHESIS_COUNT_FILE`` when set.
AWS calls go to in-process moto; nothing leaves the machine.
"""
import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.exceptions import CheckFailed

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5"))
COUNTS: dict[str, int] = {}
UNDOCUMENTED: dict[str, set] = {}
CHECKS = (not_a_server_error, response_schema_conformance)


@pytest.fixture
def api_schema(db, aws, settings):
    from django.core.cache import cache
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from registry.wsgi import application

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    cache.clear()
    # As django.test.Client does: a WSGI call must not close the test's (transactional) connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.from_wsgi("/api/schema/?format=json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.from_pytest_fixture("api_schema")


@pytest.fixture
def headers_for(make_user):
    from rest_framework.authtoken.models import Token

    made: dict[str, dict] = {}

    def make(who: str) -> dict:
        # One account per test function (hypothesis calls this once per example).
        if who == "anonymous":
            return {}
        if who not in made:
            user = make_user("fuzz-mod", superuser=True) if who == "moderator" else make_user("fuzz-user")
            made[who] = {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}
        return made[who]

    return make


@pytest.fixture(scope="module", autouse=True)
def _report_count():
    yield
    total = sum(COUNTS.values())
    print(f"\nschemathesis: {total} examples run ({', '.join(f'{k}={v}' for k, v in sorted(COUNTS.items()))})")
    for operation, codes in sorted(UNDOCUMENTED.items()):
        print(f"  undocumented status {sorted(codes)}: {operation}")
    if os.environ.get("SCHEMATHESIS_COUNT_FILE"):
        with open(os.environ["SCHEMATHESIS_COUNT_FILE"], "w") as fh:
            fh.write(f"{total}\n")


def _run(case, headers, who):
    COUNTS[who] = COUNTS.get(who, 0) + 1
    # Our credentials win over whatever the generator put in security headers/cookies.
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    case.cookies = {}
    started = time.monotonic()
    response = case.call_wsgi(headers=headers)
    elapsed = time.monotonic() - started
    if elapsed > 2:  # slow endpoints are worth knowing about (printed with -s)
        print(f"\nslow {elapsed:.1f}s {case.operation.verbose_name} -> {response.status_code}")
    try:
        case.validate_response(response, checks=(status_code_conformance,))
    except CheckFailed:
        UNDOCUMENTED.setdefault(case.operation.verbose_name, set()).add(response.status_code)
    case.validate_response(response, checks=CHECKS)


_settings = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))


@schema.parametrize()
@_settings
def test_api_anonymous(case, headers_for):
    _run(case, headers_for("anonymous"), "anonymous")


@schema.parametrize()
@_settings
def test_api_authenticated(case, headers_for):
    _run(case, headers_for("user"), "user")


@schema.parametrize()
@_settings
def test_api_moderator(case, headers_for):
    _run(case, headers_for("moderator"), "moderator")


def test_nul_in_any_query_parameter_of_every_operation_is_a_400(api_schema, headers_for):
    """Every documented query parameter of every operation, given a value with a NUL (and one
    undocumented parameter named with a NUL): a 400 envelope, never a 5xx (PostgreSQL refuses NUL)."""
    tried = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        path_parameters = {p.name: "1" for p in operation.path_parameters}
        names = [p.name for p in operation.query] or []
        for query in [{name: "a\x00b"} for name in names] + [{"x\x00": "1"}]:
            case = operation.make_case(query=query, path_parameters=path_parameters)
            response = case.call_wsgi(headers=headers_for("moderator"))
            tried += 1
            assert response.status_code == 400, (operation.verbose_name, query, response.status_code)
            assert response.json["code"] == "invalid_parameters"
    print(f"\nNUL query strings: {tried} requests")
    assert tried > 50
