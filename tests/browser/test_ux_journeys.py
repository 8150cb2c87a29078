"""The journeys a researcher and a moderator walk, at 1280 px and at 375 px, in Chromium: nothing
is wider than the screen (tables scroll inside themselves), the AMI page explains its scan and
gives launch commands per region, reviews can be marked helpful, reported and deleted, the sort
applies on change, dark mode follows the system, and the admin opens on the moderation queue."""
import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from amis.models import AMI, ScanResult
from ratings.models import Rating, RatingReport
from tests.browser.conftest import PHONE
from tests.browser.test_researcher_flows import TEMPLATE_DOC, _catalogue
from tests.demo.emulator import launcher_module
from tests.factories import AMIFactory, AMIRegionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
User = get_user_model()
WIDE = {"width": 1280, "height": 820}
WIDTHS = [pytest.param(WIDE, id="1280"), pytest.param(PHONE, id="375")]

# The elements sticking out past the right edge, to name them when the page is too wide.
OVERFLOW_JS = """() => [...document.querySelectorAll('body *')].filter(e => {
  const r = e.getBoundingClientRect(); return r.right > window.innerWidth + 1 && r.width > 0
    && !e.closest('.table-wrap, pre');
}).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def assert_fits(page):
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, (width, inner, page.evaluate(OVERFLOW_JS))


def sign_in(page, username, password):
    page.goto("/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _scan(ami):
    ScanResult.objects.create(ami=ami, status="passed", security_score=5, region="us-east-1", image_id=ami.ami_id,
                              checks=["root_volume_encrypted", "imdsv2_required", "ena_support", "boot_mode"],
                              findings=[{"id": "imdsv2_required", "severity": "medium", "scanner": "aws_metadata",
                                         "message": "IMDSv2 is not required (ImdsSupport is not v2.0)."},
                                        {"id": "root_volume_encrypted", "severity": "medium",
                                         "scanner": "aws_metadata", "message": "Root volume snapshot is not "
                                                                               "encrypted."},
                                        {"id": "ena_support", "severity": "low", "scanner": "aws_metadata",
                                         "message": "ENA is not enabled."}])


@pytest.mark.parametrize("viewport", WIDTHS)
def test_ami_page_scan_launch_and_reviews(new_page, screenshot, viewport):
    torch = _catalogue()
    _scan(torch)
    User.objects.create_user("reader", password="reader-pass-phrase")
    page = new_page(viewport=viewport)
    sign_in(page, "reader", "reader-pass-phrase")
    page.goto(f"/amis/{torch.pk}/")

    # The scan, explained.
    scan = page.locator("#scan")
    expect(scan).to_contain_text("IMDSv2 not required")
    expect(scan).to_contain_text("server-side request forgery")
    expect(scan).to_contain_text("1 of 4 checks passed")
    # Launch commands per region with copy buttons (shown by the script).
    us, eu = torch.regions.get(region="us-east-1").image_id, torch.regions.get(region="eu-west-1").image_id
    expect(page.locator("#launch-snippet")).to_contain_text("cws launch python-ml my-workstation --region us-east-1")
    expect(page.locator("#launch-aws-us-east-1")).to_contain_text(f"--image-id {us}")
    page.locator("#launch-eu-west-1 summary").click()
    expect(page.locator("#launch-aws-eu-west-1")).to_contain_text(f"--region eu-west-1 --image-id {eu}")
    expect(page.locator('[data-copy-target="launch-aws-eu-west-1"]')).to_be_visible()
    expect(page.locator('[data-copy-target="ami-id-eu-west-1"]')).to_be_visible()
    assert_fits(page)
    screenshot(page, "ami-page-scan" + ("-phone" if viewport == PHONE else ""), full_page=True)

    # Mark the critic's review helpful, then report it.
    review = page.locator(".review").filter(has_text="Works out of the box")
    review.get_by_role("button", name="Helpful").click()
    expect(page.locator(".review").filter(has_text="Works out of the box")).to_contain_text("1 found this helpful")
    review = page.locator(".review").filter(has_text="Works out of the box")
    review.locator("summary", has_text="Report").click()
    review.get_by_label("What is wrong with this review?").fill("Off-topic advertising.")
    review.get_by_role("button", name="Send to the moderators").click()
    expect(page.get_by_text("a moderator will look at the review")).to_be_visible()
    assert RatingReport.objects.filter(reason="Off-topic advertising.", status="open").count() == 1

    # Rate, then delete one's own rating: the average goes back to the critic's 5.0.
    page.get_by_label("2 stars").check()
    page.get_by_role("button", name="Submit rating").click()
    expect(page.locator("#rating-average")).to_have_text("3.5")
    page.get_by_role("button", name="Delete my rating").click()
    expect(page.locator("#rating-average")).to_have_text("5.0")
    assert not Rating.objects.filter(user__username="reader").exists()
    assert_fits(page)


@pytest.mark.parametrize("viewport", WIDTHS)
def test_pending_entry_has_no_launch_commands_and_fits(new_page, viewport):
    owner = User.objects.create_user("owner", password="owner-pass-phrase")
    pending = AMIFactory(creator=owner, name="Pending image", status=AMI.Status.PENDING_REVIEW)
    page = new_page(viewport=viewport)
    sign_in(page, "owner", "owner-pass-phrase")
    page.goto(f"/amis/{pending.pk}/")
    expect(page.locator("#no-launch")).to_contain_text("Waiting for a moderator")
    expect(page.locator("#launch-snippet")).to_have_count(0)
    assert "run-instances" not in page.content()
    assert_fits(page)


@pytest.mark.parametrize("viewport", WIDTHS)
def test_template_page_and_my_amis_fit(new_page, screenshot, aws, viewport):
    _catalogue()
    launcher_module().install_images([{"template": "python-ml", "file": "python-ml.yml", "region": "us-east-1",
                                       "image_id": TEMPLATE_DOC["ami_config"]["ami_mappings"]["us-east-1"],
                                       "source": "ami_mappings.us-east-1", "architecture": "x86_64",
                                       "owner_id": "210987654321"}])
    owner = User.objects.create_user("owner", password="owner-pass-phrase")
    for i, status in enumerate([AMI.Status.APPROVED, AMI.Status.PENDING_REVIEW, AMI.Status.REJECTED, AMI.Status.DRAFT]):
        entry = AMIFactory(creator=owner, name=f"A rather long workstation image name number {i}", status=status,
                           status_reason="Please describe which Bioconductor packages are installed."
                           if status == AMI.Status.REJECTED else "")
        AMIRegionFactory(ami=entry, region="eu-west-1")
    page = new_page(viewport=viewport)
    page.goto("/templates/python-ml/", timeout=40_000)  # the resolver asks (in-process) EC2 per region
    expect(page.locator(".matrix")).to_contain_text("Direct mapping")
    assert_fits(page)
    if viewport == PHONE:
        screenshot(page, "template-page-phone", full_page=True)
    # ami_config values wrap at words, not one character per line: each value takes at most one
    # line per ten characters (an inline element has one client rect per line it spans).
    lines = page.evaluate("[...document.querySelectorAll('dl.facts dd .mono')].map(e => "
                          "[e.textContent.trim(), e.getClientRects().length])")
    assert lines and all(n <= max(1, len(text) / 10) for text, n in lines), lines
    sign_in(page, "owner", "owner-pass-phrase")
    page.goto("/me/amis/")
    expect(page.get_by_text("Please describe which Bioconductor packages are installed.")).to_be_visible()
    assert_fits(page)
    if viewport == PHONE:
        screenshot(page, "my-amis-phone", full_page=True)


def test_sort_applies_on_change_and_filters_work_from_the_keyboard(new_page):
    _catalogue()
    page = new_page(viewport=WIDE)
    page.goto("/")
    page.locator("#ordering").select_option("-download_count")
    expect(page).to_have_url(re.compile(r"ordering=-download_count"))
    expect(page.locator(".ami-card").first).to_contain_text("PyTorch 1.13")   # 410 downloads
    # The template facet shows names; reach it with the keyboard and activate it with Enter.
    link = page.locator(".facets a", has_text="Python ML")
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"template=python-ml"))
    expect(page.locator(".active-filters")).to_contain_text("Template: Python ML")
    expect(page.locator('.facets a[aria-current="true"]')).to_contain_text("selected")
    assert_fits(page)


def test_dark_mode_follows_the_system(browser, live_server):
    _catalogue()
    context = browser.new_context(viewport=WIDE, base_url=live_server.url, color_scheme="dark")
    try:
        page = context.new_page()
        page.goto("/")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        card = page.evaluate("getComputedStyle(document.querySelector('.ami-card')).backgroundColor")
        assert background == "rgb(14, 19, 27)" and card == "rgb(22, 29, 40)", (background, card)
    finally:
        context.close()


def test_moderator_queue_buttons_and_list_at_1280(new_page, screenshot, moderators_group):
    _catalogue()
    moderator = User.objects.create_user("mod", password="mod-pass-phrase")
    moderator.groups.add(moderators_group)
    pending = AMIFactory(name="PyTorch 2.5 GPU", status=AMI.Status.PENDING_REVIEW)
    AMIFactory(name="R 4.3 + Bioconductor", status=AMI.Status.PENDING_REVIEW)
    page = new_page(viewport=WIDE)
    page.goto("/accounts/login/?next=/admin/")
    page.locator("#id_username").fill("mod")
    page.locator("#id_password").fill("mod-pass-phrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#queue-pending_review")).to_contain_text("2")
    screenshot(page, "admin-queue")
    page.locator("#queue-pending_review a").first.click()
    expect(page).to_have_url(re.compile(r"status__exact=pending_review"))
    assert_fits(page)
    screenshot(page, "admin-ami-list")
    page.get_by_role("link", name="PyTorch 2.5 GPU").click()
    page.locator("#moderate-reject").click()
    expect(page.locator("textarea[name=reason]")).to_have_attribute("rows", "8")
    page.locator("#reason-cancel").click()
    expect(page.locator("#moderate-approve")).to_be_visible()
    page.locator("#moderate-approve").click()
    expect(page.locator(".messagelist")).to_contain_text("Approved 1 AMI.")
    pending.refresh_from_db()
    assert pending.status == AMI.Status.APPROVED
