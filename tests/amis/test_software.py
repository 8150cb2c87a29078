"""Software manifests (template packages + what the publisher declares, native/SPDX/CycloneDX)
and the diff of two images, on crafted manifests and through the API and the page."""
import pytest
from django.test import Client

from amis import software
from amis.models import AMI, SoftwareManifest
from registry.errors import InvalidInput
from registry.models import AuditEvent
from tests.amis.helpers import client_for, make_ami, url
from tests.factories import TemplateFactory

# --- rules (no database) ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind, spec, expected", [
    ("conda", "python=3.11", {"name": "python", "version": "3.11"}),
    ("pip", "torch==2.1.0", {"name": "torch", "version": "2.1.0"}),
    ("pip", "tensorflow[and-cuda]", {"name": "tensorflow", "version": ""}),
    ("pip", "numpy>=1.26", {"name": "numpy", "version": ">=1.26"}),
    ("spack", "py-numpy@1.26.4", {"name": "py-numpy", "version": "1.26.4"}),
    ("system", "build-essential", {"name": "build-essential", "version": ""}),
])
def test_template_entries_become_packages_with_pinned_versions(kind, spec, expected):
    assert software.parse_spec(kind, spec) == {**expected, "kind": kind}


def test_facts_are_read_from_package_names():
    packages = software.template_packages({
        "system": ["nvidia-driver-550", "git"], "conda": ["python=3.11", "pytorch-cuda=12.1", "r-base=4.3.2"],
        "pip": ["torch==2.3.1", "tensorflow>=2"]})
    facts = software.facts_from_packages(packages)
    assert facts == {"driver": "550", "python": "3.11", "cuda": "12.1", "r": "4.3.2", "pytorch": "2.3.1"}


A = {"packages": [{"name": "numpy", "version": "1.26.4", "kind": "pip"},
                  {"name": "scikit_learn", "version": "1.4", "kind": "pip"},
                  {"name": "git", "version": "", "kind": "system"},
                  {"name": "samtools", "version": "1.17", "kind": "conda"},
                  {"name": "numpy", "version": "1.26.0", "kind": "conda"}],
     "kernel": "6.5.0-1017-aws", "driver": "535", "cuda": "12.1", "python": "3.10"}
B = {"packages": [{"name": "NumPy", "version": "2.0.1", "kind": "pip"},
                  {"name": "scikit-learn", "version": "1.4", "kind": "pip"},
                  {"name": "git", "version": "", "kind": "system"},
                  {"name": "bcftools", "version": "1.19", "kind": "conda"},
                  {"name": "numpy", "version": "1.26.0", "kind": "conda"}],
     "kernel": "6.8.0-1009-aws", "driver": "550", "cuda": "12.1", "python": "3.10"}


def test_diff_of_crafted_manifests():
    diff = software.software_diff(A, B)
    assert diff["added"] == [{"name": "bcftools", "version": "1.19", "kind": "conda"}]
    assert diff["removed"] == [{"name": "samtools", "version": "1.17", "kind": "conda"}]
    # NumPy/numpy and scikit_learn/scikit-learn are the same packages; the conda numpy is another one.
    assert diff["changed"] == [{"name": "NumPy", "kind": "pip", "from": "1.26.4", "to": "2.0.1"}]
    assert diff["unchanged"] == 3
    assert diff["kernel"] == {"a": "6.5.0-1017-aws", "b": "6.8.0-1009-aws", "changed": True}
    assert diff["driver"]["changed"] and not diff["cuda"]["changed"] and not diff["python"]["changed"]
    assert diff["r"] == {"a": "", "b": "", "changed": False}


def test_diff_is_antisymmetric_and_empty_for_the_same_manifest():
    forward, backward = software.software_diff(A, B), software.software_diff(B, A)
    assert [p["name"] for p in forward["added"]] == [p["name"] for p in backward["removed"]]
    assert [(c["from"], c["to"]) for c in forward["changed"]] == [(c["to"], c["from"]) for c in backward["changed"]]
    same = software.software_diff(A, A)
    assert same["added"] == same["removed"] == same["changed"] == [] and same["unchanged"] == 5


def test_declared_packages_replace_the_templates_entry_of_the_same_kind_and_name():
    merged = software.manifest_merge(
        template=[{"name": "python", "version": "3.11", "kind": "conda"}, {"name": "git", "version": "", "kind": "system"}],
        declared=[{"name": "Python", "version": "3.11.9", "kind": "conda"}, {"name": "python", "version": "3.12",
                                                                            "kind": "pip"}])
    assert merged == [{"name": "git", "version": "", "kind": "system", "origin": "template"},
                      {"name": "Python", "version": "3.11.9", "kind": "conda", "origin": "declared"},
                      {"name": "python", "version": "3.12", "kind": "pip", "origin": "declared"}]


SPDX = {
    "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "image", "dataLicense": "CC0-1.0",
    "packages": [
        {"SPDXID": "SPDXRef-1", "name": "numpy", "versionInfo": "1.26.4",
         "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                           "referenceLocator": "pkg:pypi/numpy@1.26.4"}]},
        {"SPDXID": "SPDXRef-2", "name": "openssl", "versionInfo": "3.0.2-0ubuntu1.15",
         "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.15"}]},
        {"SPDXID": "SPDXRef-3", "name": "mystery", "versionInfo": "NOASSERTION"},
    ]}
CYCLONEDX = {
    "bomFormat": "CycloneDX", "specVersion": "1.5",
    "metadata": {"component": {"type": "operating-system", "name": "ubuntu", "version": "22.04"}},
    "components": [
        {"type": "library", "name": "samtools", "version": "1.19", "purl": "pkg:conda/samtools@1.19"},
        {"type": "library", "name": "torch", "purl": "pkg:pypi/torch@2.3.1"},
        {"type": "application", "name": "tool"},
    ]}


def test_spdx_and_cyclonedx_are_read_into_the_native_shape():
    declared, source = software.manifest_document_clean(SPDX)
    assert source == "spdx"
    assert declared["packages"] == [{"name": "numpy", "version": "1.26.4", "kind": "pip"},
                                    {"name": "openssl", "version": "3.0.2-0ubuntu1.15", "kind": "system"},
                                    {"name": "mystery", "version": "", "kind": "other"}]
    declared, source = software.manifest_document_clean(CYCLONEDX)
    assert source == "cyclonedx" and declared["facts"] == {"os": "ubuntu 22.04"}
    assert declared["packages"] == [{"name": "samtools", "version": "1.19", "kind": "conda"},
                                    {"name": "torch", "version": "2.3.1", "kind": "pip"},
                                    {"name": "tool", "version": "", "kind": "other"}]


@pytest.mark.parametrize("document, field", [
    ([], "non_field_errors"),
    ({"packages": "numpy"}, "packages"),
    ({"packages": [{"name": "x", "kind": "brew"}]}, "packages.0.kind"),
    ({"packages": [{"version": "1"}]}, "packages.0.name"),
    ({"packages": [{"name": "x", "licence": "MIT"}]}, "packages.0.licence"),
    ({"kernal": "6.5"}, "kernal"),
    ({"cuda": ["12"]}, "cuda"),
    ({"spdxVersion": "SPDX-3.0"}, "spdxVersion"),
    ({"bomFormat": "SWID"}, "bomFormat"),
    ({"bomFormat": "CycloneDX", "components": {}}, "components"),
])
def test_malformed_declarations_are_refused_naming_the_field(document, field):
    with pytest.raises(InvalidInput) as exc:
        software.manifest_document_clean(document)
    assert list(exc.value.errors) == [field]


# --- API and pages ---------------------------------------------------------------------------------

@pytest.fixture
def gpu_template(db):
    return TemplateFactory(slug="gpu-dl", name="GPU DL", document={
        "name": "GPU DL", "packages": {"system": ["nvidia-driver-535", "git"], "conda": ["python=3.10", "samtools=1.17"],
                                       "pip": ["torch==2.1.0"]}})


@pytest.mark.django_db
def test_get_software_defaults_to_the_templates_packages(user, gpu_template, api_client):
    ami = make_ami(user, template=gpu_template)
    body = api_client.get(url(ami, "/software")).json()
    assert body["source"] == "template" and body["declared_at"] is None
    assert {(p["kind"], p["name"], p["version"], p["origin"]) for p in body["packages"]} == {
        ("system", "nvidia-driver-535", "", "template"), ("system", "git", "", "template"),
        ("conda", "python", "3.10", "template"), ("conda", "samtools", "1.17", "template"),
        ("pip", "torch", "2.1.0", "template")}
    assert body["driver"] == "535" and body["python"] == "3.10" and body["pytorch"] == "2.1.0" and body["kernel"] == ""


@pytest.mark.django_db
def test_put_software_declares_over_the_template_and_is_audited(user, gpu_template):
    ami = make_ami(user, template=gpu_template)
    client = client_for(user)
    response = client.put(url(ami, "/software"), {"packages": [{"name": "torch", "version": "2.3.1", "kind": "pip"}],
                                                  "kernel": "6.8.0-1009-aws", "cuda": "12.4"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["source"] == "declared" and body["kernel"] == "6.8.0-1009-aws" and body["cuda"] == "12.4"
    torch = next(p for p in body["packages"] if p["name"] == "torch")
    assert torch == {"name": "torch", "version": "2.3.1", "kind": "pip", "origin": "declared"}
    assert body["pytorch"] == "2.3.1"  # facts follow the declared package
    assert AuditEvent.objects.filter(action="ami.software_declare", target_id=str(ami.pk)).count() == 1
    # PUT replaces the declaration: an SPDX document now.
    assert client.put(url(ami, "/software"), SPDX, format="json").json()["source"] == "spdx"
    assert SoftwareManifest.objects.get(ami=ami).packages[0]["name"] == "numpy"


@pytest.mark.django_db
def test_put_software_permissions_and_bad_input(user, other_user, api_client):
    ami = make_ami(user)
    assert api_client.put(url(ami, "/software"), {}, format="json").status_code in (401, 403)
    assert client_for(other_user).put(url(ami, "/software"), {}, format="json").status_code == 403
    bad = client_for(user).put(url(ami, "/software"), {"packages": [{"name": "x", "kind": "nix"}]}, format="json")
    assert bad.status_code == 400 and "packages.0.kind" in bad.json()["errors"]
    assert not SoftwareManifest.objects.filter(ami=ami).exists()


@pytest.mark.django_db
def test_diff_endpoint_between_consecutive_versions(user, gpu_template, api_client):
    old = make_ami(user, template=gpu_template, version="1.0", security_score=7.5, name="GPU DL")
    new = make_ami(user, template=gpu_template, version="1.1", security_score=8.5, name="GPU DL")
    old.replacement = new
    old.save(update_fields=["replacement"])
    client_for(user).put(url(new, "/software"), {
        "packages": [{"name": "torch", "version": "2.3.1", "kind": "pip"},
                     {"name": "bcftools", "version": "1.19", "kind": "conda"},
                     {"name": "nvidia-driver-550", "version": "", "kind": "system"}],
        "kernel": "6.8.0"}, format="json")
    body = api_client.get("/api/v1/amis/diff", {"a": old.ami_id, "b": new.ami_id}).json()
    assert body["consecutive"] is True and body["a"]["version"] == "1.0" and body["b"]["version"] == "1.1"
    assert body["added"] == [{"name": "bcftools", "version": "1.19", "kind": "conda"},
                             {"name": "nvidia-driver-550", "version": "", "kind": "system"}]
    assert body["removed"] == []
    assert body["changed"] == [{"name": "torch", "kind": "pip", "from": "2.1.0", "to": "2.3.1"}]
    assert body["kernel"] == {"a": "", "b": "6.8.0", "changed": True}
    assert body["driver"] == {"a": "535", "b": "550", "changed": True}  # the declared driver wins
    assert body["scan_score"] == {"a": 7.5, "b": 8.5, "delta": 1.0}


@pytest.mark.django_db
def test_diff_endpoint_errors(user, api_client):
    ami = make_ami(user)
    hidden = make_ami(user, status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE)
    missing = api_client.get("/api/v1/amis/diff", {"a": ami.ami_id})
    assert missing.status_code == 400 and list(missing.json()["errors"]) == ["b"]
    assert api_client.get("/api/v1/amis/diff", {"a": ami.ami_id, "b": hidden.ami_id}).status_code == 404
    assert api_client.get("/api/v1/amis/diff", {"a": ami.ami_id, "b": "nonsense"}).status_code == 404
    assert client_for(user).get("/api/v1/amis/diff", {"a": ami.ami_id, "b": hidden.ami_id}).status_code == 200


@pytest.mark.django_db
def test_diff_page_and_software_section(user, gpu_template):
    old = make_ami(user, template=gpu_template, version="1.0", name="GPU DL")
    new = make_ami(user, template=gpu_template, version="1.1", name="GPU DL")
    old.replacement = new
    old.save(update_fields=["replacement"])
    client_for(user).put(url(new, "/software"), {"packages": [{"name": "torch", "version": "2.3.1", "kind": "pip"}]},
                         format="json")
    page = Client().get(f"/amis/{new.pk}/").content.decode()
    assert 'id="software-h"' in page and "pytorch 2.3.1" in page
    assert f"?a={old.ami_id}&amp;b={new.ami_id}" in page  # "what changed since" the version it replaced
    diff = Client().get("/amis/diff/", {"a": old.ami_id, "b": new.ami_id})
    assert diff.status_code == 200
    html = diff.content.decode()
    assert "~ torch" in html and "2.1.0" in html and "2.3.1" in html and "consecutive versions" in html
    assert Client().get("/amis/diff/").status_code == 200  # the empty form
    assert Client().get("/amis/diff/", {"a": old.ami_id, "b": "ami-ffffffffffffffff0"}).status_code == 404
