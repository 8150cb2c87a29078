"""An image's software manifest — what is installed on it, as data — and the diff of two images.

The manifest of an AMI is its template's packages (``packages.system/conda/spack/pip``, with a
version where the entry pins one: ``python=3.11``, ``torch==2.1``, ``py-numpy@1.26``) merged with
what its publisher declared (``PUT /amis/{ami}/software``): a declared package replaces the
template's entry of the same kind and name, declared facts (kernel, CUDA, driver, Python, R…)
replace the facts read from the template's package names. A publisher may declare in the native
shape, or send an SPDX 2.x JSON document or a CycloneDX JSON BOM; both are reduced to the native
shape (package URLs tell the kind). Not to be confused with the signature manifest
(``amis.signatures``): that one is what a publisher signs about the image's AWS facts.

``software_diff`` is a pure function of two manifests (tested on crafted ones); ``ami_software_diff``
adds the two entries' scan scores and whether one replaces the other. Lineages and their
"previous version" are the versions feature's: until it lands, two images are consecutive when
one names the other as its ``replacement`` (``ami_software_predecessor`` is that seam).
"""
from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from amis.models import AMI, SoftwareManifest
from amis.selectors import ami_require_manage
from registry.audit import audit_record
from registry.errors import InvalidInput
from templates.validation import PACKAGE_KINDS

# Package kinds: the template's four, plus what a BOM may name that none of them installs.
KINDS = (*PACKAGE_KINDS, "other")
# Facts about the image beyond its packages (each a version string). The comparison grid's
# "manifest highlights" are the first ones.
FACT_KEYS = ("os", "kernel", "cuda", "driver", "python", "r", "pytorch", "tensorflow", "julia", "gcc", "mpi")
HIGHLIGHTS = ("cuda", "driver", "python", "pytorch", "tensorflow", "r", "kernel")
MAX_PACKAGES = 5000
NAME_MAX = 200
VERSION_MAX = 100
FACT_MAX = 100
SOURCES = ("declared", "spdx", "cyclonedx")

# purl type → kind (https://github.com/package-url/purl-spec types).
PURL_KINDS = {"pypi": "pip", "conda": "conda", "deb": "system", "rpm": "system", "apk": "system",
              "alpm": "system", "spack": "spack"}
# Package names whose version is a fact (template or BOM entry → fact key).
FACT_PACKAGES = {
    "python": "python", "python3": "python", "r-base": "r", "r": "r", "torch": "pytorch", "pytorch": "pytorch",
    "tensorflow": "tensorflow", "cuda": "cuda", "cuda-toolkit": "cuda", "nvidia-cuda-toolkit": "cuda",
    "pytorch-cuda": "cuda", "julia": "julia", "gcc": "gcc", "openmpi": "mpi", "linux-image": "kernel",
    "kernel": "kernel",
}
_DRIVER_RE = re.compile(r"^nvidia-driver-(\d+)")
# conda "name=1.2" / "name==1.2" / "name>=1.2"; pip "name==1.2" / "name[extra]>=1"; spack "name@1.2".
_SPEC_RE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(?:(==|=|>=|<=|~=|@)\s*([^\s,;]+))?")


def _bad(field: str, message: str):
    return InvalidInput(f"{field}: {message}", errors={field: [message]})


def package_key(kind: str, name: str) -> tuple[str, str]:
    """The identity of a package: its kind and its normalised name (PEP 503 style for every kind)."""
    return kind, re.sub(r"[-_.]+", "-", name).lower()


def parse_spec(kind: str, spec: str) -> dict:
    """``{name, version, kind}`` from a template entry; the version only when pinned exactly
    (``=``, ``==``, ``@``), a range (``>=1``) is kept as written."""
    match = _SPEC_RE.match(spec or "")
    if not match:
        return {"name": (spec or "").strip(), "version": "", "kind": kind}
    name, _extras, op, version = match.groups()
    if op in ("=", "==", "@"):
        version = version or ""
    elif op:
        version = f"{op}{version}"
    return {"name": name, "version": version or "", "kind": kind}


def template_packages(packages: dict | None) -> list[dict]:
    """The packages a template lists (``Template.packages``: ``{system, conda, spack, pip}``)."""
    found = []
    for kind in PACKAGE_KINDS:
        for spec in (packages or {}).get(kind) or []:
            if isinstance(spec, str) and spec.strip():
                found.append(parse_spec(kind, spec))
    return found


def facts_from_packages(packages: list[dict]) -> dict[str, str]:
    """Facts read from package names: ``python=3.11`` → python 3.11, ``nvidia-driver-550`` → driver 550."""
    facts: dict[str, str] = {}
    for pkg in packages:
        name = pkg["name"].lower()
        driver = _DRIVER_RE.match(name)
        if driver:
            facts.setdefault("driver", driver.group(1))
            continue
        key = FACT_PACKAGES.get(name)
        if key and pkg.get("version") and not pkg["version"][0] in "<>~":
            facts.setdefault(key, pkg["version"])
    return facts


# --- what a publisher declares --------------------------------------------------------------------

def _text(field: str, value: Any, max_length: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # "python": 3.11 in hand-written JSON means the version string
    if not isinstance(value, str):
        raise _bad(field, "Must be a string.")
    value = value.strip()
    if required and not value:
        raise _bad(field, "This field is required.")
    if len(value) > max_length or "\x00" in value:
        raise _bad(field, f"At most {max_length} characters, no NUL.")
    return value


def _purl_kind_version(purl: str) -> tuple[str, str]:
    """(kind, version) from a package URL ``pkg:type/namespace/name@version?qualifiers``."""
    if not isinstance(purl, str) or not purl.startswith("pkg:"):
        return "other", ""
    body = purl[4:].split("?", 1)[0].split("#", 1)[0]
    ptype = body.split("/", 1)[0].lower()
    version = body.rsplit("@", 1)[1] if "@" in body else ""
    return PURL_KINDS.get(ptype, "other"), version


def _from_spdx(document: dict) -> dict:
    packages = []
    for pkg in document.get("packages") or []:
        if not isinstance(pkg, dict):
            continue
        kind, purl_version = "other", ""
        for ref in pkg.get("externalRefs") or []:
            if isinstance(ref, dict) and ref.get("referenceType") == "purl":
                kind, purl_version = _purl_kind_version(ref.get("referenceLocator"))
                break
        version = pkg.get("versionInfo") or purl_version
        packages.append({"name": pkg.get("name"), "version": "" if version == "NOASSERTION" else version,
                         "kind": kind})
    return {"packages": packages}


def _from_cyclonedx(document: dict) -> dict:
    packages, facts = [], {}
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    component = metadata.get("component") if isinstance(metadata.get("component"), dict) else None
    for comp in ([component] if component else []) + list(document.get("components") or []):
        if not isinstance(comp, dict):
            continue
        if comp.get("type") == "operating-system":
            facts["os"] = " ".join(str(p) for p in (comp.get("name"), comp.get("version")) if p)
            continue
        if comp is component:
            continue  # the image itself, not a package on it
        kind, purl_version = _purl_kind_version(comp.get("purl"))
        packages.append({"name": comp.get("name"), "version": comp.get("version") or purl_version, "kind": kind})
    return {"packages": packages, **facts}


def manifest_document_clean(document: Any) -> tuple[dict, str]:
    """``(declared manifest, source)`` from a PUT body: native, SPDX JSON or CycloneDX JSON.

    The declared manifest is ``{packages: [{name, version, kind}], facts: {key: version}}``;
    400 naming the field for anything malformed (``packages.3.kind``, ``cuda``, ``spdxVersion``).
    """
    if not isinstance(document, dict):
        raise _bad("non_field_errors", "Send a JSON object: a manifest, an SPDX document or a CycloneDX BOM.")
    if "spdxVersion" in document:
        if not str(document.get("spdxVersion")).startswith("SPDX-2."):
            raise _bad("spdxVersion", "Only SPDX 2.x JSON documents are read.")
        if not isinstance(document.get("packages", []), list):
            raise _bad("packages", "Must be a list.")
        source, native = "spdx", _from_spdx(document)
    elif document.get("bomFormat") is not None:
        if document.get("bomFormat") != "CycloneDX":
            raise _bad("bomFormat", "Only CycloneDX JSON BOMs are read.")
        if not isinstance(document.get("components", []), list):
            raise _bad("components", "Must be a list.")
        source, native = "cyclonedx", _from_cyclonedx(document)
    else:
        unknown = sorted(set(document) - {"packages", *FACT_KEYS})
        if unknown:
            raise _bad(unknown[0], f"Unknown key: a manifest has packages and {', '.join(FACT_KEYS)}.")
        source, native = "declared", document
    packages = native.get("packages") if native.get("packages") is not None else []
    if not isinstance(packages, list):
        raise _bad("packages", "Must be a list.")
    if len(packages) > MAX_PACKAGES:
        raise _bad("packages", f"At most {MAX_PACKAGES} packages.")
    clean, seen = [], {}
    for i, pkg in enumerate(packages):
        path = f"packages.{i}"
        if not isinstance(pkg, dict):
            raise _bad(path, "Must be an object with name, version and kind.")
        extra = sorted(set(pkg) - {"name", "version", "kind"})
        if extra and source == "declared":
            raise _bad(f"{path}.{extra[0]}", "Unknown key: a package has name, version and kind.")
        kind = pkg.get("kind") or "other"
        if kind not in KINDS:
            raise _bad(f"{path}.kind", f"Must be one of: {', '.join(KINDS)}.")
        item = {"name": _text(f"{path}.name", pkg.get("name"), NAME_MAX, required=True),
                "version": _text(f"{path}.version", pkg.get("version"), VERSION_MAX), "kind": kind}
        seen[package_key(kind, item["name"])] = len(clean)
        clean.append(item)
    # One entry per (kind, name): the last one given wins, as in a later line of a lock file.
    clean = [clean[i] for i in sorted(set(seen.values()))]
    facts = {key: _text(key, native.get(key), FACT_MAX) for key in FACT_KEYS if native.get(key) not in (None, "")}
    return {"packages": clean, "facts": facts}, source


def manifest_merge(*, template: list[dict], declared: list[dict]) -> list[dict]:
    """Template packages with declared ones over them (same kind + name → the declared entry),
    each tagged with its ``origin``; sorted by kind, then name."""
    merged: dict[tuple[str, str], dict] = {}
    for origin, packages in (("template", template), ("declared", declared)):
        for pkg in packages:
            merged[package_key(pkg["kind"], pkg["name"])] = {**pkg, "origin": origin}
    return [merged[k] for k in sorted(merged, key=lambda k: (KINDS.index(k[0]) if k[0] in KINDS else 99, k[1]))]


def ami_software_manifest(ami: AMI) -> dict:
    """The effective manifest of ``ami``: ``{packages, <fact keys>, source, declared_at}``."""
    try:
        stored = ami.software  # selected with the AMI by ami_get_visible; one query otherwise
    except SoftwareManifest.DoesNotExist:
        stored = None
    from_template = template_packages(ami.template.packages) if ami.template_id else []
    declared = stored.packages if stored else []
    packages = manifest_merge(template=from_template, declared=declared)
    # Later wins: facts read from the template's packages, then from the declared ones, then the
    # facts declared outright.
    facts = facts_from_packages([p for p in packages if p["origin"] == "template"])
    facts.update(facts_from_packages([p for p in packages if p["origin"] == "declared"]))
    facts.update((stored.facts or {}) if stored else {})
    body: dict = {"packages": packages}
    for key in FACT_KEYS:
        body[key] = facts.get(key, "")
    body["source"] = stored.source if stored else ("template" if ami.template_id else "none")
    body["declared_at"] = stored.updated_at if stored else None
    return body


@transaction.atomic
def ami_software_declare(*, ami: AMI, user, document: Any) -> dict:
    """Store what the publisher declares about ``ami``'s software (owner or moderator; 403 otherwise).

    ``document`` is a native manifest, an SPDX 2.x JSON document or a CycloneDX JSON BOM; it
    replaces the previous declaration (PUT semantics; the template's packages stay underneath).
    Audited as ``ami.software_declare`` with the counts; idempotent for the same document.
    """
    ami_require_manage(user=user, ami=ami)
    declared, source = manifest_document_clean(document)
    AMI.objects.select_for_update().filter(pk=ami.pk).first()  # serialise concurrent PUTs of one image
    manifest, created = SoftwareManifest.objects.get_or_create(
        ami=ami, defaults={"packages": declared["packages"], "facts": declared["facts"], "source": source,
                           "updated_by": user})
    before = None if created else {"packages": len(manifest.packages), "facts": manifest.facts,
                                   "source": manifest.source}
    if not created:
        manifest.packages, manifest.facts, manifest.source, manifest.updated_by = (
            declared["packages"], declared["facts"], source, user)
        manifest.save(update_fields=["packages", "facts", "source", "updated_by", "updated_at"])
    audit_record(actor=user, action="ami.software_declare", target=ami, before=before,
                 after={"packages": len(declared["packages"]), "facts": declared["facts"], "source": source})
    ami.software = manifest  # the instance may have cached "no manifest" before this call
    return ami_software_manifest(ami)


# --- diff -----------------------------------------------------------------------------------------

def software_diff(a: dict, b: dict) -> dict:
    """What changed from manifest ``a`` to manifest ``b``.

    ``added`` / ``removed``: packages only in b / only in a; ``changed``: same kind and name, other
    version (``{name, kind, from, to}``); ``unchanged``: how many are the same; and for every fact
    key ``{a, b, changed}``. Packages are matched by kind + normalised name (``scikit_learn`` is
    ``scikit-learn``), so renaming the spelling is not a change.
    """
    index_a = {package_key(p["kind"], p["name"]): p for p in a.get("packages") or []}
    index_b = {package_key(p["kind"], p["name"]): p for p in b.get("packages") or []}

    def brief(p):
        return {"name": p["name"], "version": p.get("version", ""), "kind": p["kind"]}

    added = [brief(index_b[k]) for k in sorted(index_b.keys() - index_a.keys())]
    removed = [brief(index_a[k]) for k in sorted(index_a.keys() - index_b.keys())]
    changed, unchanged = [], 0
    for k in sorted(index_a.keys() & index_b.keys()):
        va, vb = index_a[k].get("version", ""), index_b[k].get("version", "")
        if va != vb:
            changed.append({"name": index_b[k]["name"], "kind": k[0], "from": va, "to": vb})
        else:
            unchanged += 1
    body: dict = {"added": added, "removed": removed, "changed": changed, "unchanged": unchanged}
    for key in FACT_KEYS:
        fa, fb = a.get(key, "") or "", b.get(key, "") or ""
        body[key] = {"a": fa, "b": fb, "changed": fa != fb}
    return body


def ami_software_predecessor(ami: AMI) -> AMI | None:
    """The entry ``ami`` replaced (it names ``ami`` as its replacement), newest first — the
    "previous version" until lineages exist. Visibility is the caller's to check."""
    # What a link to it shows; any other field loads on access.
    return AMI.objects.filter(replacement=ami).only("id", "ami_id", "name", "version").order_by("-created_at").first()


def ami_software_diff(a: AMI, b: AMI) -> dict:
    """``software_diff`` of two entries, plus their identities, scan score change and relation."""
    body = software_diff(ami_software_manifest(a), ami_software_manifest(b))
    score_a = float(a.security_score) if a.security_score is not None else None
    score_b = float(b.security_score) if b.security_score is not None else None
    body["scan_score"] = {"a": score_a, "b": score_b,
                          "delta": round(score_b - score_a, 1) if None not in (score_a, score_b) else None}
    body["scan_status"] = {"a": a.scan_status, "b": b.scan_status}
    body["a"] = {"id": str(a.pk), "ami_id": a.ami_id, "name": a.name, "version": a.version}
    body["b"] = {"id": str(b.pk), "ami_id": b.ami_id, "name": b.name, "version": b.version}
    # Consecutive versions, as far as the catalogue knows them today: one replaces the other.
    body["consecutive"] = a.replacement_id == b.pk or b.replacement_id == a.pk
    return body
