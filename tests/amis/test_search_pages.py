"""How a page of search results is read (its ids, then its rows) and the typo look-up's cache.

Committed transactions (``transaction=True``): the catalogue generation, which keys the caches,
is only readable outside a writing transaction.
"""
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from amis import selectors
from amis.models import AMI
from amis.search_index import typo_expansions
from amis.selectors import ami_search
from tests.amis.helpers import make_ami
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_slice_is_the_ordered_page_in_three_queries(make_user):
    alice = make_user("alice")
    for i in range(30):
        make_ami(alice, name=f"Workstation {29 - i:02d}", description="pytorch" if i % 2 else "numpy")
    make_ami(alice, name="Workstation draft", status=AMI.Status.DRAFT)
    expected = [f"Workstation {i:02d}" for i in range(30)]
    pages = ami_search(user=None, params={"ordering": "name"}).queryset
    assert len(pages) == 30 and pages.count() == 30
    with CaptureQueriesContext(connection) as captured:
        second = pages[10:20]
    assert [a.name for a in second] == expected[10:20]
    assert len(captured) == 3  # the page's ids, its rows with template/creator/replacement, its regions
    assert [r.region for r in second[0].regions.all()]  # prefetched with the page
    assert pages[3].name == expected[3] and [a.name for a in pages][-1] == expected[-1]
    with pytest.raises(IndexError):
        pages[30]
    assert pages[40:50] == []


def test_ranked_search_pages_agree_with_one_ranked_query(make_user):
    alice = make_user("alice")
    for i in range(12):
        make_ami(alice, name=f"PyTorch {i}" if i % 3 == 0 else f"Lab image {i}",
                 description="pytorch " * (i % 4) + "cuda")
    result = ami_search(user=None, params={"q": "pytorch"})
    one_query = [a.name for a in result.queryset.ordered_queryset]
    assert len(one_query) == 10  # 4 names, 6 descriptions (i = 1, 2, 5, 7, 10, 11)
    assert set(one_query[:4]) == {"PyTorch 0", "PyTorch 3", "PyTorch 6", "PyTorch 9"}  # weight A first
    assert [a.name for a in result.queryset[0:5]] + [a.name for a in result.queryset[5:50]] == one_query


def test_typo_expansions_are_cached_per_generation(make_user):
    alice = make_user("alice")
    # A word no other test uses: the vocabulary is a plain table, which test flushes leave alone.
    make_ami(alice, name="Statistics desktop")
    assert typo_expansions(["quokaflux"]) == {}
    with CaptureQueriesContext(connection) as captured:
        assert typo_expansions(["quokaflux"]) == {}
    assert len(captured) == 1  # only the generation: the answer came from the cache
    make_ami(alice, name="Quokkaflux pipeline")  # a new word: a new search document, a new generation
    assert typo_expansions(["quokaflux"]) == {"quokaflux": ["quokkaflux"]}


def test_search_pages_are_cached_per_generation_and_per_caller_class(make_user):
    alice = make_user("alice")
    for i in range(3):
        make_ami(alice, name=f"Zebrafish imaging {i}")
    anonymous = client_for(None)
    path = "/api/v1/amis/?q=zebrafish"
    assert anonymous.get(path).json()["count"] == 3
    with CaptureQueriesContext(connection) as captured:
        body = anonymous.get(path).json()
    assert [a["name"] for a in body["results"]] == [a["name"] for a in anonymous.get(path).json()["results"]]
    assert not any("ts_rank" in q["sql"] for q in captured)  # the ranked page came from the cache
    # A new matching entry is a new generation: found at once.
    make_ami(alice, name="Zebrafish imaging 3")
    assert len(anonymous.get(path).json()["results"]) == 4
    # A caller who sees more than their class (their own private entry) is not served the class's pages.
    bob = make_user("bob")
    make_ami(bob, name="Zebrafish private notes", visibility=AMI.Visibility.PRIVATE)
    assert len(client_for(bob).get(path).json()["results"]) == 5
    assert len(anonymous.get(path).json()["results"]) == 4
    assert "Zebrafish private notes" not in anonymous.get(path).content.decode()


def test_filtered_browse_pages_are_cached_and_follow_the_catalogue(make_user):
    alice = make_user("alice")
    first = make_ami(alice, name="Astro one", category="Astronomy")
    make_ami(alice, name="Bio one", category="Biology")
    anonymous = client_for(None)
    path = "/api/v1/amis/?category=Astronomy&ordering=name"
    assert [a["name"] for a in anonymous.get(path).json()["results"]] == ["Astro one"]
    with CaptureQueriesContext(connection) as captured:
        anonymous.get(path)
    assert not any("ORDER BY" in q["sql"] for q in captured), [q["sql"] for q in captured]  # page ids from the cache
    make_ami(alice, name="Astro two", category="Astronomy")  # a new generation
    AMI.objects.filter(pk=first.pk).update(name="Astro zero")  # a change of a shown, ordered column
    assert [a["name"] for a in anonymous.get(path).json()["results"]] == ["Astro two", "Astro zero"]


def _ranked_page_queries(captured) -> list[str]:
    """The ranked queries other than the facet pass (``WITH ...``): a page's ids ordered by rank."""
    return [q["sql"] for q in captured if "ts_rank" in q["sql"] and not q["sql"].startswith("WITH")]


def _pytorch_images(owner, n):
    # Ranks tie (same words, same weights): the best score, the date and the id break the ties.
    for i in range(n):
        make_ami(owner, name=f"PyTorch {i}" if i % 3 == 0 else f"Lab image {i}",
                 description="pytorch " * (i % 4) + "cuda", download_count=(i * 7) % 5)


def test_a_new_search_ranks_its_first_pages_in_its_facet_pass(make_user, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_TOP_IDS", 6)
    _pytorch_images(make_user("alice"), 14)
    one_query = [a.pk for a in ami_search(user=None, params={"q": "pytorch"}).queryset.ordered_queryset]
    assert len(one_query) == 12
    cache.clear()

    with CaptureQueriesContext(connection) as captured:
        result = ami_search(user=None, params={"q": "pytorch"})
        first = [a.pk for a in result.queryset[0:4]]
        second = [a.pk for a in result.queryset[4:6]]
    assert [q["sql"][:4] for q in captured if "ts_rank" in q["sql"]] == ["WITH"]  # one ranking: the facet pass's
    assert first + second == one_query[:6]
    with CaptureQueriesContext(connection) as captured:
        beyond = [a.pk for a in result.queryset[4:12]]  # past the kept ids: the ranked page query
    assert len(_ranked_page_queries(captured)) == 1
    assert beyond == one_query[4:12]
    with CaptureQueriesContext(connection) as captured:
        assert [a.pk for a in ami_search(user=None, params={"q": "pytorch"}).queryset[0:6]] == one_query[:6]
    assert not _ranked_page_queries(captured)


def test_a_search_with_fewer_matches_than_kept_is_paged_from_them_alone(make_user):
    _pytorch_images(make_user("alice"), 14)
    anonymous = client_for(None)
    one_query = [a.name for a in ami_search(user=None, params={"q": "pytorch"}).queryset.ordered_queryset]
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        pages = [anonymous.get("/api/v1/amis/", {"q": "pytorch", "page_size": 5, "page": n}).json() for n in (1, 2, 3)]
    assert not _ranked_page_queries(captured)
    assert [a["name"] for page in pages for a in page["results"]] == one_query
    assert [page["count"] for page in pages] == [12, 12, 12]


def test_an_order_or_a_caller_of_their_own_is_not_served_the_kept_ids(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    _pytorch_images(alice, 8)
    make_ami(bob, name="PyTorch private", description="pytorch", visibility=AMI.Visibility.PRIVATE)
    anonymous = client_for(None)
    assert anonymous.get("/api/v1/amis/", {"q": "pytorch"}).json()["count"] == 7  # counted, ids kept
    by_name = anonymous.get("/api/v1/amis/", {"q": "pytorch", "ordering": "name"}).json()["results"]
    assert [a["name"] for a in by_name] == sorted((a["name"] for a in by_name), key=str.lower)
    mine = client_for(bob).get("/api/v1/amis/", {"q": "pytorch"}).json()
    expected = [a.name for a in ami_search(user=bob, params={"q": "pytorch"}).queryset.ordered_queryset]
    assert mine["count"] == 8 and [a["name"] for a in mine["results"]] == expected
    assert "PyTorch private" in expected
