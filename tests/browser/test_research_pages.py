"""The research pages in a real browser (Chromium) at 1280 px and 375 px: the AMI page's cite box,
software and "why this rank", the diff page, the comparison grid and the dashboard — each without
horizontal overflow on a phone. Screenshots are not saved (docs/screenshots stay as they are)."""
import pytest
from playwright.sync_api import expect

from amis.launches import launch_record
from amis.models import AMIRegion
from amis.software import ami_software_declare
from tests.browser.conftest import PHONE
from tests.factories import AMIFactory, TemplateFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE = {"width": 1280, "height": 820}
VIEWPORTS = [pytest.param(WIDE, id="1280"), pytest.param(PHONE, id="375")]


def no_horizontal_overflow(page, viewport) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


@pytest.fixture
def images(db):
    publisher = UserFactory(username="lab-publisher")
    template = TemplateFactory(slug="genomics-long-template-name", name="Genomics pipeline with a long name",
                               base="ubuntu-20.04", document={
                                   "name": "Genomics", "package_manager": "conda",
                                   "instance_defaults": {"type": "r6i.large"},
                                   "packages": {"conda": ["python=3.10", "samtools=1.17", "bcftools=1.17"],
                                                "system": ["nvidia-driver-535"]}})
    old = AMIFactory(name="Genomics pipeline", version="1.0", template=template, creator=publisher,
                     doi="10.5281/zenodo.1003150", license="Apache-2.0",
                     authors=[{"name": "Josiah Carberry", "orcid": "0000-0002-1825-0097"}],
                     papers=[{"title": "A very long paper title about variant calling at population scale",
                              "url": "https://example.org/papers/variant-calling-at-population-scale"}])
    AMIRegion.objects.create(ami=old, region="eu-west-1", image_id="ami-0aaaaaaaaaaaaaaa1", state="available",
                             copied_from="us-east-1")
    new = AMIFactory(name="Genomics pipeline", version="1.1", template=template, creator=publisher)
    old.replacement = new
    old.save(update_fields=["replacement"])
    ami_software_declare(ami=new, user=publisher, document={
        "packages": [{"name": "samtools", "version": "1.19", "kind": "conda"},
                     {"name": "a-really-long-package-name-that-could-overflow-a-phone", "version": "2024.10.1",
                      "kind": "pip"}], "kernel": "6.8.0-1009-aws-with-a-long-suffix"})
    launch_record(ami=new, region="us-east-1", method="ami", seconds=28)
    launch_record(template=template, region="us-east-1", method="script", seconds=540)
    return old, new


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_ami_page_cite_software_and_rank(images, new_page, viewport):
    old, new = images
    page = new_page(viewport=viewport)
    page.goto(f"/amis/{new.pk}/")
    expect(page.locator("#software-h")).to_be_visible()
    expect(page.locator("#why-rank")).to_contain_text("Rating (Bayesian average)")
    expect(page.locator("#stale-badges")).to_contain_text("stale base os")
    assert no_horizontal_overflow(page, viewport)
    page.goto(f"/amis/{old.pk}/")
    expect(page.locator("#cite-doi")).to_have_text("10.5281/zenodo.1003150")
    expect(page.locator("#cite-regional-ids")).to_contain_text("ami-0aaaaaaaaaaaaaaa1")
    expect(page.locator("#cite-bibtex")).to_contain_text("@misc{carberry")
    assert no_horizontal_overflow(page, viewport)
    assert page.locator("#software-diff-previous").count() == 0  # the old one replaced nothing


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_diff_page(images, new_page, viewport):
    old, new = images
    page = new_page(viewport=viewport)
    page.goto(f"/amis/{new.pk}/")
    page.locator("#software-diff-previous").click()
    expect(page.locator("#diff-summary")).to_contain_text("+1 added")
    expect(page.locator("#diff-packages")).to_contain_text("samtools")
    expect(page.locator("#diff-facts")).to_contain_text("6.8.0-1009-aws")
    assert no_horizontal_overflow(page, viewport)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_compare_page(images, new_page, viewport):
    old, new = images
    page = new_page(viewport=viewport)
    page.goto("/compare/")
    page.locator("input[name=amis]").fill(f"{old.ami_id}, {new.ami_id}")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#compare-grid")).to_contain_text("r6i.large")  # x86_64 images: the x86 advice
    expect(page.locator("#compare-grid")).to_contain_text("cheapest")
    assert f"amis={old.ami_id}" in page.url.replace("%2C", ",").replace("+", "")
    assert no_horizontal_overflow(page, viewport)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_dashboard_page(images, new_page, viewport):
    page = new_page(viewport=viewport)
    page.goto("/dashboard/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Success metrics")
    expect(page.locator("#target-launch_seconds")).to_contain_text("28 s")
    expect(page.locator("#target-launch_speedup")).to_contain_text("met")
    assert page.locator("svg.chart").count() >= 2
    assert no_horizontal_overflow(page, viewport)
