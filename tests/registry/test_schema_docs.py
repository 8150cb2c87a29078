"""The API docs: every operation has a summary and a description, anonymous endpoints carry no
lock, and the main requests and the error envelope have examples."""
import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def test_every_operation_has_a_summary_and_a_description(schema):
    missing = [(path, method, key) for path, method, op in _operations(schema)
               for key in ("summary", "description") if not (op.get(key) or "").strip()]
    assert missing == []


@pytest.mark.parametrize("path, method", [("/api/v1/ami/resolve/{template}", "get"), ("/api/v1/amis/", "get"),
                                          ("/api/v1/amis/{ami}", "get"), ("/api/v1/auth/token", "post"),
                                          ("/api/v1/templates/", "get")])
def test_anonymous_endpoints_show_no_lock(schema, path, method):
    assert "security" not in schema["paths"][path][method]


@pytest.mark.parametrize("path, method", [("/api/v1/amis/{ami}/submit", "post"), ("/api/v1/me", "get"),
                                          ("/api/v1/amis/{ami}/approve", "post")])
def test_signed_in_endpoints_keep_their_lock(schema, path, method):
    security = schema["paths"][path][method]["security"]
    assert {"tokenAuth": []} in security and {} not in security


def test_examples_for_the_main_requests_and_the_error_envelope(schema):
    paths = schema["paths"]
    for path, method in (("/api/v1/amis/", "post"), ("/api/v1/amis/{ami}/submit", "post"),
                         ("/api/v1/amis/{ami}/ratings/", "post"), ("/api/v1/amis/{ami}/shares/", "post")):
        content = paths[path][method]["requestBody"]["content"]["application/json"]
        assert content.get("examples"), path
    envelope = paths["/api/v1/amis/{ami}/submit"]["post"]["responses"]
    examples = [e["value"] for code in ("403", "409") for e in
                envelope[code]["content"]["application/json"]["examples"].values()]
    assert {"code": "invalid_transition", "current_status": "draft"}.items() <= examples[1].items()
