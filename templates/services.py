"""Use-cases that change workstation templates: create, replace, load files. Transactional, audited.

Every entry point (API, ``load_templates``, the demo seed) goes through these functions, so the
same validation, conflict rules, audit events and ``template_changed`` signal apply everywhere.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Q

from registry.audit import audit_record
from registry.errors import ApplicationError, Conflict, InvalidInput
from templates.inheritance import validate_with_parents
from templates.models import Template
from templates.selectors import template_get, template_parent_lookup
from templates.signals import template_changed
from templates.validation import ValidationResult, slug_of
from templates.yaml_parse import DOCUMENT_PATH, parse_yaml

YAML_SUFFIXES = (".yml", ".yaml")


# --- validation against stored templates ----------------------------------------------------
def template_validate(*, source_yaml: str | bytes | None, current: Template | None = None) -> ValidationResult:
    """Parse and validate a template text, looking its parents up among stored templates.

    Read-only and never raises for any input. ``current`` is the stored template the text would
    replace (so inheriting from its own stored name is reported as self-inheritance).
    """
    doc, errors = parse_yaml(source_yaml)
    if doc is None:
        return ValidationResult(document=None, errors=errors)
    self_refs = [current.slug, current.name] if current is not None else []
    merged, errors = validate_with_parents(doc, lookup=template_parent_lookup, self_refs=self_refs)
    return ValidationResult(document=doc, errors=errors, merged=merged)


def _text(source_yaml: str | bytes) -> str:
    if isinstance(source_yaml, (bytes, bytearray)):
        return bytes(source_yaml).decode("utf-8-sig")   # valid: parse_yaml already decoded it once
    return source_yaml


def _columns(doc: dict, merged: dict, source_yaml: str | bytes) -> dict:
    """Model fields from a validated document (the denormalised columns come from the merged one)."""
    def text(key: str, limit: int | None = None) -> str:
        value = merged.get(key)
        value = "" if value is None or isinstance(value, (dict, list)) else str(value)
        return value[:limit] if limit else value

    return {
        "slug": slug_of(doc),
        "name": doc["name"].strip(),
        "description": text("description"),
        "category": text("category", 100),
        "base": text("base", 50),
        "version": text("version", 50),
        "document": merged,
        "own_document": doc,
        "source_yaml": _text(source_yaml),
    }


def _audit_view(template: Template) -> dict:
    return {"slug": template.slug, "name": template.name, "version": template.version, "base": template.base,
            "category": template.category,
            "source_sha256": hashlib.sha256(template.source_yaml.encode("utf-8")).hexdigest()}


def _notify(template: Template) -> None:
    # NOTE: after commit only — receivers (the resolver's cache) must never act on a rollback.
    transaction.on_commit(lambda: template_changed.send(sender=Template, template=template))


def _lock_parents(doc: dict | None) -> None:
    """Lock the rows of the direct parents so a parent replaced concurrently is either merged
    before us (we wait for its commit and read it) or re-merges us after (it sees our row)."""
    refs = [r for r in (doc or {}).get("inherits") or [] if isinstance(r, str) and r]
    if refs:
        list(Template.objects.select_for_update().filter(Q(slug__in=refs) | Q(name__in=refs))
             .order_by("pk").values_list("pk", flat=True))


def _conflict_for(columns: dict, *, exclude_pk: int | None = None) -> Conflict | None:
    clash = Template.objects.filter(Q(slug=columns["slug"]) | Q(name=columns["name"]))
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    other = clash.first()
    if other is None:
        return None
    what = f"name '{columns['name']}'" if other.name == columns["name"] else f"slug '{columns['slug']}'"
    return Conflict(f"a template with the {what} already exists; PUT /api/v1/templates/{other.slug} replaces it",
                    extra={"template": other.slug})


# --- create / replace -----------------------------------------------------------------------
@transaction.atomic
def template_create(*, source_yaml: str | bytes, actor=None) -> Template:
    """Validate ``source_yaml`` (parents from stored templates) and store it as a new template.

    Raises ``InvalidInput`` (400, ``errors`` by path) when invalid and ``Conflict`` (409) when a
    template with the same name or slug exists. Audited (``template.create``); sends
    ``template_changed`` after commit.
    """
    doc, _ = parse_yaml(source_yaml)
    _lock_parents(doc)
    result = template_validate(source_yaml=source_yaml)
    if not result.valid:
        raise InvalidInput("The template is not valid.", errors=result.errors)
    columns = _columns(result.document, result.merged, source_yaml)
    conflict = _conflict_for(columns)
    if conflict:
        raise conflict
    try:
        with transaction.atomic():   # savepoint: a concurrent insert of the same slug is a 409
            template = Template.objects.create(**columns)
    except IntegrityError:
        raise Conflict(f"a template with the name '{columns['name']}' or slug '{columns['slug']}' already exists")
    audit_record(actor=actor, action="template.create", target=template, after=_audit_view(template))
    _notify(template)
    return template


@dataclass
class ReplaceOutcome:
    template: Template
    changed: bool
    remerged: list[str] = field(default_factory=list)   # slugs of descendants whose document changed


@transaction.atomic
def template_replace(*, template: Template, source_yaml: str | bytes, actor=None) -> ReplaceOutcome:
    """Replace a stored template with a new text and re-merge every template that inherits from it.

    Idempotent: the same text again changes nothing (``changed`` false, no audit event, no signal).
    Raises ``InvalidInput`` (400) when the text is invalid, ``Conflict`` (409) when its name/slug
    belongs to another template or when a descendant would become invalid (e.g. a rename that
    leaves a child's ``inherits`` dangling). Audited (``template.replace``, naming re-merged
    descendants); ``template_changed`` is sent for it and for every re-merged descendant.
    """
    locked = Template.objects.select_for_update().get(pk=template.pk)
    doc, _ = parse_yaml(source_yaml)
    _lock_parents(doc)
    result = template_validate(source_yaml=source_yaml, current=locked)
    if not result.valid:
        raise InvalidInput("The template is not valid.", errors=result.errors)
    columns = _columns(result.document, result.merged, source_yaml)
    conflict = _conflict_for(columns, exclude_pk=locked.pk)
    if conflict:
        raise conflict
    if all(getattr(locked, key) == value for key, value in columns.items()):
        return ReplaceOutcome(template=locked, changed=False)

    before = _audit_view(locked)
    old_refs = {locked.slug, locked.name}
    for key, value in columns.items():
        setattr(locked, key, value)
    locked.save(update_fields=[*columns, "updated_at"])
    remerged = _remerge_descendants(locked, extra_refs=old_refs)
    audit_record(actor=actor, action="template.replace", target=locked, before=before,
                 after={**_audit_view(locked), "remerged": [t.slug for t in remerged]})
    _notify(locked)
    for child in remerged:
        _notify(child)
    template.refresh_from_db()
    return ReplaceOutcome(template=locked, changed=True, remerged=[t.slug for t in remerged])


def _remerge_descendants(root: Template, *, extra_refs: Iterable[str] = ()) -> list[Template]:
    """Re-merge children, grandchildren, ... of ``root`` (breadth first, each once).

    Runs inside the caller's transaction; descendants are row-locked. Raises ``Conflict`` when a
    descendant no longer validates, which rolls the whole change back.
    """
    changed: list[Template] = []
    visited = {root.pk}
    queue: list[tuple[Template, set[str]]] = [(root, {root.slug, root.name, *extra_refs})]
    while queue:
        node, refs = queue.pop(0)
        query = Q()
        for ref in refs:
            query |= Q(own_document__inherits__contains=[ref])
        children = Template.objects.select_for_update().filter(query).exclude(pk__in=visited).order_by("pk")
        for child in children:
            visited.add(child.pk)
            merged, errors = validate_with_parents(child.own_document, lookup=template_parent_lookup,
                                                   self_refs=[child.slug, child.name])
            if errors:
                raise Conflict(
                    f"template '{child.slug}' inherits from '{root.slug}' and would become invalid; "
                    f"change it first", errors={f"{child.slug}.{path}": msgs for path, msgs in errors.items()})
            if merged != child.document:
                columns = _columns(child.own_document, merged, child.source_yaml)
                for key in ("description", "category", "base", "version", "document"):
                    setattr(child, key, columns[key])
                child.save(update_fields=["description", "category", "base", "version", "document", "updated_at"])
                changed.append(child)
            queue.append((child, {child.slug, child.name}))
    return changed


# --- loading files --------------------------------------------------------------------------
@dataclass
class LoadReport:
    """What ``template_load_path`` did, file by file."""

    created: list[tuple[str, str]] = field(default_factory=list)     # (file, slug)
    updated: list[tuple[str, str]] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    errors: dict[str, dict[str, list[str]]] = field(default_factory=dict)   # file → {path: [messages]}

    @property
    def ok(self) -> bool:
        return not self.errors


def _yaml_files(paths: Iterable[str | Path], report: LoadReport) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in YAML_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            report.errors[str(path)] = {DOCUMENT_PATH: ["no such file or directory"]}
    unique: list[Path] = []
    for f in files:
        if f not in unique:
            unique.append(f)
    return unique


def _dependency_order(docs: dict[Path, dict], report: LoadReport) -> list[Path]:
    """Files in an order where parents found among the same files come before their children
    (Kahn's algorithm, ties by file name). Files in an inheritance cycle are reported, not loaded."""
    by_ref: dict[str, Path] = {}
    for path in sorted(docs):
        doc = docs[path]
        for ref in (slug_of(doc), doc.get("name")):
            if not isinstance(ref, str) or not ref:
                continue
            if ref in by_ref and by_ref[ref] != path:
                # Two files claim one template: loading both would silently keep the last one.
                report.errors[str(path)] = {"slug" if ref == slug_of(doc) else "name": [
                    f"'{ref}' is also defined by {by_ref[ref]} in the same load"]}
                break
            by_ref.setdefault(ref, path)
    docs = {p: d for p, d in docs.items() if str(p) not in report.errors}
    deps: dict[Path, set[Path]] = {}
    for path, doc in docs.items():
        refs = doc.get("inherits") if isinstance(doc.get("inherits"), list) else []
        deps[path] = {by_ref[r] for r in refs if isinstance(r, str) and r in by_ref and by_ref[r] != path}
    order: list[Path] = []
    done: set[Path] = set()
    pending = sorted(docs)
    while pending:
        ready = [p for p in pending if deps[p] <= done]
        if not ready:
            break
        for p in ready:
            order.append(p)
            done.add(p)
        pending = [p for p in pending if p not in done]
    for path in pending:   # every file left waits on a cycle (or on a file inside one)
        names = ", ".join(sorted(slug_of(docs[p]) or str(p) for p in pending))
        report.errors[str(path)] = {"inherits": [f"inheritance cycle among the files being loaded: {names}"]}
    return order


def template_load_path(*, paths: Iterable[str | Path], actor=None) -> LoadReport:
    """Load template files and folders (``*.yml``/``*.yaml``, recursively) into the registry.

    Idempotent: an unchanged file is reported ``unchanged``; a changed one replaces the stored
    template (matched by slug, else by name). Parents may be stored templates or files of the same
    load (loaded first). Every file is its own transaction: an invalid file is reported with *all*
    its errors and the valid ones still load. Never raises for bad files.
    """
    report = LoadReport()
    docs: dict[Path, dict] = {}
    sources: dict[Path, bytes] = {}
    for path in _yaml_files(paths, report):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            report.errors[str(path)] = {DOCUMENT_PATH: [f"cannot read file: {exc.strerror or exc}"]}
            continue
        doc, errors = parse_yaml(raw)
        if doc is None:
            report.errors[str(path)] = errors
            continue
        docs[path] = doc
        sources[path] = raw

    failed_refs: set[str] = set()
    for path in _dependency_order(docs, report):
        doc = docs[path]
        bad_parents = [r for r in doc.get("inherits") or [] if isinstance(r, str) and r in failed_refs]
        if bad_parents:
            report.errors[str(path)] = {"inherits": [f"parent template '{r}' is invalid (see its file)"
                                                     for r in bad_parents]}
            failed_refs.update(r for r in (slug_of(doc), doc.get("name")) if isinstance(r, str))
            continue
        try:
            existing = template_get(slug_of(doc)) or template_get(doc.get("name"))
            if existing is None:
                template = template_create(source_yaml=sources[path], actor=actor)
                report.created.append((str(path), template.slug))
            else:
                outcome = template_replace(template=existing, source_yaml=sources[path], actor=actor)
                bucket = report.updated if outcome.changed else report.unchanged
                bucket.append((str(path), outcome.template.slug))
        except ApplicationError as exc:
            report.errors[str(path)] = exc.errors or {DOCUMENT_PATH: [exc.message]}
            failed_refs.update(r for r in (slug_of(doc), doc.get("name")) if isinstance(r, str))
    return report
