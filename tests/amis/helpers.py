"""Small helpers shared by the catalogue tests."""
from amis.models import AMI
from tests.conftest import client_for  # noqa: F401 — re-exported for the test modules
from tests.factories import AMIFactory


def make_ami(creator, *, status=AMI.Status.APPROVED, visibility=AMI.Visibility.PUBLIC, **kwargs) -> AMI:
    """An AMI row (DB only, with an available source region) in the given status/visibility."""
    return AMIFactory(creator=creator, status=status, visibility=visibility, **kwargs)


def url(ami, suffix: str = "") -> str:
    ref = ami if isinstance(ami, str) else ami.ami_id
    return f"/api/v1/amis/{ref}{suffix}"
