"""The researcher's UI in a real browser (Chromium): sign up → search → open → rate; submit wizard →
progress → moderator approval in the admin → visible to anonymous search. Saves the screenshots
shown in docs/user-guide.md."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from playwright.sync_api import expect

from amis.models import AMI
from ratings.models import Rating
from tests.browser.conftest import PHONE
from tests.demo.emulator import launcher_module
from tests.factories import AMIFactory, AMIRegionFactory, TemplateFactory, link_moto_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
User = get_user_model()

TEMPLATE_DOC = {
    "name": "Python ML", "slug": "python-ml", "description": "PyTorch, JupyterLab and CUDA for GPU research.",
    "base": "ubuntu-22.04", "category": "Machine Learning", "package_manager": "conda",
    "packages": {"system": ["git", "build-essential"], "conda": ["pytorch", "jupyterlab", "numpy"], "pip": ["wandb"]},
    "ami_config": {"strategy": "ami_preferred", "ami_mappings": {"us-east-1": "ami-0a1b2c3d4e5f60718"},
                   "preferred_regions": ["us-east-1", "us-west-2"],
                   "ami_search": {"owner": "self", "name_pattern": "cws-python-ml-*"}},
}


def _catalogue():
    """A small public catalogue: two templates, a few approved AMIs with regions and ratings."""
    ml = TemplateFactory(slug="python-ml", name="Python ML", category="Machine Learning",
                         description=TEMPLATE_DOC["description"], document=TEMPLATE_DOC, own_document=TEMPLATE_DOC,
                         source_yaml="name: Python ML\nbase: ubuntu-22.04\npackage_manager: conda\n")
    r = TemplateFactory(slug="r-research", name="R Research", category="Statistics",
                        description="R, RStudio Server and the tidyverse.")
    publisher = User.objects.create_user("labteam", password="unused-pass-123")
    critic = User.objects.create_user("critic", password="unused-pass-123")
    torch = AMIFactory(name="PyTorch 2.4 GPU workstation", template=ml, creator=publisher, version="2.4.0",
                       description="PyTorch 2.4 with CUDA 12.4, cuDNN and JupyterLab, tested on g5 instances.",
                       tags={"cuda": "12.4", "framework": "pytorch"}, verified=True, scan_status="passed",
                       security_score=9.1, download_count=182, size_gb=40)
    AMIRegionFactory(ami=torch, region="us-west-2")
    AMIRegionFactory(ami=torch, region="eu-west-1")
    Rating.objects.create(ami=torch, user=critic, rating=5, review="Works out of the box on g5.xlarge.")
    AMI.objects.filter(pk=torch.pk).update(rating_avg=5, rating_count=1, rating_sum=5)
    tf = AMIFactory(name="TensorFlow 2.16 CPU", template=ml, creator=publisher, architecture="arm64",
                    description="TensorFlow for Graviton instances.", download_count=64, rating_avg=3.5,
                    rating_count=4)
    AMIRegionFactory(ami=tf, region="eu-central-1")
    AMIFactory(name="RStudio Server 2024.12", template=r, creator=publisher, category="Statistics",
               description="R 4.4, RStudio Server and the tidyverse.", download_count=95, rating_avg=4.25,
               rating_count=8)
    AMIFactory(name="PyTorch 1.13 (old)", template=ml, creator=publisher, status=AMI.Status.DEPRECATED,
               replacement=torch, status_reason="Superseded by the PyTorch 2.4 image.", rating_avg=4.0,
               rating_count=12, download_count=410)
    return torch


def test_signup_search_open_rate(new_page, screenshot, transactional_db, aws):
    torch = _catalogue()
    # The image the template maps exists (in moto): the template page's table asks the resolver.
    launcher_module().install_images([{"template": "python-ml", "file": "python-ml.yml", "region": "us-east-1",
                                       "image_id": TEMPLATE_DOC["ami_config"]["ami_mappings"]["us-east-1"],
                                       "source": "ami_mappings.us-east-1", "architecture": "x86_64",
                                       "owner_id": "210987654321"}])
    page = new_page()

    # Sign up.
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Email").fill("researcher@example.org")
    page.locator("#id_password").fill("a-long-pass-phrase")
    page.locator("#id_password_confirm").fill("a-long-pass-phrase")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Welcome, researcher!")).to_be_visible()
    assert User.objects.filter(username="researcher").exists()

    # Search with the box; the facet sidebar shows counts for the results.
    page.get_by_role("search").get_by_role("searchbox").fill("pytorch")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"q=pytorch"))
    expect(page.locator("#result-count")).to_have_text("2 AMIs")
    expect(page.locator(".facets")).to_contain_text("Machine Learning")
    screenshot(page, "browse")

    # Open the AMI and rate it: the average goes from 5.0 (one rating) to 4.0 (two ratings).
    page.get_by_role("link", name="PyTorch 2.4 GPU workstation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("PyTorch 2.4 GPU workstation")
    expect(page.locator("#rating-average")).to_have_text("5.0")
    expect(page.locator("#launch-snippet")).to_contain_text("cws launch python-ml my-workstation --region us-east-1")
    page.get_by_label("3 stars").check()
    page.get_by_label("Review (optional)").fill("Good, but <b>CUDA</b> samples are missing.")
    page.get_by_role("button", name="Submit rating").click()
    expect(page.locator("#rating-average")).to_have_text("4.0")
    expect(page.locator("#rating-count")).to_have_text("2 ratings")
    # The review is shown as text, not as HTML.
    expect(page.locator(".review").filter(has_text="researcher")).to_contain_text("<b>CUDA</b> samples")
    expect(page.get_by_role("heading", name="Edit your rating")).to_be_visible()
    torch.refresh_from_db()
    assert (torch.rating_count, float(torch.rating_avg)) == (2, 4.0)
    screenshot(page, "ami-page", full_page=True)

    # The same catalogue on a 375 px phone: readable, no horizontal scrolling.
    phone = new_page(viewport=PHONE)
    phone.goto("/?q=pytorch")
    expect(phone.locator("#result-count")).to_have_text("2 AMIs")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Results come before the facet list on a phone.
    assert phone.locator(".ami-card").first.bounding_box()["y"] < phone.locator(".facets").bounding_box()["y"]
    screenshot(phone, "browse-phone")

    # The template page: availability from the resolver and the cost comparison.
    page.goto("/templates/python-ml/", timeout=40_000)  # the resolver asks (in-process) EC2 per region
    expect(page.locator(".matrix")).to_contain_text("Direct mapping")
    expect(page.locator(".matrix")).to_contain_text("Community registry")
    expect(page.get_by_role("heading", name="AMI or script? Cost comparison")).to_be_visible()
    screenshot(page, "template-page", full_page=True)


@override_settings(REGISTRY_POLL_SECONDS=0)
def test_submit_wizard_progress_then_moderator_approves(new_page, screenshot, aws, moderators_group):
    _catalogue()
    owner = User.objects.create_user("owner", password="owner-pass-phrase")
    # The image is made in the emulator's account: the owner's verified account (the ownership rule).
    assert link_moto_account(owner) is not None
    moderator = User.objects.create_user("mod", password="mod-pass-phrase")
    moderator.groups.add(moderators_group)
    image_id = aws.image("us-east-1", name="pytorch-2.5-gpu")

    page = new_page()
    page.goto("/accounts/login/?next=/submit/")
    page.get_by_label("Username").fill("owner")
    page.locator("#id_password").fill("owner-pass-phrase")
    page.get_by_role("button", name="Log in").click()

    # Step 1: a wrong id is refused by the EC2 check, with the error next to the field.
    page.get_by_label("AMI id").fill("ami-0123456789abcdef0")
    page.get_by_role("button", name="Check and continue").click()
    expect(page.locator(".field-error")).to_contain_text("No such image in us-east-1")
    page.get_by_label("AMI id").fill(image_id)
    page.get_by_role("button", name="Check and continue").click()

    # Step 2: metadata (the name is pre-filled from the image).
    expect(page.get_by_label("Name")).to_have_value("pytorch-2.5-gpu")
    page.get_by_label("Name").fill("PyTorch 2.5 GPU")
    page.get_by_label("Description").fill("PyTorch 2.5 + CUDA 12.6")
    page.get_by_label("Template").select_option("python-ml")
    page.get_by_label("Version").fill("2.5.0")
    page.get_by_label("Tags").fill("cuda=12.6, framework=pytorch")
    page.get_by_role("button", name="Continue").click()

    # Step 3: regions with the cost model's estimate, and visibility.
    page.get_by_label("us-west-2").check()
    page.get_by_label("eu-west-1").check()
    page.get_by_label("Public").check()
    expect(page.locator(".checkbox-grid")).to_contain_text("≈ $")
    screenshot(page, "wizard-regions")
    page.get_by_role("button", name="Continue").click()

    # Step 4: review and confirm → progress page, polled until every region is done.
    expect(page.get_by_role("heading", name="4. Review and confirm")).to_be_visible()
    expect(page.locator(".cost-table")).to_contain_text("eu-west-1")
    screenshot(page, "wizard-review")
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/amis/[0-9a-f-]+/progress/$"))
    expect(page.locator("#progress-done-link")).to_be_visible(timeout=20_000)
    expect(page.locator(".progress-list progress")).to_have_count(2)
    expect(page.locator("#progress-state")).to_contain_text("done")
    screenshot(page, "progress")
    ami = AMI.objects.get(ami_id=image_id)
    assert ami.status == AMI.Status.PENDING_REVIEW
    assert set(ami.regions.filter(state="available").values_list("region", flat=True)) == {
        "us-east-1", "us-west-2", "eu-west-1"}

    page.locator("#progress-done-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("PyTorch 2.5 GPU")
    expect(page.get_by_text("Waiting for a moderator's review.")).to_be_visible()
    # A richer My AMIs page for the screenshot: a rejected entry (with the moderator's reason) and a draft.
    AMIFactory(creator=owner, name="R 4.3 + Bioconductor", status=AMI.Status.REJECTED,
               status_reason="Please describe which Bioconductor packages are installed.")
    AMIFactory(creator=owner, name="JAX nightly", status=AMI.Status.DRAFT)
    page.goto("/me/amis/")
    expect(page.get_by_role("heading", name="Pending review")).to_be_visible()
    expect(page.get_by_text("Please describe which Bioconductor packages are installed.")).to_be_visible()
    screenshot(page, "my-amis")

    # Not yet in anonymous search.
    anon = new_page()
    anon.goto("/?q=pytorch")
    expect(anon.locator("#result-count")).to_have_text("2 AMIs")
    expect(anon.get_by_role("link", name="PyTorch 2.5 GPU")).to_have_count(0)

    # A moderator approves it in the admin with the "approve" action.
    mod = new_page()
    # NOTE: moderators (group members without is_staff) sign in on the site's login page: the
    # admin's own login form admits staff accounts only; the admin site itself lets moderators in.
    mod.goto("/accounts/login/?next=/admin/amis/ami/%3Fstatus__exact%3Dpending_review")
    mod.locator("#id_username").fill("mod")
    mod.locator("#id_password").fill("mod-pass-phrase")
    mod.get_by_role("button", name="Log in").click()
    mod.locator(f"input[name=_selected_action][value='{ami.pk}']").check()
    mod.locator("select[name=action]").select_option("approve")
    mod.locator("button[name=index]").click()
    expect(mod.locator(".messagelist")).to_be_visible()
    ami.refresh_from_db()
    assert ami.status == AMI.Status.APPROVED

    # Now anonymous search finds it.
    anon.goto("/?q=pytorch")
    expect(anon.locator("#result-count")).to_have_text("3 AMIs")
    expect(anon.get_by_role("link", name="PyTorch 2.5 GPU")).to_be_visible()
