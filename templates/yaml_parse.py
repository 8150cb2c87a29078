"""Hostile-input-safe YAML parsing of a template: bytes or text → a JSON-compatible ``dict``; and
the error format every check reports in (``{dotted path: [messages]}``, ``ErrorCollector``).

Bounded in every dimension an attacker controls: size (256 KiB), nesting depth, node count
*after* alias expansion ("billion laughs"), encoding. Uses PyYAML's safe constructor only. Pure
Python (no Django). ``templates.validation`` checks what the parsed document says.
"""
from __future__ import annotations

import base64
import datetime as _dt
import math
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, SequenceNode

# --- limits (hostile input) -----------------------------------------------------------------
MAX_BYTES = 256 * 1024
MAX_DEPTH = 40            # real templates nest 4–5 levels; the composer recurses, so bound it
MAX_NODES = 25_000        # YAML nodes after alias expansion; real templates have < 1,000

# Errors are ``{path: [message]}``; document-level problems use the API input field's name.
DOCUMENT_PATH = "yaml"

Errors = dict[str, list[str]]


def kind_of(value: Any) -> str:
    """The YAML/JSON name of a value's type, for error messages ("a list", "a mapping", ...)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return "null" if value is None else type(value).__name__


# --- parsing --------------------------------------------------------------------------------
class HostileDocument(Exception):
    """Raised inside the composer when a bound is exceeded; reported as a validation error."""


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _BoundedLoader(Composer, _BaseLoader):
    """SafeLoader (libyaml's parser when available) with PyYAML's Python composer on top.

    The Python composer lets us bound nesting depth and node count while composing: libyaml's own
    composer recurses in C with no limit we control. Alias expansion is counted after composition
    (``_expanded_size``): an alias is one event here but stands for its whole anchored subtree.
    """

    def __init__(self, stream):
        _BaseLoader.__init__(self, stream)
        Composer.__init__(self)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                raise HostileDocument(f"document is nested deeper than {MAX_DEPTH} levels")
            # Counted while composing (not after) so 250 KiB of "1," stops early instead of
            # building 120,000 nodes first.
            if self._nodes > MAX_NODES:
                raise HostileDocument(f"document has more than {MAX_NODES} values")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root) -> int:
    """Nodes the document would have with every alias expanded, counting no further than the limit.

    Iterative (no recursion) and stops at MAX_NODES + 1, so a billion-laughs document or a
    self-referencing alias costs at most MAX_NODES steps.
    """
    count = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise HostileDocument(f"document has more than {MAX_NODES} values once YAML aliases are expanded")
        if depth > MAX_DEPTH:
            raise HostileDocument(f"document is nested deeper than {MAX_DEPTH} levels (through YAML aliases)")
        if isinstance(node, SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
    return count


def _jsonable(value: Any, depth: int = 0) -> Any:
    """YAML scalars PyYAML builds (dates, bytes, NaN, non-string keys) → plain JSON values.

    The document is stored in a JSON column and sent in API answers, so everything must be JSON.
    """
    if isinstance(value, dict):
        return {_key(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON (and PostgreSQL) have no NaN/inf
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set):
        return [_jsonable(v, depth + 1) for v in sorted(value, key=repr)]
    return str(value)


def _text(value: str) -> str:
    # Double-quoted YAML escapes ("\0", "\ud800") can produce characters PostgreSQL cannot store
    # (NUL in text and jsonb) or UTF-8 cannot encode (lone surrogates): refuse them here.
    if "\x00" in value:
        raise HostileDocument("document contains a NUL character (\\0), which cannot be stored")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise HostileDocument("document contains a lone surrogate (\\uD800-\\uDFFF), which is not valid Unicode")
    return value


def _key(key: Any) -> str:
    if isinstance(key, str):
        return _text(key)
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, (_dt.date, _dt.datetime)):
        return key.isoformat()
    return str(key)


def parse_yaml(source: str | bytes | None) -> tuple[dict | None, Errors]:
    """Parse one YAML document safely. Returns ``(document, {})`` or ``(None, {"yaml": [msg]})``.

    Never raises for any input: every failure is a document-level error message.
    """
    def fail(message: str):
        return None, {DOCUMENT_PATH: [message]}

    if source is None:
        return fail("yaml is required")
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        if len(raw) > MAX_BYTES:
            return fail(f"document is larger than {MAX_BYTES} bytes ({MAX_BYTES // 1024} KiB)")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return fail(f"document is not valid UTF-8 (byte {exc.start})")
    elif isinstance(source, str):
        text = source
        if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
            return fail(f"document is larger than {MAX_BYTES} bytes ({MAX_BYTES // 1024} KiB)")
    else:
        return fail("yaml must be a string")
    if not text.strip():
        return fail("document is empty")

    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:      # lone surrogates, possible through JSON "\ud800"
        return fail(f"document is not valid Unicode (character {exc.start})")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return fail("document is empty")
        _expanded_size(node)
        data = loader.construct_document(node)
        data = _jsonable(data)
    except HostileDocument as exc:
        return fail(str(exc))
    except yaml.MarkedYAMLError as exc:
        where = ""
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = exc.problem or exc.context or "syntax error"
        return fail(f"not valid YAML: {problem}{where}")
    except RecursionError:
        return fail(f"document is nested deeper than {MAX_DEPTH} levels")
    except Exception as exc:  # noqa: BLE001 — ValueError for an out-of-range date, int too long, ...
        return fail(f"not valid YAML: {exc}")
    finally:
        loader.dispose()

    if isinstance(data, dict):
        return data, {}
    if isinstance(data, list):
        return fail("the document must be a mapping of keys to values, not a list")
    if data is None:
        return fail("document is empty")
    return fail(f"the document must be a mapping of keys to values, not a {kind_of(data)}")


# --- the error format: {dotted path: [messages]} ------------------------------------------------

def join_path(path: str, part: Any) -> str:
    return f"{path}.{part}" if path else str(part)


class ErrorCollector:
    """Accumulates ``{path: [messages]}`` in first-seen order, without duplicates."""

    def __init__(self):
        self.errors: Errors = {}

    def add(self, path: str, message: str) -> None:
        messages = self.errors.setdefault(path or DOCUMENT_PATH, [])
        if message not in messages:
            messages.append(message)

    # Type helpers: each returns True when the value has the wanted type (and reports if not).
    def string(self, path: str, value: Any, *, allow_empty: bool = True) -> bool:
        if not isinstance(value, str):
            self.add(path, f"must be a string, not a {kind_of(value)}")
            return False
        if not allow_empty and not value.strip():
            self.add(path, "must not be empty")
            return False
        return True

    def mapping(self, path: str, value: Any) -> bool:
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping, not a {kind_of(value)}")
            return False
        return True

    def sequence(self, path: str, value: Any) -> bool:
        if not isinstance(value, list):
            self.add(path, f"must be a list, not a {kind_of(value)}")
            return False
        return True

    def boolean(self, path: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.add(path, f"must be true or false, not a {kind_of(value)}")
            return False
        return True

    def scalar(self, path: str, value: Any) -> bool:
        if isinstance(value, (dict, list)) or value is None:
            self.add(path, f"must be a string, not a {kind_of(value)}")
            return False
        return True


def merge_errors(*many: Errors) -> Errors:
    out: Errors = {}
    for errors in many:
        for path, messages in errors.items():
            bucket = out.setdefault(path, [])
            bucket.extend(m for m in messages if m not in bucket)
    return out
