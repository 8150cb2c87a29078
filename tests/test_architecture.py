"""Which way imports point (docs/architecture.md), checked over the source with ``ast``.

* apps import only apps to their left: ``templates`` ← ``amis`` ← ``ratings``, ``sharing`` ←
  ``resolver``, ``notifications`` ← ``dashboard`` (apps on one level know nothing of each other),
  plus the kernel;
* the kernel (``registry/``) imports no app; only its composers do — ``urls.py``, ``web_urls.py``,
  the settings, the management commands and ``registry/composers/`` — and no app imports a composer;
* no import circle between modules, counting the imports inside function bodies too;
* no import of the project's own modules inside a function body, except in ``AppConfig.ready``
  (Django's place for connecting receivers and registering tasks): a lazy import that dodges a
  circle hides the circle instead of removing it.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"templates": 0, "amis": 1, "ratings": 2, "sharing": 2, "resolver": 3, "notifications": 3, "dashboard": 4}
KERNEL = "registry"
COMPOSERS = ("registry.urls", "registry.web_urls", "registry.settings", "registry.management", "registry.composers")
PACKAGES = (*LAYERS, KERNEL)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _imports(path: Path, module: str) -> list[tuple[str, int, str | None]]:
    """``(imported module, line, enclosing function or None)`` for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int, str | None]] = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative import: resolve against this module's package
                    package = module.split(".")[: -child.level] if not path.name == "__init__.py" else \
                        module.split(".")[: len(module.split(".")) - child.level + 1]
                    base = ".".join([*package, base] if base else package)
                # ``from amis import services`` imports the module amis.services
                found.extend((f"{base}.{alias.name}", child.lineno, function) for alias in child.names)
            visit(child, inner)

    visit(tree, None)
    return found


def _project_target(name: str, sources: dict[str, Path]) -> str | None:
    """The project module an imported name refers to (longest existing prefix), or None."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in sources:
            return candidate
    return None


def _is_composer(module: str) -> bool:
    return any(module == c or module.startswith(c + ".") for c in COMPOSERS)


def _graph():
    sources = _sources()
    edges: dict[str, set[str]] = {m: set() for m in sources}
    where: dict[tuple[str, str], tuple[int, str | None]] = {}
    for module, path in sources.items():
        for name, line, function in _imports(path, module):
            target = _project_target(name, sources)
            if target is not None and target != module:
                edges[module].add(target)
                where.setdefault((module, target), (line, function))
    return sources, edges, where


def _violation(source: str, target: str) -> str | None:
    """Why ``source`` may not import ``target`` (None when it may)."""
    src_pkg, dst_pkg = source.split(".")[0], target.split(".")[0]
    if src_pkg == dst_pkg and not (src_pkg == KERNEL and _is_composer(target) and not _is_composer(source)):
        return None
    if dst_pkg == KERNEL:
        if _is_composer(target) and not _is_composer(source):
            return "only composers may import a composer"
        return None
    if src_pkg == KERNEL:
        return None if _is_composer(source) else "the kernel imports no app"
    if LAYERS[dst_pkg] >= LAYERS[src_pkg]:
        return f"{src_pkg} may only import apps to its left ({dst_pkg} is not)"
    return None


def test_imports_point_the_right_way():
    _sources_, edges, where = _graph()
    wrong = [f"{src} → {dst} (line {where[(src, dst)][0]}): {why}"
             for src, targets in sorted(edges.items()) for dst in sorted(targets)
             if (why := _violation(src, dst))]
    assert not wrong, "imports that point the wrong way:\n" + "\n".join(wrong)


def test_no_import_circles():
    _sources_, edges, where = _graph()
    circles, state, stack = [], {}, []

    def walk(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            walk(node)
    assert not circles, "import circles:\n" + "\n".join(" → ".join(c) for c in circles)


def test_no_project_imports_inside_functions_except_in_app_ready():
    sources, _edges, _where = _graph()
    lazy = []
    for module, path in sorted(sources.items()):
        for name, line, function in _imports(path, module):
            if function is None or _project_target(name, sources) is None:
                continue
            if path.name == "apps.py" and function == "ready":
                continue
            lazy.append(f"{module}:{line} in {function}(): import of {name}")
    assert not lazy, "imports inside function bodies (move them to the top, or break the circle):\n" + "\n".join(lazy)


def test_the_checker_sees_wrong_imports():
    """The rules above catch what they are meant to catch (a test of the test)."""
    assert _violation("amis.services", "ratings.models")
    assert _violation("ratings.services", "sharing.models")
    assert _violation("registry.audit", "amis.models")
    assert _violation("amis.views", "registry.composers.gdpr")
    assert _violation("registry.api", "registry.composers.gdpr")
    assert _violation("templates.services", "amis.models")
    assert _violation("resolver.services", "notifications.models")
    assert not _violation("resolver.services", "amis.selectors")
    assert not _violation("registry.composers.gdpr", "ratings.services")
    assert not _violation("registry.urls", "registry.composers.gdpr_api")
    assert not _violation("sharing.services", "registry.audit")
