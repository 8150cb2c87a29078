"""ami_register: AWS-derived facts from moto, and every refusal (service and API)."""
import pytest
from moto.ec2.models import ec2_backends

from amis import services
from amis.models import AMI, AMIRegion
from registry import aws as aws_gateway
from registry.errors import Conflict, InvalidInput
from registry.models import AuditEvent
from tests.amis.helpers import client_for
from tests.factories import AMIFactory, AMIRegionFactory, TemplateFactory, fake_ami_id

pytestmark = pytest.mark.django_db


def register(user, image_id, region="us-east-1", **kw):
    kw.setdefault("name", "PyTorch workstation")
    kw.setdefault("description", "GPU ready")
    kw.setdefault("category", "Machine Learning")
    return services.ami_register(user=user, ami_id=image_id, region=region, **kw)


def test_register_records_facts_from_aws_not_from_the_client(aws, user):
    image_id = aws.image("eu-west-1", "arm64", name="ml-image-1")
    described = aws_gateway.describe_image("eu-west-1", image_id)
    template = TemplateFactory(slug="python-ml", name="Python ML", category="Data Science")

    ami = register(user, image_id, "eu-west-1", template="python-ml", category="", tags={"gpu": "yes"},
                   version="1.2")

    ami.refresh_from_db()
    assert ami.status == AMI.Status.DRAFT
    assert ami.visibility == AMI.Visibility.PRIVATE
    assert ami.creator == user and ami.source_region == "eu-west-1" and ami.ami_id == image_id
    assert ami.architecture == "arm64"
    assert ami.owner_account_id == described["OwnerId"] == "123456789012"
    assert ami.image_name == "ml-image-1"
    assert ami.image_creation_date == described["CreationDate"]
    root = next(m for m in described["BlockDeviceMappings"] if m["DeviceName"] == described["RootDeviceName"])
    assert ami.root_snapshot_ids == [root["Ebs"]["SnapshotId"]]
    assert ami.size_gb == root["Ebs"]["VolumeSize"]
    assert ami.boot_mode == described.get("BootMode", "")
    assert ami.platform == ("windows" if described.get("Platform") == "windows" else "linux")
    assert ami.template == template and ami.category == "Data Science"  # defaulted from the template
    assert ami.tags == {"gpu": "yes"} and ami.version == "1.2"
    region = AMIRegion.objects.get(ami=ami)
    assert (region.region, region.image_id, region.state, region.is_source) == (
        "eu-west-1", image_id, AMIRegion.State.AVAILABLE, True)
    event = AuditEvent.objects.get(action="ami.register", target_id=str(ami.pk))
    assert event.actor == user and event.after["ami_id"] == image_id


def test_register_api_returns_the_ami_object(aws, user):
    image_id = aws.image("us-east-1", "x86_64")
    response = client_for(user).post("/api/v1/amis/", {
        "ami_id": image_id, "region": "us-east-1", "name": "Bio", "description": "genomics",
        "category": "Bioinformatics", "tags": {"field": "genomics"}, "visibility": "public",
        # Ignored: architecture and owner come from AWS.
        "architecture": "arm64", "owner_account_id": "999999999999"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["ami_id"] == image_id and body["status"] == "draft" and body["creator"] == user.username
    assert body["architecture"] == "x86_64" and body["owner_account_id"] == "123456789012"
    assert body["visibility"] == "public" and body["template"] is None
    assert body["regions"] == [{"region": "us-east-1", "ami_id": image_id, "state": "available",
                                "source": "origin", "last_tested": None}]
    assert body["rating_histogram"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
    assert body["shares"] == []


@pytest.mark.parametrize("ami_id, region, field", [
    ("ami-123", "us-east-1", "ami_id"),
    ("i-0123456789abcdef0", "us-east-1", "ami_id"),
    ("ami-0123456789ABCDEF0", "us-east-1", "ami_id"),
    ("ami-0123456789abcdef0", "mars-north-1", "region"),
    ("ami-0123456789abcdef0", "", "region"),
])
def test_register_validates_ids_before_calling_aws(user, mocker, ami_id, region, field):
    describe = mocker.patch("amis.services.aws.describe_image")
    with pytest.raises(InvalidInput) as exc:
        register(user, ami_id, region)
    assert field in exc.value.errors
    describe.assert_not_called()
    assert not AMI.objects.exists()


def test_register_unknown_image_is_400(aws, user):
    with pytest.raises(InvalidInput) as exc:
        register(user, "ami-0123456789abcdef0")
    assert exc.value.code == "ami_not_found"
    assert "does not exist in us-east-1" in exc.value.message


def test_register_image_of_another_region_is_400(aws, user):
    image_id = aws.image("us-west-2")
    with pytest.raises(InvalidInput) as exc:
        register(user, image_id, "us-east-1")
    assert "does not exist in us-east-1" in exc.value.message


def test_register_image_not_available_names_its_state(aws, user):
    image_id = aws.image("us-east-1")
    ec2_backends["123456789012"]["us-east-1"].amis[image_id].state = "pending"
    response = client_for(user).post("/api/v1/amis/", {"ami_id": image_id, "region": "us-east-1", "name": "x",
                                                       "category": "ML"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "ami_not_available" and "state: pending" in body["message"]
    assert body["errors"]["ami_id"] and body["state"] == "pending"
    assert not AMI.objects.exists()


def test_register_twice_is_409(aws, user, other_user):
    image_id = aws.image("us-east-1")
    register(user, image_id)
    response = client_for(other_user).post("/api/v1/amis/", {"ami_id": image_id, "region": "us-east-1",
                                                             "name": "again", "category": "ML"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "already_registered"
    assert AMI.objects.count() == 1


def test_register_a_regional_copy_of_another_entry_is_409(aws, user, mocker):
    copy = AMIRegionFactory(ami=AMIFactory(), region="eu-west-1", image_id=fake_ami_id())
    describe = mocker.patch("amis.services.aws.describe_image")
    with pytest.raises(Conflict):
        register(user, copy.image_id, "eu-west-1")
    describe.assert_not_called()


def test_register_unknown_template_is_400(aws, user):
    image_id = aws.image("us-east-1")
    with pytest.raises(InvalidInput) as exc:
        register(user, image_id, template="no-such-template")
    assert "template" in exc.value.errors


def test_register_requires_sign_in(api_client):
    response = api_client.post("/api/v1/amis/", {"ami_id": "ami-0123456789abcdef0", "region": "us-east-1",
                                                 "name": "x", "category": "ML"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_register_sends_ami_changed(aws, user, django_capture_on_commit_callbacks):
    from amis.signals import ami_changed

    received = []

    def receiver(sender, ami_id, **kwargs):
        received.append(ami_id)

    ami_changed.connect(receiver, weak=False)
    try:
        image_id = aws.image("us-east-1")
        with django_capture_on_commit_callbacks(execute=True):
            ami = register(user, image_id)
    finally:
        ami_changed.disconnect(receiver)
    assert received == [ami.pk, ami.pk]


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_image_give_one_entry(aws, make_user):
    """Both pass the pre-check; the unique constraints decide and the loser gets a clean 409."""
    import threading

    from django.db import connection

    image_id = aws.image("us-east-1")
    # One publisher racing themself (e.g. a retried request): only the image's owner may register it.
    users = [make_user("racer")] * 4
    barrier = threading.Barrier(len(users))
    outcomes = []

    def worker(who):
        try:
            barrier.wait(timeout=30)
            register(who, image_id)
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["conflict"] * 3 + ["created"]
    assert AMI.objects.filter(ami_id=image_id).count() == 1
    assert AMIRegion.objects.filter(image_id=image_id).count() == 1
