"""The AMI page (/amis/<id>/): visibility, reviews, rating form, launch snippet, owner controls."""
import pytest
from django.utils import timezone

from amis.models import AMI, AMIRegion, Download
from ratings.models import Rating
from sharing.models import Share
from tests.factories import AMIFactory, AMIRegionFactory, TemplateFactory
from tests.web.conftest import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def ami(user):
    template = TemplateFactory(slug="python-ml", name="Python ML")
    ami = AMIFactory(creator=user, template=template, name="PyTorch box", version="2.1", tags={"cuda": "12.4"})
    AMIRegionFactory(ami=ami, region="eu-west-1", last_tested=timezone.now())
    AMIRegionFactory(ami=ami, region="ap-south-1", state=AMIRegion.State.PENDING, image_id="")
    return ami


def test_public_page_for_anonymous(login, ami):
    r = login().get(f"/amis/{ami.pk}/")
    body = text(r)
    assert r.status_code == 200
    assert "<h1>PyTorch box</h1>" in body and "cuda=12.4" in body
    # Regions table: every region row with its state.
    assert "eu-west-1" in body and "ap-south-1" in body and "(pending)" in body
    # Launch snippet with the template slug and the source region.
    assert "cws launch python-ml my-workstation --region us-east-1" in body
    assert "cws ami resolve python-ml --region us-east-1" in body
    # No owner controls, no rating form; a log-in link instead.
    assert "Manage (owner)" not in body and 'id="rate-form"' not in body
    assert f"/accounts/login/?next=/amis/{ami.pk}/" in body


def test_snippet_region_can_be_chosen(login, ami):
    body = text(login().get(f"/amis/{ami.pk}/?region=eu-west-1"))
    assert "cws launch python-ml my-workstation --region eu-west-1" in body


def test_page_by_aws_ids(login, ami):
    regional = ami.regions.get(region="eu-west-1").image_id
    assert login().get(f"/amis/{ami.ami_id}/").status_code == 200
    assert login().get(f"/amis/{regional}/").status_code == 200


@pytest.mark.parametrize("status, visibility", [
    (AMI.Status.DRAFT, AMI.Visibility.PUBLIC),
    (AMI.Status.PENDING_REVIEW, AMI.Visibility.PUBLIC),
    (AMI.Status.APPROVED, AMI.Visibility.PRIVATE),
    (AMI.Status.REVOKED, AMI.Visibility.PUBLIC),
])
def test_invisible_amis_are_404_for_others_but_visible_to_owner(login, user, other_user, status, visibility):
    ami = AMIFactory(creator=user, status=status, visibility=visibility)
    for client in (login(), login(other_user)):
        r = client.get(f"/amis/{ami.pk}/")
        assert r.status_code == 404
        assert "Page not found" in text(r) and ami.name not in text(r)
    assert login(user).get(f"/amis/{ami.pk}/").status_code == 200


def test_unknown_refs_are_404(login):
    assert login().get("/amis/not-an-id/").status_code == 404
    assert login().get("/amis/ami-0123456789abcdef0/").status_code == 404


def test_owner_sees_owner_controls_and_others_do_not(login, ami, user, other_user):
    owner_body = text(login(user).get(f"/amis/{ami.pk}/"))
    assert "Manage (owner)" in owner_body
    for marker in ("Edit details", "Share (", "Copy to more regions", "Deprecate"):
        assert marker in owner_body
    assert "You cannot rate your own AMI" in owner_body
    other_body = text(login(other_user).get(f"/amis/{ami.pk}/"))
    assert "Manage (owner)" not in other_body and "Copy to more regions" not in other_body
    assert 'id="rate-form"' in other_body


def test_reviews_hidden_omitted_verified_marked_and_escaped(login, ami, make_user):
    a, b, c = make_user("ann"), make_user("ben"), make_user("cat")
    Rating.objects.create(ami=ami, user=a, rating=5, review="<script>alert('x')</script> great")
    Rating.objects.create(ami=ami, user=b, rating=1, review="spam spam", is_hidden=True)
    Rating.objects.create(ami=ami, user=c, rating=4, review="solid")
    Download.objects.create(ami=ami, user=c, region="us-east-1")
    body = text(login().get(f"/amis/{ami.pk}/"))
    assert "<script>alert" not in body and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; great" in body
    assert "spam spam" not in body
    # Only cat recorded a launch.
    cat_block = body[body.index("<strong>cat</strong>"):][:400]
    ann_block = body[body.index("<strong>ann</strong>"):][:400]
    assert "verified launch" in cat_block and "verified launch" not in ann_block
    # Most helpful: verified launches first.
    helpful = text(login().get(f"/amis/{ami.pk}/?reviews=helpful"))
    assert helpful.index("<strong>cat</strong>") < helpful.index("<strong>ann</strong>")


def test_rating_create_then_edit_updates_average_and_histogram(login, ami, other_user):
    client = login(other_user)
    r = client.post(f"/amis/{ami.pk}/rate/", {"rating": "4", "review": "Good <b>image</b>"})
    assert r.status_code == 302 and r.url == f"/amis/{ami.pk}/#reviews"
    ami.refresh_from_db()
    assert (ami.rating_count, float(ami.rating_avg)) == (1, 4.0)
    body = text(client.get(f"/amis/{ami.pk}/"))
    assert "Edit your rating" in body and 'value="4" required id="id_rating_1" checked' in body
    assert "Good &lt;b&gt;image&lt;/b&gt;" in body
    assert '<span class="big-rating" id="rating-average">4.0</span>' in body
    # Edit: the same user's rating is replaced, not added.
    client.post(f"/amis/{ami.pk}/rate/", {"rating": "2", "review": "changed my mind"})
    ami.refresh_from_db()
    assert (ami.rating_count, float(ami.rating_avg)) == (1, 2.0)
    assert Rating.objects.get(ami=ami, user=other_user).review == "changed my mind"


def test_rating_errors_are_shown_next_to_the_field(login, ami, other_user):
    r = login(other_user).post(f"/amis/{ami.pk}/rate/", {"rating": "9", "review": ""})
    assert r.status_code == 400
    assert "Select a valid choice" in text(r)
    assert not Rating.objects.exists()


def test_owner_cannot_rate_own_ami(login, ami, user):
    r = login(user).post(f"/amis/{ami.pk}/rate/", {"rating": "5"})
    assert r.status_code == 403 and "Not allowed" in text(r)
    assert not Rating.objects.exists()


def test_rating_needs_login_and_csrf(login, ami, other_user):
    r = login().post(f"/amis/{ami.pk}/rate/", {"rating": "5"})
    assert r.status_code == 302 and r.url.startswith("/accounts/login/")
    r = login(other_user, csrf_checks=True).post(f"/amis/{ami.pk}/rate/", {"rating": "5"})
    assert r.status_code == 403
    assert not Rating.objects.exists()


def test_deprecation_notice_links_a_visible_replacement_only(login, user, other_user):
    new = AMIFactory(creator=user, name="Shiny v2")
    old = AMIFactory(creator=user, status=AMI.Status.DEPRECATED, replacement=new, status_reason="CUDA 11 is EOL")
    body = text(login().get(f"/amis/{old.pk}/"))
    assert "This AMI is deprecated." in body and "CUDA 11 is EOL" in body
    assert f'href="/amis/{new.pk}/" id="replacement-link">Shiny v2</a>' in body
    AMI.objects.filter(pk=new.pk).update(visibility=AMI.Visibility.PRIVATE)
    body = text(login(other_user).get(f"/amis/{old.pk}/"))
    assert "This AMI is deprecated." in body and "Shiny v2" not in body


def test_edit_saves_and_shows_errors_next_to_fields(login, ami, user):
    client = login(user)
    r = client.post(f"/amis/{ami.pk}/edit/", {"name": "Renamed", "description": "d", "category": "HPC",
                                             "version": "3", "tags": "a=1, b"})
    assert r.status_code == 302
    ami.refresh_from_db()
    assert (ami.name, ami.category, ami.tags) == ("Renamed", "HPC", {"a": "1", "b": ""})
    r = client.post(f"/amis/{ami.pk}/edit/", {"name": "", "description": ""})
    assert r.status_code == 400
    body = text(r)
    assert "This field is required." in body and "<details class=\"owner-action\" open>" in body


def test_only_the_owner_may_post_owner_actions(login, ami, other_user):
    client = login(other_user)
    for path, data in [("edit/", {"name": "x"}), ("submit-review/", {}), ("shares/", {"grantee_type": "account",
                       "grantee": "123456789012"}), ("copy/", {"regions": ["eu-west-2"]}), ("deprecate/", {})]:
        assert client.post(f"/amis/{ami.pk}/{path}").status_code == 403, path
    ami.refresh_from_db()
    assert ami.name == "PyTorch box" and ami.status == AMI.Status.APPROVED and not ami.shares.exists()


def test_submit_for_review_from_draft(login, user):
    ami = AMIFactory(creator=user, status=AMI.Status.DRAFT)
    client = login(user)
    assert "Submit for review" in text(client.get(f"/amis/{ami.pk}/"))
    assert client.post(f"/amis/{ami.pk}/submit-review/").status_code == 302
    ami.refresh_from_db()
    assert ami.status == AMI.Status.PENDING_REVIEW
    # A second submit is a state conflict: shown as a message, nothing changes.
    r = client.post(f"/amis/{ami.pk}/submit-review/", follow=True)
    assert "cannot submit" in text(r)


def test_share_add_invalid_and_remove(login, ami, user, other_user, django_capture_on_commit_callbacks):
    client = login(user)
    r = client.post(f"/amis/{ami.pk}/shares/", {"grantee_type": "account", "grantee": "12345"})
    assert r.status_code == 400 and "<details class=\"owner-action\" open>" in text(r)
    assert not Share.objects.exists()
    r = client.post(f"/amis/{ami.pk}/shares/", {"grantee_type": "user", "grantee": other_user.username})
    assert r.status_code == 302
    share = Share.objects.get(ami=ami)
    assert share.user == other_user
    assert f"/amis/{ami.pk}/shares/{share.pk}/delete/" in text(client.get(f"/amis/{ami.pk}/"))
    assert client.post(f"/amis/{ami.pk}/shares/{share.pk}/delete/").status_code == 302
    assert not Share.objects.exists()
    assert client.post(f"/amis/{ami.pk}/shares/99999/delete/").status_code == 404


def test_deprecate_with_replacement(login, ami, user):
    new = AMIFactory(creator=user)
    client = login(user)
    r = client.post(f"/amis/{ami.pk}/deprecate/", {"reason": "old", "replacement": "ami-00000000"})
    assert r.status_code == 400 and "No AMI visible to you has that id." in text(r)
    r = client.post(f"/amis/{ami.pk}/deprecate/", {"reason": "old", "replacement": new.ami_id})
    assert r.status_code == 302
    ami.refresh_from_db()
    assert ami.status == AMI.Status.DEPRECATED and ami.replacement == new


def test_copy_to_regions_goes_to_progress(login, user, aws, django_capture_on_commit_callbacks):
    from amis.services import ami_register

    image_id = aws.image("us-east-1")
    ami = ami_register(user=user, ami_id=image_id, region="us-east-1", name="Real image")
    client = login(user)
    r = client.post(f"/amis/{ami.pk}/copy/", {"regions": []})
    assert r.status_code == 400 and "This field is required." in text(r)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/amis/{ami.pk}/copy/", {"regions": ["eu-west-2"]})
    assert r.status_code == 302 and r.url == f"/amis/{ami.pk}/progress/"
    assert ami.operations.filter(kind="copy_image", region="eu-west-2").exists()
    assert "eu-west-2" in text(client.get(r.url))


def test_ami_page_query_count_is_bounded(login, ami, other_user, make_user, django_assert_max_num_queries):
    for i in range(15):
        u = make_user(f"rater{i}")
        Rating.objects.create(ami=ami, user=u, rating=1 + i % 5, review=f"review {i}")
        Download.objects.create(ami=ami, user=u, region="us-east-1")
    client = login(other_user)
    client.get(f"/amis/{ami.pk}/")  # warm the session
    # The budget is per section, never per row: +1 for "why this rank" (one query of subqueries)
    # and +1 for the software section's predecessor ("what changed since").
    with django_assert_max_num_queries(14):
        assert client.get(f"/amis/{ami.pk}/").status_code == 200
    owner = login(ami.creator)
    with django_assert_max_num_queries(16):
        assert owner.get(f"/amis/{ami.pk}/").status_code == 200


@pytest.mark.parametrize("path", ["edit/", "submit-review/", "shares/", "copy/", "deprecate/", "rate/"])
def test_every_ami_form_enforces_csrf(login, ami, user, path):
    r = login(user, csrf_checks=True).post(f"/amis/{ami.pk}/{path}", {"name": "x", "rating": "5"})
    assert r.status_code == 403
    ami.refresh_from_db()
    assert ami.name == "PyTorch box" and ami.status == AMI.Status.APPROVED


def test_wizard_enforces_csrf(login, user):
    r = login(user, csrf_checks=True).post("/submit/source/", {"mode": "register", "ami_id": "ami-12345678",
                                                               "region": "us-east-1"})
    assert r.status_code == 403


# --- scan findings and launch details -----------------------------------------------------------

def _scanned(ami):
    from amis.models import ScanResult

    return ScanResult.objects.create(
        ami=ami, status="passed", security_score=5, region="us-east-1", image_id=ami.ami_id,
        checks=["root_volume_encrypted", "snapshots_not_public", "imdsv2_required", "ena_support", "boot_mode",
                "owner_trusted", "image_age", "not_deprecated"],
        findings=[{"id": "ena_support", "severity": "low", "message": "ENA is not enabled.", "scanner": "aws_metadata"},
                  {"id": "imdsv2_required", "severity": "medium", "message": "IMDSv2 is not required.",
                   "scanner": "aws_metadata"},
                  {"id": "root_volume_encrypted", "severity": "medium", "message": "Root volume snapshot is not "
                   "encrypted.", "scanner": "aws_metadata"}])


def test_scan_findings_are_explained_on_the_page_and_in_the_api(login, ami):
    _scanned(ami)
    body = text(login().get(f"/amis/{ami.pk}/"))
    assert "5 of 8 checks passed" in body
    for title in ("IMDSv2 not required", "Root volume not encrypted", "No ENA networking"):
        assert title in body
    assert "server-side request forgery" in body  # what IMDSv1 means, not only that it is on
    # Medium findings first, then low.
    assert body.index("IMDSv2 not required") < body.index("No ENA networking")

    scan = login().get(f"/api/v1/amis/{ami.ami_id}").json()["scan"]
    assert (scan["status"], scan["security_score"], scan["checks_run"], scan["checks_passed"]) == ("passed", 5.0, 8, 5)
    imds = next(f for f in scan["findings"] if f["id"] == "imdsv2_required")
    assert imds["title"] == "IMDSv2 not required" and "HttpTokens=required" in imds["meaning"]
    assert imds["effect"] == "−2 points" and imds["message"] == "IMDSv2 is not required."
    # The scan endpoint explains its findings the same way.
    latest = login().get(f"/api/v1/amis/{ami.ami_id}/scan").json()["latest"]
    assert {f["title"] for f in latest["findings"]} == {f["title"] for f in scan["findings"]}


def test_never_scanned_says_so(login, ami):
    assert "Not scanned yet." in text(login().get(f"/amis/{ami.pk}/"))
    assert login().get(f"/api/v1/amis/{ami.ami_id}").json()["scan"] is None


def test_launch_details_per_available_region_with_copy_buttons(login, ami):
    body = text(login().get(f"/amis/{ami.pk}/"))
    source = ami.regions.get(region="us-east-1").image_id
    copy = ami.regions.get(region="eu-west-1").image_id
    for region, image in (("us-east-1", source), ("eu-west-1", copy)):
        assert f"aws ec2 run-instances --region {region} --image-id {image} --instance-type t3.medium" in body
        assert f'data-copy-target="ami-id-{region}"' in body
        assert f'data-copy-target="launch-aws-{region}"' in body
        assert f"cws launch python-ml my-workstation --region {region}" in body
    # The pending copy has no id yet: nothing to copy or launch there.
    assert 'data-copy-target="ami-id-ap-south-1"' not in body and "--region ap-south-1" not in body
    launch = login().get(f"/api/v1/amis/{ami.ami_id}").json()["launch"]
    assert [row["region"] for row in launch] == ["us-east-1", "eu-west-1"]
    assert launch[1]["cws"] == ["cws launch python-ml my-workstation --region eu-west-1",
                                "cws ami resolve python-ml --region eu-west-1"]


@pytest.mark.parametrize("status", [AMI.Status.PENDING_REVIEW, AMI.Status.REJECTED, AMI.Status.REVOKED,
                                    AMI.Status.DRAFT])
def test_no_launch_snippet_on_entries_not_to_be_launched(login, user, ami, status):
    AMI.objects.filter(pk=ami.pk).update(status=status)
    body = text(login(user).get(f"/amis/{ami.pk}/"))
    assert 'id="no-launch"' in body
    assert "run-instances" not in body and "cws launch" not in body and 'id="launch-snippet"' not in body
    assert login(user).get(f"/api/v1/amis/{ami.ami_id}").json()["launch"] == []


def test_arm64_launch_line_uses_a_graviton_type(login, user):
    arm = AMIFactory(creator=user, architecture="arm64")
    assert "--instance-type t4g.medium" in text(login().get(f"/amis/{arm.pk}/"))
