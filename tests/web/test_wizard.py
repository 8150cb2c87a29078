"""The submit wizard (/submit/) end to end on in-process moto, with eager tasks."""
import pytest

from amis.models import AMI, AMIRegion, Operation
from tests.factories import AMIFactory, TemplateFactory
from tests.web.conftest import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(db):
    return TemplateFactory(slug="python-ml", name="Python ML", category="Machine Learning")


def _errors(response) -> str:
    body = text(response)
    return body[body.find('class="errorlist'):][:500]


def _run_to_review(client, *, source: dict, details: dict, regions: dict):
    r = client.post("/submit/source/", source)
    assert r.status_code == 302 and r.url == "/submit/details/", text(r)[:3000]
    r = client.post("/submit/details/", details)
    assert r.status_code == 302 and r.url == "/submit/regions/", text(r)[:3000]
    r = client.post("/submit/regions/", regions)
    assert r.status_code == 302 and r.url == "/submit/review/", text(r)[:3000]
    return client.get("/submit/review/")


def test_wizard_requires_login(login):
    r = login().get("/submit/")
    assert r.status_code == 302 and r.url.startswith("/accounts/login/?next=/submit/")


def test_register_existing_image_with_copies_runs_to_done(login, user, aws, template, fast_polls,
                                                          django_capture_on_commit_callbacks):
    image_id = aws.image("us-east-1", name="ml-image")
    client = login(user)
    assert "1. Source" in text(client.get("/submit/"))
    review = _run_to_review(
        client,
        source={"mode": "register", "ami_id": image_id, "region": "us-east-1"},
        details={"name": "PyTorch 2.4 <GPU>", "description": "CUDA 12", "template": "python-ml",
                 "category": "", "version": "1.0", "tags": "cuda=12.4, framework=pytorch"},
        regions={"regions": ["us-west-2", "eu-west-1"], "visibility": "public"})
    body = text(review)
    assert review.status_code == 200
    assert "PyTorch 2.4 &lt;GPU&gt;" in body  # user text escaped
    assert "us-west-2" in body and "eu-west-1" in body and "Total" in body  # cost estimate per region
    assert "cuda=12.4" in body

    with django_capture_on_commit_callbacks(execute=True):  # the copy tasks are queued after commit
        r = client.post("/submit/review/", {"submit_for_review": "on"})
    assert r.status_code == 302, _errors(r)
    ami = AMI.objects.get(ami_id=image_id)
    assert r.status_code == 302 and r.url == f"/amis/{ami.pk}/progress/"
    assert ami.status == AMI.Status.PENDING_REVIEW
    assert ami.visibility == AMI.Visibility.PUBLIC
    assert ami.template == template and ami.category == "Machine Learning"
    assert ami.tags == {"cuda": "12.4", "framework": "pytorch"}
    copies = Operation.objects.filter(ami=ami, kind=Operation.Kind.COPY_IMAGE)
    assert sorted(copies.values_list("region", flat=True)) == ["eu-west-1", "us-west-2"]

    # The progress page polls the fragment; each poll advances eager operations until all are done.
    page = client.get(r.url)
    assert page.status_code == 200 and 'data-poll-url="/amis/' in text(page)
    for _ in range(10):
        with django_capture_on_commit_callbacks(execute=True):
            fragment = client.get(f"/amis/{ami.pk}/progress/fragment/")
        if 'data-done="true"' in text(fragment):
            break
    body = text(fragment)
    assert 'data-done="true"' in body, body
    assert body.count("<progress") == 2 and "Succeeded · 100%" in body
    assert f'href="/amis/{ami.pk}/"' in body
    assert set(AMIRegion.objects.filter(ami=ami, state="available").values_list("region", flat=True)) == {
        "us-east-1", "us-west-2", "eu-west-1"}
    # The wizard's answers are gone: a new wizard starts empty.
    assert client.get("/submit/review/").url == "/submit/source/"


def test_register_without_copies_is_done_at_once_and_can_stay_draft(login, user, aws, template):
    image_id = aws.image("eu-west-1")
    client = login(user)
    _run_to_review(client, source={"mode": "register", "ami_id": image_id, "region": "eu-west-1"},
                   details={"name": "Plain", "template": "", "tags": ""},
                   regions={"visibility": "private"})
    r = client.post("/submit/review/", {})
    assert r.status_code == 302, _errors(r)
    ami = AMI.objects.get(ami_id=image_id)
    assert ami.status == AMI.Status.DRAFT and ami.visibility == AMI.Visibility.PRIVATE
    body = text(client.get(r.url))
    assert 'data-done="true"' in body and "registered and available in eu-west-1" in body


@pytest.mark.parametrize("ami_id, error", [
    ("", "Enter the AMI id to register."),
    ("ami-xyz", "Not a valid AMI id"),
    ("ami-0123456789abcdef0", "No such image in us-east-1"),
])
def test_step1_register_errors_are_next_to_the_field(login, user, aws, ami_id, error):
    r = login(user).post("/submit/source/", {"mode": "register", "ami_id": ami_id, "region": "us-east-1"})
    assert r.status_code == 400
    body = text(r)
    assert error in body
    # Django renders the field's errors inside its own field group, with aria-describedby / invalid.
    assert 'aria-invalid="true"' in body and 'id="id_ami_id"' in body


def test_step1_refuses_an_already_registered_image(login, user, aws):
    existing = AMIFactory()
    r = login(user).post("/submit/source/", {"mode": "register", "ami_id": existing.ami_id, "region": "us-east-1"})
    assert r.status_code == 400 and "already in the registry" in text(r)


def test_step1_checks_the_instance_is_running(login, user, aws):
    instance_id = aws.instance("us-east-1")
    aws.ec2("us-east-1").stop_instances(InstanceIds=[instance_id])
    client = login(user)
    r = client.post("/submit/source/", {"mode": "create", "instance_id": instance_id, "region": "us-east-1"})
    assert r.status_code == 400 and "must be running" in text(r) and "stopped" in text(r)
    r = client.post("/submit/source/", {"mode": "create", "instance_id": "i-0123456789abcdef0",
                                        "region": "us-east-1"})
    assert r.status_code == 400 and "not found (by id) in us-east-1" in text(r)


def test_create_from_instance_runs_to_done(login, user, aws, template, fast_polls,
                                           django_capture_on_commit_callbacks):
    instance_id = aws.instance("us-east-1")
    client = login(user)
    r = client.post("/submit/source/", {"mode": "create", "instance_id": instance_id, "region": "us-east-1"})
    assert r.status_code == 302
    # A template is required for this mode: the error is next to the field.
    r = client.post("/submit/details/", {"name": "From instance", "template": ""})
    assert r.status_code == 400 and "This field is required." in text(r)
    client.post("/submit/details/", {"name": "From instance", "template": "python-ml"})
    client.post("/submit/regions/", {"regions": ["us-west-2"], "visibility": "public"})
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/submit/review/", {"submit_for_review": "on"})
    op = Operation.objects.get(kind=Operation.Kind.CREATE_IMAGE, instance_id=instance_id)
    assert r.status_code == 302
    assert r.url in (f"/amis/{op.params['registry_id']}/progress/", f"/operations/{op.pk}/progress/")
    for _ in range(10):
        with django_capture_on_commit_callbacks(execute=True):
            body = text(client.get(r.url.replace("/progress/", "/progress/fragment/")))
        if 'data-done="true"' in body:
            break
    assert 'data-done="true"' in body, body
    ami = AMI.objects.get(pk=op.params["registry_id"])
    assert ami.creator == user and ami.template == template
    if ami.status == AMI.Status.DRAFT:
        # The entry appeared after the request (here: on_commit callbacks run at the end of the
        # test's block, as a worker would later): the progress page offers the submission.
        assert 'id="progress-submit-review"' in body
        assert login(user).post(f"/amis/{ami.pk}/submit-review/").status_code == 302
        ami.refresh_from_db()
    assert ami.status == AMI.Status.PENDING_REVIEW
    assert set(ami.regions.values_list("region", flat=True)) == {"us-east-1", "us-west-2"}


def test_later_steps_redirect_to_the_first_missing_one(login, user):
    client = login(user)
    assert client.get("/submit/regions/").url == "/submit/source/"
    assert client.get("/submit/nope/").status_code == 404


def test_step4_service_error_is_shown(login, user, aws, template):
    """AWS may change between step 1 and 4: the service's answer is shown, nothing is written."""
    image_id = aws.image("us-east-1")
    client = login(user)
    _run_to_review(client, source={"mode": "register", "ami_id": image_id, "region": "us-east-1"},
                   details={"name": "Gone"}, regions={"visibility": "public"})
    aws.ec2("us-east-1").deregister_image(ImageId=image_id)
    r = client.post("/submit/review/", {"submit_for_review": "on"})
    assert r.status_code == 400 and "ami id: No such image in us-east-1" in text(r), _errors(r)
    assert not AMI.objects.filter(ami_id=image_id).exists()
