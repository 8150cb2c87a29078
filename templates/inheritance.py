"""Template inheritance: merge parents into a child, detect self-inheritance, missing parents, cycles.

Pure Python, like ``templates.validation``: parents are found through a ``lookup`` callable, so
the same code serves stored templates (``templates.services``) and files being loaded together
(the loader saves them in dependency order, after which they are stored templates too).

Merge rules, applied to each parent in the order of ``inherits``, then to the child:

* ``packages.{system,conda,spack,pip}``, ``users``, ``services`` — appended (parents first);
* ``post_install`` — concatenated, parents first, one script after the other;
* ``instance_defaults`` — merged key by key, the child wins (``type``, ``root_volume_gb``);
  ``ports`` are the union in first-seen order (de-duplicated); ``estimated_cost_per_hour`` is
  merged per architecture, the child wins;
* ``tags`` — merged key by key, the child wins;
* ``ami_config`` — merged key by key, the child wins; ``ami_mappings`` merged per region and the
  legacy ``amis`` per region and architecture (unlike CloudWorkstation, which ignores a parent's
  ``ami_config``);
* everything else (``package_manager``, ``base``, ``description``, unknown keys, ...) — the child's
  value when it gives one, else the last parent's.

``name``, ``slug`` and ``inherits`` are never inherited: they identify the child itself.
A key present with a null value counts as "not given".
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from templates.validation import slug_of, validate_fields, validate_whole
from templates.yaml_parse import Errors, merge_errors

IDENTITY_KEYS = ("name", "slug", "inherits")
PACKAGE_KINDS = ("system", "conda", "spack", "pip")
MAX_ANCESTORS = 100   # stops a walk through corrupt stored data; real chains are 1–3 deep


@dataclass(frozen=True)
class Parent:
    """What inheritance needs to know about a stored template."""

    slug: str
    name: str
    document: dict                    # merged (its own parents already applied)
    inherits: tuple[str, ...] = ()    # its own ``inherits`` refs, to walk ancestors for cycles


Lookup = Callable[[str], "Parent | None"]


def _append(parent: Any, child: Any) -> Any:
    if isinstance(parent, list) and isinstance(child, list):
        return copy.deepcopy(parent) + copy.deepcopy(child)
    return copy.deepcopy(child)


def _dedupe(values: Iterable) -> list:
    seen: list = []
    for value in values:
        if value not in seen:          # list membership: works for unhashable values too
            seen.append(value)
    return seen


def _merge_packages(parent: Any, child: Any) -> Any:
    if not (isinstance(parent, dict) and isinstance(child, dict)):
        return copy.deepcopy(child)
    out = copy.deepcopy(parent)
    for kind, value in child.items():
        if value is None:
            continue
        out[kind] = _append(out.get(kind), value) if kind in PACKAGE_KINDS else copy.deepcopy(value)
    return out


def _merge_instance_defaults(parent: Any, child: Any) -> Any:
    if not (isinstance(parent, dict) and isinstance(child, dict)):
        return copy.deepcopy(child)
    out = copy.deepcopy(parent)
    for key, value in child.items():
        if value is None:
            continue
        if key == "ports" and isinstance(out.get("ports"), list) and isinstance(value, list):
            out["ports"] = _dedupe(out["ports"] + value)
        elif key == "estimated_cost_per_hour" and isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = {**out[key], **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_ami_config(parent: Any, child: Any) -> Any:
    if not (isinstance(parent, dict) and isinstance(child, dict)):
        return copy.deepcopy(child)
    out = copy.deepcopy(parent)
    for key, value in child.items():
        if value is None:
            continue
        if key == "ami_mappings" and isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = {**out[key], **copy.deepcopy(value)}            # per region, child wins
        elif key == "amis" and isinstance(out.get(key), dict) and isinstance(value, dict):
            merged = dict(out[key])
            for region, by_arch in value.items():
                if isinstance(merged.get(region), dict) and isinstance(by_arch, dict):
                    merged[region] = {**merged[region], **copy.deepcopy(by_arch)}
                else:
                    merged[region] = copy.deepcopy(by_arch)
            out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_post_install(parent: Any, child: Any) -> Any:
    if isinstance(parent, str) and isinstance(child, str) and parent.strip():
        return parent.rstrip("\n") + "\n\n" + child
    return copy.deepcopy(child)


_MERGERS = {
    "packages": _merge_packages,
    "users": _append,
    "services": _append,
    "post_install": _merge_post_install,
    "instance_defaults": _merge_instance_defaults,
    "tags": lambda p, c: ({**p, **copy.deepcopy(c)} if isinstance(p, dict) and isinstance(c, dict)
                          else copy.deepcopy(c)),
    "ami_config": _merge_ami_config,
}


def merge_two(base: dict, child: dict) -> dict:
    """``child`` applied on top of ``base`` with the rules above (inputs are not modified)."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        if value is None:
            if key not in out:
                out[key] = None
            continue
        merger = _MERGERS.get(key)
        out[key] = merger(out[key], value) if merger and key in out else copy.deepcopy(value)
    return out


def merge_documents(parents: list[dict], child: dict) -> dict:
    """The child's effective document: each parent in order, then the child."""
    acc: dict = {}
    for parent in parents:
        acc = merge_two(acc, {k: v for k, v in parent.items() if k not in IDENTITY_KEYS})
    merged = merge_two(acc, child)
    for key in IDENTITY_KEYS:          # identity is the child's alone (absent stays absent)
        merged.pop(key, None)
        if key in child:
            merged[key] = copy.deepcopy(child[key])
    return merged


@dataclass
class Resolution:
    parents: list[Parent] = field(default_factory=list)
    errors: Errors = field(default_factory=dict)


def resolve_parents(doc: dict, *, lookup: Lookup, self_refs: Iterable[str]) -> Resolution:
    """Look up the parents named in ``doc["inherits"]``; report self-inheritance, missing parents
    and cycles at the path ``inherits``.

    ``self_refs`` are the names the child is known by (its slug and name, and when replacing a
    stored template, its stored slug and name too).
    """
    result = Resolution()
    refs = doc.get("inherits")
    if not isinstance(refs, list):
        return result
    me = {r for r in self_refs if isinstance(r, str) and r}

    def add(message: str):
        result.errors.setdefault("inherits", [])
        if message not in result.errors["inherits"]:
            result.errors["inherits"].append(message)

    seen_slugs: set[str] = set()
    for ref in refs:
        if not isinstance(ref, str) or not ref.strip():
            continue  # reported by validate_fields
        if ref in me:
            add(f"template cannot inherit from itself ('{ref}')")
            continue
        parent = lookup(ref)
        if parent is None:
            add(f"parent template '{ref}' not found")
            continue
        if parent.slug in me or parent.name in me:
            add(f"template cannot inherit from itself ('{ref}')")
            continue
        cycle = _find_cycle(parent, lookup=lookup, me=me)
        if cycle:
            add("inheritance cycle: " + " → ".join([slug_of(doc) or ref, *cycle]))
            continue
        if parent.slug in seen_slugs:
            continue  # listed twice: inherit once
        seen_slugs.add(parent.slug)
        result.parents.append(parent)
    return result


def _find_cycle(parent: Parent, *, lookup: Lookup, me: set[str]) -> list[str] | None:
    """Walk the ancestors of ``parent``; if one of them is the child, return the path to it."""
    stack: list[tuple[Parent, list[str]]] = [(parent, [parent.slug])]
    visited: set[str] = set()
    steps = 0
    while stack:
        node, path = stack.pop()
        if node.slug in visited:
            continue
        visited.add(node.slug)
        steps += 1
        if steps > MAX_ANCESTORS:
            return None
        for ref in node.inherits:
            if ref in me:
                return path + [ref]
            ancestor = lookup(ref)
            if ancestor is None:
                continue
            if ancestor.slug in me or ancestor.name in me:
                return path + [ancestor.slug]
            stack.append((ancestor, path + [ancestor.slug]))
    return None


def validate_with_parents(doc: dict, *, lookup: Lookup, self_refs: Iterable[str] = ()) -> tuple[dict | None, Errors]:
    """Full validation of one parsed document: field rules on its own text, parents resolved and
    merged, whole-document rules on the merged result. Returns ``(merged or None, errors)``."""
    errors = validate_fields(doc)
    refs = set(self_refs)
    for ref in (doc.get("name"), slug_of(doc)):
        if isinstance(ref, str) and ref:
            refs.add(ref)
    if not doc.get("inherits"):
        errors = merge_errors(errors, validate_whole(doc))
        return (doc if not errors else None), errors
    resolution = resolve_parents(doc, lookup=lookup, self_refs=refs)
    if resolution.errors:
        # Without every parent the merged document is unknown; still report the child's own
        # required keys that cannot come from a parent.
        missing = {} if isinstance(doc.get("name"), str) and doc["name"].strip() else {"name": ["name is required"]}
        return None, merge_errors(errors, resolution.errors, missing)
    merged = merge_documents([p.document for p in resolution.parents], doc)
    errors = merge_errors(errors, validate_whole(merged))
    return (merged if not errors else None), errors
