"""How to cite an image: ``CITATION.cff`` (Citation File Format 1.2.0) and a BibTeX entry.

Both are built from the same facts — the entry's research metadata (``amis.research``), its exact
version and the AWS id of every available regional copy — so the two exports and the page's
"cite this image" box never disagree. Pure functions: the caller passes the page URL.

The CFF output validates against the CFF 1.2.0 JSON schema, vendored as
``amis/data/cff-1.2.0.schema.json`` (from the citation-file-format/citation-file-format
repository, CC-BY-4.0); its ``license-enum`` decides whether a licence id can be written as
``license`` (ids newer than the 1.2.0 list are written as ``license-url`` instead).
"""
from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import yaml

from amis.models import AMI, AMIRegion
from amis.research import orcid_url

CFF_SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "cff-1.2.0.schema.json"
CFF_MESSAGE = "If you use this image in your research, please cite it as below."
PUBLISHER = "Community AMI Registry"
# Reference types of CFF for what an image's owner links.
REFERENCE_TYPES = {"papers": "article", "datasets": "data", "notebooks": "software"}


@lru_cache(maxsize=1)
def cff_schema() -> dict:
    return json.loads(CFF_SCHEMA_PATH.read_text())


def cff_license_ids() -> frozenset[str]:
    return frozenset(cff_schema()["definitions"]["license-enum"]["enum"])


def split_name(name: str) -> tuple[str, str]:
    """``(given names, family names)``: "Carberry, Josiah" or "Josiah Carberry" → ("Josiah", "Carberry")."""
    name = " ".join(name.split())
    if "," in name:
        family, _, given = name.partition(",")
        return given.strip(), family.strip()
    given, _, family = name.rpartition(" ")
    return given, family


def citation_facts(ami: AMI) -> dict:
    """What every citation form shows: version, date, the canonical id and each available copy's id."""
    copies = [r for r in ami.regions.all() if r.state == AMIRegion.State.AVAILABLE and r.image_id]
    copies.sort(key=lambda r: (not r.is_source, r.region))
    released = ami.approved_at or ami.created_at
    return {
        "title": ami.name,
        "version": ami.version,
        "date": released.date() if released else None,
        "ami_id": ami.ami_id,
        "source_region": ami.source_region,
        "regional_ids": [{"region": r.region, "ami_id": r.image_id} for r in copies],
    }


def _cff_author(author: dict) -> dict:
    given, family = split_name(author["name"])
    person = {"family-names": family}
    if given:
        person["given-names"] = given
    if author.get("orcid"):
        person["orcid"] = orcid_url(author["orcid"])
    return person


def citation_cff_data(ami: AMI, *, url: str) -> dict:
    """The CITATION.cff document as a dict (``citation_cff`` dumps it as YAML)."""
    facts = citation_facts(ami)
    authors = [_cff_author(a) for a in ami.authors] or [
        # CFF needs an author; without one the publisher is credited as a team (CFF guide).
        {"name": f"{ami.creator.username} (publisher)" if ami.creator_id else f"The {ami.name} maintainers"}]
    data: dict = {
        "cff-version": "1.2.0",
        "message": CFF_MESSAGE,
        "type": "software",
        "title": ami.name,
        "authors": authors,
    }
    if ami.version:
        data["version"] = ami.version
    if facts["date"]:
        data["date-released"] = facts["date"].isoformat()
    if ami.doi:
        data["doi"] = ami.doi
    if ami.license:
        if ami.license in cff_license_ids():
            data["license"] = ami.license
        else:
            data["license-url"] = f"https://spdx.org/licenses/{ami.license}.html"
    data["url"] = url
    if ami.description:
        data["abstract"] = ami.description
    keywords = [k for k in [ami.category, *(ami.tags or {})] if k] if isinstance(ami.tags, dict) else []
    if keywords:
        data["keywords"] = list(dict.fromkeys(keywords))
    identifiers = [{"type": "url", "value": url, "description": f"{PUBLISHER} page"}]
    if ami.doi:
        identifiers.insert(0, {"type": "doi", "value": ami.doi})
    identifiers += [{"type": "other", "value": c["ami_id"],
                     "description": f"Amazon Machine Image in {c['region']}"
                                    + (f", version {ami.version}" if ami.version else "")}
                    for c in facts["regional_ids"]]
    data["identifiers"] = identifiers
    references = []
    for field, kind in REFERENCE_TYPES.items():
        for link in getattr(ami, field) or []:
            # The registry keeps no authors of a linked work; CFF wants some: a team named after it.
            ref = {"type": kind, "title": link["title"], "authors": [{"name": f"The authors of {link['title']}"}],
                   "url": link["url"]}
            if link.get("doi"):
                ref["doi"] = link["doi"]
            references.append(ref)
    if references:
        data["references"] = references
    return data


def citation_cff(ami: AMI, *, url: str) -> str:
    """CITATION.cff (YAML) for ``ami``."""
    return yaml.safe_dump(citation_cff_data(ami, url=url), sort_keys=False, allow_unicode=True, width=1000)


# --- BibTeX ---------------------------------------------------------------------------------------

_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}
_BIBTEX_RE = re.compile("|".join(re.escape(c) for c in _BIBTEX_SPECIAL))


def bibtex_escape(text: str) -> str:
    """Text safe inside a braced BibTeX field: LaTeX specials escaped, braces always balanced."""
    return _BIBTEX_RE.sub(lambda m: _BIBTEX_SPECIAL[m.group(0)], " ".join(str(text).split()))


def bibtex_url(text: str) -> str:
    """URLs and DOIs are printed verbatim (\\url); only what would unbalance the entry is encoded."""
    return text.replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D").replace(" ", "%20")


def _ascii_word(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", plain).lower()


def bibtex_key(ami: AMI) -> str:
    """``<first author's family name><year><first word of the title>``, ASCII; else ``ami<id>``."""
    facts = citation_facts(ami)
    family = _ascii_word(split_name(ami.authors[0]["name"])[1]) if ami.authors else ""
    word = next((w for w in (_ascii_word(w) for w in ami.name.split()) if w), "")
    year = str(facts["date"].year) if facts["date"] else ""
    key = f"{family}{year}{word}"
    return key if family and word else f"ami{ami.ami_id.removeprefix('ami-')}"


def citation_bibtex(ami: AMI, *, url: str) -> str:
    """One ``@misc`` entry for ``ami`` (BibTeX; biblatex reads ``version`` and ``doi`` too)."""
    facts = citation_facts(ami)
    fields: list[tuple[str, str]] = []
    if ami.authors:
        names = []
        for author in ami.authors:
            given, family = split_name(author["name"])
            names.append(bibtex_escape(f"{family}, {given}" if given else family))
        fields.append(("author", " and ".join(names)))
    elif ami.creator_id:
        fields.append(("author", "{" + bibtex_escape(ami.creator.username) + "}"))
    # Double braces keep the title's capitalisation (PyTorch, CUDA) in every style.
    fields.append(("title", "{" + bibtex_escape(ami.name) + "}"))
    if facts["date"]:
        fields.append(("year", str(facts["date"].year)))
    if ami.version:
        fields.append(("version", bibtex_escape(ami.version)))
    fields.append(("publisher", bibtex_escape(PUBLISHER)))
    fields.append(("howpublished", bibtex_escape(f"Amazon Machine Image {ami.ami_id} ({ami.source_region})")))
    if ami.doi:
        fields.append(("doi", bibtex_url(ami.doi)))
    fields.append(("url", bibtex_url(url)))
    notes = []
    if facts["regional_ids"]:
        notes.append("Regional AMI ids: " + ", ".join(f"{c['region']} {c['ami_id']}" for c in facts["regional_ids"]))
    if ami.license:
        notes.append(f"License: {ami.license}")
    if notes:
        fields.append(("note", bibtex_escape("; ".join(notes))))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{bibtex_key(ami)},\n{body}\n}}\n"
