"""Workstation template pages: catalogue, readable ami_config, matrix, costs, community AMIs."""
import pytest

from amis.models import AMI
from tests.factories import AMIFactory, AMIRegionFactory, TemplateFactory
from tests.web.conftest import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def mapped_image(aws):
    """The image the template maps in us-east-1: it exists (in moto), as the resolver checks."""
    return aws.image("us-east-1", arch="arm64")


@pytest.fixture
def template(db, mapped_image):
    document = {
        "name": "Python ML", "slug": "python-ml", "description": "PyTorch and friends", "base": "ubuntu-22.04",
        "category": "Machine Learning", "package_manager": "conda",
        "packages": {"system": ["git", "curl"], "conda": ["pytorch", "numpy"], "pip": ["wandb"]},
        "ami_config": {"strategy": "ami_preferred",
                       "ami_mappings": {"us-east-1": mapped_image},
                       "preferred_regions": ["us-east-1", "eu-west-1"]},
    }
    return TemplateFactory(slug="python-ml", name="Python ML", document=document, own_document=document,
                           source_yaml="name: Python ML\n<script>x</script>\n")


def test_template_list(login, template):
    TemplateFactory(slug="r-stats", name="R <Stats>", category="Statistics")
    body = text(login().get("/templates/"))
    assert "Machine Learning" in body and "Statistics" in body
    assert 'href="/templates/python-ml/"' in body and "R &lt;Stats&gt;" in body


def test_template_detail(login, template, mapped_image, django_assert_max_num_queries):
    ami = AMIFactory(template=template, name="Community torch")
    AMIRegionFactory(ami=ami, region="eu-west-1")
    AMIFactory(template=template, name="Hidden draft", status=AMI.Status.DRAFT)
    client = login()
    with django_assert_max_num_queries(30):
        r = client.get("/templates/python-ml/")
    body = text(r)
    assert r.status_code == 200
    # ami_config, readable.
    assert "<dt>ami_mappings</dt>" in body and mapped_image in body and "us-east-1, eu-west-1" in body
    # Availability matrix from the resolver: us-east-1 by the direct mapping (the image exists),
    # eu-west-1 by the community registry, a region with neither falls back (copy or script).
    matrix = body[body.index('id="matrix-h"'):body.index('id="cost-h"')]
    row = lambda region: matrix[matrix.index(f"<td>{region}</td>"):][:300]  # noqa: E731
    assert "Direct mapping" in row("us-east-1") and mapped_image in row("us-east-1")
    assert "Community registry" in row("eu-west-1")
    assert "Cross-region copy" in row("eu-central-1") or "Script provisioning" in row("eu-central-1")
    # Cost comparison rows and a recommendation.
    assert "Break-even" in body and "AMI recommended" in body
    # Community AMIs (visible ones only); the YAML source is escaped.
    assert "Community torch" in body and "Hidden draft" not in body
    assert "&lt;script&gt;x&lt;/script&gt;" in body


def test_template_by_name_and_unknown(login, template):
    assert login().get("/templates/Python ML/").status_code == 200
    assert login().get("/templates/nope/").status_code == 404
