"""With no facet parameter, the facets and the count come from one grouped pass
(``GROUPING SETS``): the same answer, value for value and in the same order, as one query per
facet and a COUNT."""
import pytest

from amis.models import AMI
from amis.selectors import _facets_and_count, _facets_and_count_each
from tests.amis.helpers import make_ami
from tests.factories import AMIRegionFactory, TemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def varied(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    templates = [TemplateFactory(slug="zeta-t"), TemplateFactory(slug="alpha-t")]
    for i in range(14):
        ami = make_ami(alice if i % 2 else bob, name=f"Image {i}", description="pytorch" if i % 3 else "numpy",
                       category=["Genomics", "", "Machine Learning", "astro"][i % 4],
                       architecture="arm64" if i % 5 == 0 else "x86_64",
                       template=templates[i % 2] if i % 3 else None, verified=bool(i % 2))
        if i % 4 == 0:
            AMIRegionFactory(ami=ami, region="eu-west-1")
    make_ami(alice, name="Draft", status=AMI.Status.DRAFT, category="Genomics")
    return AMI.objects.filter(status=AMI.Status.APPROVED)


@pytest.mark.parametrize("params", [{}, {"q": "pytorch"}, {"verified": "true"}, {"q": "numpy", "min_rating": "0"},
                                    {"q": "nothing-matches-this"}])
def test_one_pass_equals_one_query_per_facet(varied, params):
    at_once = _facets_and_count(params, varied, None)
    each = _facets_and_count_each(params, varied, None)
    assert at_once == each
    assert each["count"] == 0 if params.get("q") == "nothing-matches-this" else each["facets"]["category"]
    assert [list(at_once["facets"][f]) for f in at_once["facets"]] == [list(each["facets"][f]) for f in each["facets"]]
    assert list(at_once["facets"]) == ["category", "architecture", "region", "template"]


def test_a_facet_parameter_takes_the_per_facet_path(varied):
    # Each facet ignores its own parameter: the category facet still counts every category.
    result = _facets_and_count({"category": "Genomics"}, varied, None)
    assert set(result["facets"]["category"]) == {"Genomics", "Machine Learning", "astro"}
    assert result["count"] == varied.filter(category="Genomics").count()
