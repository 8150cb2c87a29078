"""The catalogue home (/): search, facets with counts, sort, pagination, shareable URLs."""
import pytest
from django.test import override_settings

from amis.models import AMI
from tests.factories import AMIFactory, AMIRegionFactory, TemplateFactory
from tests.web.conftest import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(user):
    ml = TemplateFactory(slug="python-ml", name="Python ML")
    r = TemplateFactory(slug="r-research", name="R Research", category="Statistics")
    amis = {
        "torch": AMIFactory(name="PyTorch GPU", template=ml, category="Machine Learning", rating_avg=4.5,
                            rating_count=10, download_count=5, verified=True, tags={"framework": "pytorch"}),
        "tf": AMIFactory(name="TensorFlow CPU", template=ml, category="Machine Learning", rating_avg=3.0,
                         rating_count=2, download_count=50, architecture="arm64"),
        "rstudio": AMIFactory(name="RStudio Server", template=r, category="Statistics", rating_avg=4.0,
                              rating_count=1, description="R <b>4.4</b> with tidyverse"),
        "dep": AMIFactory(name="Old PyTorch", template=ml, category="Machine Learning",
                          status=AMI.Status.DEPRECATED),
        # Never in anonymous browse:
        "draft": AMIFactory(name="Secret draft", creator=user, status=AMI.Status.DRAFT),
        "private": AMIFactory(name="Private approved", visibility=AMI.Visibility.PRIVATE),
    }
    AMIRegionFactory(ami=amis["torch"], region="eu-west-1")
    return amis


def test_anonymous_browse_lists_approved_public_only(login, catalogue):
    r = login().get("/")
    body = text(r)
    assert r.status_code == 200
    for name in ("PyTorch GPU", "TensorFlow CPU", "RStudio Server", "Old PyTorch"):
        assert name in body
    assert "Secret draft" not in body and "Private approved" not in body
    assert "4 AMIs" in body
    # Card details: template, architecture, stars + count, downloads, verified and deprecated badges.
    assert "Python ML" in body and "arm64" in body
    assert 'aria-label="Rated 4.5 out of 5"' in body and "(10 ratings)" in body and "50 downloads" in body
    assert "✔ Verified" in body and "⚠ Deprecated" in body
    assert "R &lt;b&gt;4.4&lt;/b&gt; with tidyverse" in body  # escaped


def test_owner_sees_own_drafts_in_browse(login, catalogue, user):
    assert "Secret draft" in text(login(user).get("/"))


def test_search_uses_full_text_search(login, catalogue):
    body = text(login().get("/?q=pytorch"))
    assert "PyTorch GPU" in body and "Old PyTorch" in body
    assert "TensorFlow CPU" not in body and "RStudio Server" not in body
    assert 'value="pytorch"' in body  # the box keeps the query


def test_facets_show_counts_and_filter_links_are_shareable(login, catalogue):
    body = text(login().get("/"))
    assert '<span>Machine Learning</span><span class="count"><span class="visually-hidden">: </span>3<span class="visually-hidden"> AMIs</span></span>' in body
    assert '<span>Statistics</span><span class="count"><span class="visually-hidden">: </span>1<span class="visually-hidden"> AMI</span></span>' in body
    assert '<span>arm64</span><span class="count"><span class="visually-hidden">: </span>1<span class="visually-hidden"> AMI</span></span>' in body
    assert '<span>eu-west-1</span><span class="count"><span class="visually-hidden">: </span>1<span class="visually-hidden"> AMI</span></span>' in body
    assert '<span>Python ML</span><span class="count"><span class="visually-hidden">: </span>3<span class="visually-hidden"> AMIs</span></span>' in body
    assert 'href="?category=Statistics"' in body
    # Following the link (a plain URL anyone can share) filters the results.
    filtered = text(login().get("/?category=Statistics"))
    assert "RStudio Server" in filtered and "PyTorch GPU" not in filtered
    assert 'aria-current="true"' in filtered and "Category: Statistics ✕" in filtered
    # Filters combine; the other facets' counts follow the current filters.
    both = text(login().get("/?template=python-ml&architecture=arm64"))
    assert "TensorFlow CPU" in both and "PyTorch GPU" not in both and "1 AMI<" in both


def test_verified_and_min_rating_filters(login, catalogue):
    body = text(login().get("/?verified=true"))
    assert "PyTorch GPU" in body and "TensorFlow CPU" not in body
    body = text(login().get("/?min_rating=4"))
    assert "PyTorch GPU" in body and "RStudio Server" in body and "TensorFlow CPU" not in body


def test_sort_orders(login, catalogue):
    body = text(login().get("/?ordering=-download_count"))
    assert body.index("TensorFlow CPU") < body.index("PyTorch GPU")
    body = text(login().get("/?ordering=name"))
    assert body.index("Old PyTorch") < body.index("PyTorch GPU") < body.index("RStudio Server")
    assert '<option value="name" selected>' in body


def test_pagination_keeps_filters(login, db):
    for i in range(25):
        AMIFactory(name=f"Bulk {i:02d}", category="Bulk")
    page1 = text(login().get("/?category=Bulk&ordering=name"))
    assert "Page 1 of 2" in page1 and "Bulk 00" in page1 and "Bulk 20" not in page1
    assert 'href="?category=Bulk&amp;ordering=name&amp;page=2"' in page1
    page2 = text(login().get("/?category=Bulk&ordering=name&page=2"))
    assert "Bulk 20" in page2 and "Bulk 00" not in page2


def test_bad_filter_values_give_400_with_a_message(login, catalogue):
    r = login().get("/?architecture=sparc&min_rating=abc")
    assert r.status_code == 400
    body = text(r)
    assert "Some filters in this address are not valid" in body and "architecture" in body


def test_browse_query_count_is_bounded(login, user, django_assert_max_num_queries):
    for i in range(20):
        ami = AMIFactory(name=f"AMI {i}", template=TemplateFactory())
        AMIRegionFactory(ami=ami, region="eu-west-1")
    client = login(user)
    client.get("/")
    # cold: + catalogue generation and the viewer's own entries; the page is its ids, then its rows
    with django_assert_max_num_queries(14):
        assert client.get("/?q=ami&ordering=-rating_avg").status_code == 200


@override_settings(REGISTRY_EMULATOR=True)
def test_emulator_banner(login, db):
    assert "AWS calls go to a local emulator" in text(login().get("/"))


def test_no_emulator_banner_by_default(login, db):
    assert "AWS calls go to a local emulator" not in text(login().get("/"))


def test_template_facet_and_chip_show_template_names(login, catalogue):
    body = text(login().get("/?template=python-ml"))
    facets = body[body.index('aria-label="Filters"'):body.index("</aside>")]
    assert ">Python ML<" in facets and ">python-ml<" not in facets
    assert "template=r-research" in facets  # the URL keeps the slug
    assert "Template: Python ML" in body
    # Screen readers hear the count and that a selected filter can be removed.
    assert "activate to remove this filter" in facets and '<span class="visually-hidden"> AMI' in facets
