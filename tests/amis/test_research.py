"""Citable images: the research metadata rules (amis.research), the CITATION.cff and BibTeX
exports (amis.citation) and their API, ``?has_doi=`` and search over DOIs and authors."""
from datetime import datetime, timezone

import bibtexparser
from django.test import Client
import jsonschema
import pytest
import yaml

from amis import citation, research
from amis.models import AMI
from registry.errors import InvalidInput
from registry.models import AuditEvent
from tests.amis.helpers import client_for, make_ami, url
from tests.factories import AMIRegionFactory

# --- rules (no database) ---------------------------------------------------------------------------


@pytest.mark.parametrize("orcid", ["0000-0002-1825-0097", "0000-0001-5109-3700", "0000-0002-1694-233X",
                                   "https://orcid.org/0000-0002-1694-233x", "0000000218250097"])
def test_orcid_valid_checksums_are_accepted_and_normalised(orcid):
    clean = research.orcid_clean(orcid)
    assert len(clean) == 19 and clean.count("-") == 3 and clean == clean.upper()


@pytest.mark.parametrize("orcid, why", [
    ("0000-0002-1825-0098", "checksum"),   # last digit off by one
    ("0000-0002-1825-009X", "checksum"),
    ("0000-0002-1852-0097", "checksum"),   # two digits swapped
    ("0000-0002-1825-009", "ORCID iD"),
    ("orcid:0000-0002-1825-0097", "ORCID iD"),
    ("abcd-efgh-ijkl-mnop", "ORCID iD"),
])
def test_orcid_bad_checksum_or_shape_is_refused_naming_the_field(orcid, why):
    with pytest.raises(InvalidInput) as exc:
        research.orcid_clean(orcid, field="authors.0.orcid")
    assert list(exc.value.errors) == ["authors.0.orcid"]
    assert why in exc.value.errors["authors.0.orcid"][0]


def test_orcid_check_digit_is_iso_7064_mod_11_2():
    assert research.orcid_check_digit("000000021825009") == "7"
    assert research.orcid_check_digit("000000021694233") == "X"


@pytest.mark.parametrize("value, stored", [
    ("10.5281/zenodo.1003150", "10.5281/zenodo.1003150"),
    ("https://doi.org/10.1000/xyz(123)", "10.1000/xyz(123)"),
    ("doi:10.12345/ABC-def_1;2", "10.12345/ABC-def_1;2"),
    ("", ""),
])
def test_doi_is_stored_bare(value, stored):
    assert research.doi_clean(value) == stored


@pytest.mark.parametrize("value", ["10.1/too-short-prefix", "11.5281/zenodo.1", "10.5281/", "zenodo.1003150",
                                   "10.5281/has space", "10.5281/x" + "y" * 300, 10.5281])
def test_doi_bad_format_is_refused(value):
    with pytest.raises(InvalidInput) as exc:
        research.doi_clean(value)
    assert list(exc.value.errors) == ["doi"]


def test_license_is_one_spdx_id_in_the_lists_spelling():
    assert research.license_clean("mit") == "MIT"
    assert research.license_clean("apache-2.0") == "Apache-2.0"
    assert research.license_clean("") == ""
    for bad in ("MIT OR Apache-2.0", "Not-A-License-1.0", "GPL"):
        with pytest.raises(InvalidInput) as exc:
            research.license_clean(bad)
        assert list(exc.value.errors) == ["license"]


def test_authors_links_and_funding_shapes():
    assert research.authors_clean(["Ada Lovelace", {"name": " Josiah Carberry ", "orcid": "0000-0002-1825-0097"}]) == [
        {"name": "Ada Lovelace", "orcid": ""}, {"name": "Josiah Carberry", "orcid": "0000-0002-1825-0097"}]
    assert research.links_clean([{"title": "Paper", "url": "https://example.org/p", "doi": "doi:10.1000/1"}],
                                field="papers") == [{"title": "Paper", "url": "https://example.org/p",
                                                     "doi": "10.1000/1"}]
    assert research.funding_clean(["NSF", {"funder": "ERC", "award": "101"}]) == [
        {"funder": "NSF", "award": ""}, {"funder": "ERC", "award": "101"}]
    cases = [
        (research.authors_clean, [{"name": ""}], "authors.0.name"),
        (research.authors_clean, [{"name": "A", "email": "x"}], "authors.0.email"),
        (research.authors_clean, "Ada", "authors"),
        (lambda v: research.links_clean(v, field="notebooks"), [{"title": "T", "url": "javascript:alert(1)"}],
         "notebooks.0.url"),
        (lambda v: research.links_clean(v, field="datasets"), [{"url": "https://x.org"}], "datasets.0.title"),
        (lambda v: research.links_clean(v, field="papers"), [{"title": "T", "url": "https://x.org", "doi": "no"}],
         "papers.0.doi"),
        (research.funding_clean, [{"award": "1"}], "funding.0.funder"),
        (research.authors_clean, [{"name": "A"}] * 101, "authors"),
    ]
    for cleaner, value, field in cases:
        with pytest.raises(InvalidInput) as exc:
            cleaner(value)
        assert list(exc.value.errors) == [field], (value, exc.value.errors)


# --- exports ---------------------------------------------------------------------------------------

RESEARCH = {
    "doi": "https://doi.org/10.5281/zenodo.1003150",
    "authors": [{"name": "Josiah Carberry", "orcid": "0000-0002-1825-0097"}, {"name": "Lovelace, Ada"},
                {"name": "Team_50% & {co} $#~^\\"}],
    "papers": [{"title": "A paper about {braces} & 100%", "url": "https://example.org/paper",
                "doi": "10.1000/182"}],
    "datasets": [{"title": "Reads", "url": "https://example.org/data"}],
    "notebooks": [{"title": "Analysis", "url": "https://example.org/nb.ipynb"}],
    "license": "apache-2.0",
    "funding": [{"funder": "NSF", "award": "OAC-1234"}],
}


@pytest.fixture
def cited(user):
    ami = make_ami(user, name="Genomics_Pipeline {GPU} 100% & more", version="1.4.2", tags={"gpu": "yes"},
                   approved_at=datetime(2026, 3, 4, tzinfo=timezone.utc))
    AMIRegionFactory(ami=ami, region="eu-west-1")
    response = client_for(user).patch(url(ami), RESEARCH, format="json")
    assert response.status_code == 200, response.json()
    ami.refresh_from_db()
    return ami


@pytest.mark.django_db
def test_patch_stores_research_metadata_normalised_and_audited(cited):
    assert cited.doi == "10.5281/zenodo.1003150"
    assert cited.license == "Apache-2.0"
    assert cited.authors[0] == {"name": "Josiah Carberry", "orcid": "0000-0002-1825-0097"}
    event = AuditEvent.objects.filter(action="ami.update").latest("pk")
    assert event.after["doi"] == "10.5281/zenodo.1003150"


@pytest.mark.django_db
@pytest.mark.parametrize("body, field", [
    ({"doi": "10.5281"}, "doi"),
    ({"authors": [{"name": "X", "orcid": "0000-0002-1825-0098"}]}, "authors.0.orcid"),
    ({"license": "MIT AND BSD-3-Clause"}, "license"),
    ({"papers": [{"title": "T", "url": "ftp://x"}]}, "papers.0.url"),
    ({"funding": 7}, "funding"),
    ({"doi": 5}, "doi"),
])
def test_patch_bad_research_metadata_is_400_naming_the_field(user, body, field):
    ami = make_ami(user)
    response = client_for(user).patch(url(ami), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    ami.refresh_from_db()
    assert ami.doi == "" and ami.authors == [] and ami.license == ""


@pytest.mark.django_db
def test_only_the_owner_or_a_moderator_sets_research_metadata(user, other_user):
    ami = make_ami(user)
    assert client_for(other_user).patch(url(ami), {"doi": "10.1000/1"}, format="json").status_code == 403


@pytest.mark.django_db
def test_citation_cff_is_valid_cff_1_2_0_with_version_and_regional_ids(cited, api_client):
    response = api_client.get(url(cited, "/citation.cff"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    assert 'filename="CITATION.cff"' in response["Content-Disposition"]
    data = yaml.safe_load(response.content.decode())
    jsonschema.validate(data, citation.cff_schema(), format_checker=jsonschema.FormatChecker())
    assert data["cff-version"] == "1.2.0"
    assert data["version"] == "1.4.2" and data["doi"] == "10.5281/zenodo.1003150"
    assert data["license"] == "Apache-2.0" and data["date-released"] == "2026-03-04"
    assert data["authors"][0] == {"family-names": "Carberry", "given-names": "Josiah",
                                  "orcid": "https://orcid.org/0000-0002-1825-0097"}
    assert data["authors"][1] == {"family-names": "Lovelace", "given-names": "Ada"}
    ids = {i["value"]: i for i in data["identifiers"]}
    assert cited.ami_id in ids and "us-east-1" in ids[cited.ami_id]["description"]
    eu = cited.regions.get(region="eu-west-1").image_id
    assert "eu-west-1" in ids[eu]["description"] and "1.4.2" in ids[eu]["description"]
    assert [r["type"] for r in data["references"]] == ["article", "data", "software"]
    assert data["references"][0]["doi"] == "10.1000/182"


@pytest.mark.django_db
def test_citation_cff_without_research_metadata_is_still_valid(user, api_client):
    ami = make_ami(user, name="Bare", description="")
    data = yaml.safe_load(api_client.get(url(ami, "/citation.cff")).content.decode())
    jsonschema.validate(data, citation.cff_schema())
    assert data["authors"] == [{"name": f"{user.username} (publisher)"}]


@pytest.mark.django_db
def test_licence_newer_than_cff_list_is_written_as_licence_url(user):
    ami = make_ami(user)
    ami.license = "Some-New-Id-9.9"    # as if the SPDX list had grown past CFF 1.2.0's enum
    data = citation.citation_cff_data(ami, url="https://registry.example/amis/x/")
    jsonschema.validate(data, citation.cff_schema())
    assert "license" not in data and data["license-url"].endswith("/Some-New-Id-9.9.html")


@pytest.mark.django_db
def test_citation_bib_parses_back_with_every_special_character_escaped(cited, api_client):
    response = api_client.get(url(cited, "/citation.bib"))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/x-bibtex")
    text = response.content.decode()
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    (entry,) = library.entries
    assert entry.entry_type == "misc" and entry.key == "carberry2026genomicspipeline"
    fields = {f.key: f.value for f in entry.fields}
    assert fields["title"] == r"{Genomics\_Pipeline \{GPU\} 100\% \& more}"
    assert fields["author"].startswith("Carberry, Josiah and Lovelace, Ada and ")
    # "Team_50% & {co} $#~^\\" is read as given names + a family name: each part escaped.
    assert fields["author"].endswith(r"\$\#\textasciitilde{}\textasciicircum{}\textbackslash{}, Team\_50\% \& \{co\}")
    assert fields["doi"] == "10.5281/zenodo.1003150" and fields["version"] == "1.4.2" and fields["year"] == "2026"
    assert cited.ami_id in fields["note"] and "eu-west-1" in fields["note"] and "Apache-2.0" in fields["note"]
    assert fields["url"].endswith(f"/amis/{cited.pk}/")


def test_bibtex_escape_always_balances_braces():
    for text in ["}{", "{{{", "a}b", "\\}", "%{"]:
        escaped = citation.bibtex_escape(text)
        depth = 0
        i = 0
        while i < len(escaped):
            if escaped[i] == "\\":
                i += 2 if escaped[i + 1] in "{}%&$#_" else 1
                continue
            depth += {"{": 1, "}": -1}.get(escaped[i], 0)
            assert depth >= 0
            i += 1
        assert depth == 0, escaped


@pytest.mark.django_db
def test_citations_of_an_invisible_ami_are_404(user, api_client):
    ami = make_ami(user, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE)
    assert api_client.get(url(ami, "/citation.cff")).status_code == 404
    assert api_client.get(url(ami, "/citation.bib")).json()["code"] == "not_found"
    assert client_for(user).get(url(ami, "/citation.bib")).status_code == 200


@pytest.mark.django_db
def test_has_doi_filter_and_search_by_doi_and_author(cited, user, api_client):
    plain = make_ami(user, name="Plain image")
    with_doi = api_client.get("/api/v1/amis/", {"has_doi": "true"}).json()
    assert [r["ami_id"] for r in with_doi["results"]] == [cited.ami_id]
    assert with_doi["results"][0]["doi"] == "10.5281/zenodo.1003150"
    without = api_client.get("/api/v1/amis/", {"has_doi": "false"}).json()
    assert [r["ami_id"] for r in without["results"]] == [plain.ami_id]
    assert api_client.get("/api/v1/amis/", {"has_doi": "maybe"}).status_code == 400
    for q in ("carberry", "zenodo"):
        found = api_client.get("/api/v1/amis/", {"q": q}).json()
        assert [r["ami_id"] for r in found["results"]] == [cited.ami_id], q


@pytest.mark.django_db
def test_ami_page_cite_box_shows_version_regional_ids_and_bibtex(cited):
    html = Client().get(f"/amis/{cited.pk}/").content.decode()
    assert 'id="cite-h"' in html and "1.4.2" in html
    for region in cited.regions.all():
        assert region.image_id in html
    assert "carberry2026genomicspipeline" in html and "https://doi.org/10.5281/zenodo.1003150" in html
    assert f"/api/v1/amis/{cited.pk}/citation.cff" in html and "ORCID 0000-0002-1825-0097" in html
