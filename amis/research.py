"""The rules of an image's research metadata: DOI, authors with ORCID iDs, papers, data sets,
notebooks, licence (an SPDX id) and funding. One home for every check, used by the API's
``PATCH /amis/{ami}``, the services and the citation exports (``amis.citation``).

Each ``*_clean`` takes what a client sent and returns the stored form, or raises
``InvalidInput`` naming the field (``authors.1.orcid``-style paths in ``errors``), so a bad value
is a 400 that says where it is, never a 500 and never a silently dropped value.

- A DOI is stored bare (``10.5281/zenodo.1003150``); ``doi:`` and ``https://doi.org/`` prefixes
  are stripped. The pattern is the Citation File Format's, so every stored DOI exports as valid CFF.
- An ORCID iD is stored as ``0000-0002-1825-0097`` and must pass its ISO 7064 MOD 11-2 checksum.
- A licence is one SPDX licence id from the SPDX licence list that ``license-expression`` ships
  (``get_spdx_licensing``), stored with the list's own spelling (``mit`` → ``MIT``). Expressions
  (``MIT OR Apache-2.0``) are refused (CFF 1.2.0 carries one id), and so are aliases (``GPL``):
  the answer suggests the id instead of silently citing another licence.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from license_expression import ExpressionError, LicenseSymbol, get_spdx_licensing

from registry.errors import InvalidInput

# The fields ``PATCH /amis/{ami}`` accepts for research metadata (model fields of the same names).
RESEARCH_FIELDS = ("doi", "authors", "papers", "datasets", "notebooks", "license", "funding")

DOI_MAX = 255
LICENSE_MAX = 100
AUTHORS_MAX = 100
AUTHOR_NAME_MAX = 200
LINKS_MAX = 50
LINK_TITLE_MAX = 300
URL_MAX = 2000
FUNDING_MAX = 20
FUNDER_MAX = 200
AWARD_MAX = 100

# The CFF 1.2.0 schema's DOI pattern (definitions.doi): what we store, CFF accepts.
DOI_RE = re.compile(r"^10\.\d{4,9}(\.\d+)?/[A-Za-z0-9:/_;\-.()\[\]\\]+$")
DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:")
ORCID_RE = re.compile(r"^(\d{4})-?(\d{4})-?(\d{4})-?(\d{3}[\dX])$")
ORCID_PREFIXES = ("https://orcid.org/", "http://orcid.org/", "orcid.org/")


def _bad(field: str, message: str):
    return InvalidInput(f"{field}: {message}", errors={field: [message]})


def _text(field: str, value: Any, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _bad(field, "Must be a string.")
    value = value.strip()
    if required and not value:
        raise _bad(field, "This field is required.")
    if len(value) > max_length:
        raise _bad(field, f"Ensure this field has no more than {max_length} characters.")
    if "\x00" in value:
        raise _bad(field, "Null characters are not allowed.")
    return value


def _list(field: str, value: Any, *, max_items: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(field, "Must be a list.")
    if len(value) > max_items:
        raise _bad(field, f"At most {max_items} items.")
    return value


# --- DOI ------------------------------------------------------------------------------------------

def doi_clean(value: Any, *, field: str = "doi") -> str:
    """A bare DOI (``10.NNNN/suffix``), or "" to clear it. Resolver URLs and ``doi:`` are accepted."""
    text = _text(field, value, max_length=DOI_MAX + 30)
    for prefix in DOI_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
            break
    if not text:
        return ""
    if len(text) > DOI_MAX or not DOI_RE.match(text):
        raise _bad(field, "Not a DOI: expected 10.<registrant>/<suffix>, e.g. 10.5281/zenodo.1003150.")
    return text


# --- ORCID ----------------------------------------------------------------------------------------

def orcid_check_digit(base_digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character of an ORCID iD's first 15 digits ("0"–"9" or "X")."""
    total = 0
    for digit in base_digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def orcid_clean(value: Any, *, field: str = "orcid") -> str:
    """``0000-0002-1825-0097`` (hyphenated, upper-case X), or "" when not given. The resolver URL
    and an unhyphenated iD are accepted; a wrong checksum is refused."""
    text = _text(field, value, max_length=60)
    for prefix in ORCID_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
            break
    if not text:
        return ""
    match = ORCID_RE.match(text.upper())
    if not match:
        raise _bad(field, "Not an ORCID iD: expected 16 digits like 0000-0002-1825-0097.")
    digits = "".join(match.groups())
    if orcid_check_digit(digits[:15]) != digits[15]:
        raise _bad(field, "ORCID iD checksum does not match (ISO 7064 MOD 11-2): check for a typo.")
    return "-".join(match.groups())


def orcid_url(orcid: str) -> str:
    return f"https://orcid.org/{orcid}" if orcid else ""


# --- licence --------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _spdx():
    # Loading the licence index takes a moment: once per process.
    return get_spdx_licensing()


def license_clean(value: Any, *, field: str = "license") -> str:
    """One SPDX licence id from the SPDX list, in the list's spelling; "" clears it."""
    text = _text(field, value, max_length=LICENSE_MAX)
    if not text:
        return ""
    try:
        parsed = _spdx().parse(text, validate=True, strict=True)
    except ExpressionError:
        parsed = None
    if not isinstance(parsed, LicenseSymbol):
        raise _bad(field, f"'{text}' is not an SPDX licence id (one id, e.g. MIT, Apache-2.0, CC-BY-4.0).")
    key = str(parsed.key)
    if key.lower() != text.lower():
        # An alias ("GPL" → GPL-1.0-or-later): a citation must not silently name another licence.
        raise _bad(field, f"'{text}' is not an SPDX licence id; did you mean {key}?")
    return key


# --- people, links, funding -----------------------------------------------------------------------

def authors_clean(value: Any, *, field: str = "authors") -> list[dict]:
    """``[{name, orcid}]``: a name is required, an ORCID iD optional (checksum-checked)."""
    clean = []
    for i, author in enumerate(_list(field, value, max_items=AUTHORS_MAX)):
        path = f"{field}.{i}"
        if isinstance(author, str):
            author = {"name": author}
        if not isinstance(author, dict):
            raise _bad(path, "Must be an object with name (and orcid).")
        unknown = sorted(set(author) - {"name", "orcid"})
        if unknown:
            raise _bad(f"{path}.{unknown[0]}", "Unknown key: an author has name and orcid.")
        clean.append({"name": _text(f"{path}.name", author.get("name"), max_length=AUTHOR_NAME_MAX, required=True),
                      "orcid": orcid_clean(author.get("orcid"), field=f"{path}.orcid")})
    return clean


def url_clean(value: Any, *, field: str) -> str:
    text = _text(field, value, max_length=URL_MAX, required=True)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise _bad(field, "Must be an http(s) URL.")
    return text


def links_clean(value: Any, *, field: str) -> list[dict]:
    """``[{title, url, doi?}]`` for papers, data sets and notebooks: a title and an http(s) URL."""
    clean = []
    for i, link in enumerate(_list(field, value, max_items=LINKS_MAX)):
        path = f"{field}.{i}"
        if not isinstance(link, dict):
            raise _bad(path, "Must be an object with url and title.")
        unknown = sorted(set(link) - {"title", "url", "doi"})
        if unknown:
            raise _bad(f"{path}.{unknown[0]}", "Unknown key: a link has title, url and doi.")
        item = {"title": _text(f"{path}.title", link.get("title"), max_length=LINK_TITLE_MAX, required=True),
                "url": url_clean(link.get("url"), field=f"{path}.url")}
        doi = doi_clean(link.get("doi"), field=f"{path}.doi")
        if doi:
            item["doi"] = doi
        clean.append(item)
    return clean


def funding_clean(value: Any, *, field: str = "funding") -> list[dict]:
    """``[{funder, award?}]`` (a plain string is a funder without an award number)."""
    clean = []
    for i, grant in enumerate(_list(field, value, max_items=FUNDING_MAX)):
        path = f"{field}.{i}"
        if isinstance(grant, str):
            grant = {"funder": grant}
        if not isinstance(grant, dict):
            raise _bad(path, "Must be an object with funder (and award).")
        unknown = sorted(set(grant) - {"funder", "award"})
        if unknown:
            raise _bad(f"{path}.{unknown[0]}", "Unknown key: funding has funder and award.")
        clean.append({"funder": _text(f"{path}.funder", grant.get("funder"), max_length=FUNDER_MAX, required=True),
                      "award": _text(f"{path}.award", grant.get("award"), max_length=AWARD_MAX)})
    return clean


# field → its cleaner (``amis.services.ami_update`` runs them).
CLEANERS = {
    "doi": doi_clean,
    "authors": authors_clean,
    "papers": lambda v: links_clean(v, field="papers"),
    "datasets": lambda v: links_clean(v, field="datasets"),
    "notebooks": lambda v: links_clean(v, field="notebooks"),
    "license": license_clean,
    "funding": funding_clean,
}
