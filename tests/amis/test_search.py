"""Browse & search: full-text ranking and prefixes, filters, ordering, facets, query count."""
from datetime import timedelta

import pytest
from django.utils import timezone

from amis.filters import search_vector
from amis.models import AMI, AMIRegion, Download
from templates.models import Template
from tests.amis.helpers import client_for, make_ami
from tests.factories import AMIRegionFactory, TemplateFactory

pytestmark = pytest.mark.django_db
LIST = "/api/v1/amis/"


def names(response):
    assert response.status_code == 200, response.json()
    return [a["name"] for a in response.json()["results"]]


@pytest.fixture
def catalogue(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    ml = TemplateFactory(slug="python-ml", name="Python Machine Learning")
    bio = TemplateFactory(slug="bioinformatics", name="Bioinformatics Suite", category="Bioinformatics")
    make_ami(alice, name="PyTorch GPU workstation", description="CUDA 12 and PyTorch 2.4", template=ml,
             category="Machine Learning", tags={"framework": "pytorch"})
    make_ami(alice, name="TensorFlow notebook", description="Jupyter with TensorFlow; PyTorch optional",
             template=ml, category="Machine Learning", architecture="arm64")
    genomics = make_ami(bob, name="Genomics pipeline", description="GATK, samtools", template=bio,
                        category="Bioinformatics")
    AMIRegionFactory(ami=genomics, region="eu-west-1")
    AMIRegionFactory(ami=genomics, region="ap-south-1", state=AMIRegion.State.PENDING)
    make_ami(bob, name="R Studio", description="Statistics desktop", category="Statistics", verified=True)
    make_ami(alice, name="Private PyTorch draft", status=AMI.Status.DRAFT, visibility=AMI.Visibility.PRIVATE)
    return alice, bob


def test_prefix_finds_pytorch(catalogue):
    assert names(client_for(None).get(LIST, {"q": "pyto"})) == ["PyTorch GPU workstation", "TensorFlow notebook"]
    assert names(client_for(None).get(LIST, {"q": "PYTORCH gp"})) == ["PyTorch GPU workstation"]


def test_search_covers_description_tags_template_and_creator(catalogue):
    anon = client_for(None)
    assert names(anon.get(LIST, {"q": "samtools"})) == ["Genomics pipeline"]
    assert "PyTorch GPU workstation" in names(anon.get(LIST, {"q": "framework"}))  # a tag key
    assert set(names(anon.get(LIST, {"q": "bioinformatics suite"}))) == {"Genomics pipeline"}  # template name
    assert set(names(anon.get(LIST, {"q": "python-ml"}))) == {"PyTorch GPU workstation", "TensorFlow notebook"}
    assert set(names(anon.get(LIST, {"q": "bob"}))) == {"Genomics pipeline", "R Studio"}  # creator
    assert names(anon.get(LIST, {"q": "notebooks"})) == ["TensorFlow notebook"]  # stemming


def test_search_never_leaks_invisible_entries(catalogue):
    alice, _ = catalogue
    assert "Private PyTorch draft" not in names(client_for(None).get(LIST, {"q": "pytorch"}))
    assert "Private PyTorch draft" in names(client_for(alice).get(LIST, {"q": "pytorch"}))


def test_rank_orders_name_matches_first(catalogue):
    # "pytorch" is in the name (weight A) of the first and only in the description (C) of the
    # second; the second is made "better" by the default order, so only the rank can win here.
    AMI.objects.filter(name="TensorFlow notebook").update(rating_avg=5, rating_count=40, download_count=900)
    assert names(client_for(None).get(LIST, {"q": "pytorch"})) == ["PyTorch GPU workstation", "TensorFlow notebook"]


def test_multiple_words_must_all_match(catalogue):
    assert names(client_for(None).get(LIST, {"q": "pytorch cuda"})) == ["PyTorch GPU workstation"]
    assert names(client_for(None).get(LIST, {"q": "pytorch genomics"})) == []


@pytest.mark.parametrize("q", ["'", "\"", "!", "&|!():*", "pyto:* | !x", "a & b", "\\", "%", "_", "()", "<->",
                               "日本語", "ünïcödé", "x" * 999, "   ", "the", "a:b:c", "1.2.3", "-", "null",
                               "'); drop table ami_registry; --"])
def test_any_query_string_is_safe(catalogue, q):
    response = client_for(None).get(LIST, {"q": q})
    assert response.status_code == 200, response.json()
    assert AMI.objects.count() == 5


def test_oversized_or_nul_query_is_400(catalogue):
    assert client_for(None).get(LIST, {"q": "x" * 1001}).json()["errors"].keys() == {"q"}
    response = client_for(None).get(LIST, {"q": "py\x00torch"})
    assert response.status_code == 400 and "q" in response.json()["errors"]


def test_filters(catalogue):
    anon = client_for(None)
    assert set(names(anon.get(LIST, {"category": "machine learning"}))) == {"PyTorch GPU workstation",
                                                                            "TensorFlow notebook"}
    assert names(anon.get(LIST, {"architecture": "arm64"})) == ["TensorFlow notebook"]
    assert names(anon.get(LIST, {"region": "eu-west-1"})) == ["Genomics pipeline"]
    assert names(anon.get(LIST, {"region": "ap-south-1"})) == []  # only a pending copy there
    assert names(anon.get(LIST, {"template": "bioinformatics"})) == ["Genomics pipeline"]
    assert set(names(anon.get(LIST, {"creator": "bob"}))) == {"Genomics pipeline", "R Studio"}
    assert names(anon.get(LIST, {"verified": "true"})) == ["R Studio"]
    assert len(names(anon.get(LIST, {"verified": "false"}))) == 3
    assert names(anon.get(LIST, {"status": "draft"})) == []  # status narrows what is visible, never widens
    assert names(client_for(catalogue[0]).get(LIST, {"status": "draft"})) == ["Private PyTorch draft"]


def test_min_rating(catalogue):
    AMI.objects.filter(name="R Studio").update(rating_avg=4.5, rating_count=2)
    AMI.objects.filter(name="Genomics pipeline").update(rating_avg=3.9, rating_count=7)
    assert names(client_for(None).get(LIST, {"min_rating": "4"})) == ["R Studio"]
    assert set(names(client_for(None).get(LIST, {"min_rating": "3.9"}))) == {"R Studio", "Genomics pipeline"}


@pytest.mark.parametrize("param, value", [("architecture", "sparc"), ("region", "mars-north-1"),
                                          ("verified", "maybe"), ("min_rating", "six"), ("min_rating", "7"),
                                          ("status", "published"), ("ordering", "-id"), ("ordering", "password"),
                                          ("category", "x" * 101), ("creator", "c\x00")])
def test_bad_filter_values_are_400_naming_the_parameter(catalogue, param, value):
    response = client_for(None).get(LIST, {param: value})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_parameters" and param in body["errors"]


def test_orderings(catalogue):
    AMI.objects.filter(name="R Studio").update(rating_avg=4.9, rating_count=3, download_count=1)
    AMI.objects.filter(name="Genomics pipeline").update(rating_avg=4.0, rating_count=9, download_count=500)
    anon = client_for(None)
    assert names(anon.get(LIST, {"ordering": "-rating_avg"}))[:2] == ["R Studio", "Genomics pipeline"]
    assert names(anon.get(LIST, {"ordering": "-download_count"}))[:2] == ["Genomics pipeline", "R Studio"]
    assert names(anon.get(LIST, {"ordering": "name"})) == sorted(names(anon.get(LIST)), key=str.lower)
    AMI.objects.filter(name="TensorFlow notebook").update(created_at=timezone.now() + timedelta(seconds=5))
    assert names(anon.get(LIST, {"ordering": "-created_at"}))[0] == "TensorFlow notebook"
    # An explicit ordering wins over relevance.
    assert names(anon.get(LIST, {"q": "bob", "ordering": "name"})) == ["Genomics pipeline", "R Studio"]


def test_best_order_uses_a_bayesian_average(make_user):
    owner = make_user("owner")
    old = timezone.now() - timedelta(days=400)
    one_five = make_ami(owner, name="one five-star review", rating_avg=5, rating_count=1)
    fifty = make_ami(owner, name="fifty 4.8s", rating_avg="4.80", rating_count=50)
    unrated = make_ami(owner, name="unrated")
    AMI.objects.filter(pk__in=[one_five.pk, fifty.pk, unrated.pk]).update(created_at=old)
    assert names(client_for(None).get(LIST)) == ["fifty 4.8s", "one five-star review", "unrated"]


def test_best_order_demotes_deprecated_and_rewards_downloads_and_freshness(make_user):
    owner = make_user("owner")
    old = timezone.now() - timedelta(days=400)
    deprecated = make_ami(owner, name="deprecated but loved", status=AMI.Status.DEPRECATED, rating_avg=5,
                          rating_count=100, download_count=10_000)
    # Popular and still in use: a recent image, launched lately (else freshness would sink it too).
    popular = make_ami(owner, name="popular", download_count=1000,
                       image_creation_date=timezone.now().strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    Download.objects.create(ami=popular, region="us-east-1")
    quiet = make_ami(owner, name="quiet")
    fresh = make_ami(owner, name="fresh")
    AMI.objects.filter(pk__in=[deprecated.pk, popular.pk, quiet.pk]).update(created_at=old)
    assert names(client_for(None).get(LIST)) == ["popular", "fresh", "quiet", "deprecated but loved"]


def test_facets_are_consistent_with_count(catalogue):
    body = client_for(None).get(LIST).json()
    assert body["count"] == 4
    facets = body["facets"]
    assert facets["category"] == {"Bioinformatics": 1, "Machine Learning": 2, "Statistics": 1}
    assert facets["architecture"] == {"arm64": 1, "x86_64": 3}
    assert sum(facets["architecture"].values()) == body["count"]
    assert facets["region"] == {"us-east-1": 4, "eu-west-1": 1}  # available copies only
    assert facets["template"] == {"bioinformatics": 1, "python-ml": 2}


def test_facets_follow_filters_but_ignore_their_own(catalogue):
    body = client_for(None).get(LIST, {"category": "Machine Learning", "q": "jupyter"}).json()
    assert body["count"] == 1
    assert body["facets"]["architecture"] == {"arm64": 1}  # narrowed by category + q
    # The category facet ignores category=, but still applies q.
    assert body["facets"]["category"] == {"Machine Learning": 1}
    body = client_for(None).get(LIST, {"architecture": "x86_64"}).json()
    assert body["count"] == 3 and sum(body["facets"]["category"].values()) == 3
    assert body["facets"]["architecture"] == {"arm64": 1, "x86_64": 3}


@pytest.mark.parametrize("page_size", [1, 10, 100])
@pytest.mark.django_db(transaction=True)  # committed rows: a transaction's own uncommitted writes are never cached
def test_query_count_is_constant_per_page(make_user, django_assert_max_num_queries, page_size):
    viewer = make_user("viewer")
    template = TemplateFactory(slug="t1")
    for i in range(30):
        ami = make_ami(make_user(f"creator{i}"), name=f"AMI {i}", template=template, category=f"c{i % 3}")
        AMIRegionFactory(ami=ami, region="eu-west-1")
    client = client_for(viewer)
    # Cold cache: policy + moderator check + catalogue generation (read by the typo look-up's
    # cache and by the facets') + 4 facets + count + the viewer's own entries + page ids + page
    # rows + regions prefetch — at most 12.
    with django_assert_max_num_queries(12):
        response = client.get(LIST, {"page_size": page_size, "q": "ami"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 30 and len(body["results"]) == min(page_size, 30)
    assert all(len(a["regions"]) == 2 and a["template"] == "t1" for a in body["results"])
    # Warm cache (same generation): facets and count are not recomputed.
    with django_assert_max_num_queries(6):
        again = client.get(LIST, {"page_size": page_size, "q": "ami"})
    assert again.json()["count"] == 30 and again.json()["facets"] == body["facets"]


def test_pagination_envelope(catalogue):
    body = client_for(None).get(LIST, {"page_size": 2}).json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["next"] and body["previous"] is None
    assert client_for(None).get(LIST, {"page": 99}).status_code == 404


# --- The stored search index (PostgreSQL) ----------------------------------------------------------

def test_typo_tolerance_finds_misspelt_words(catalogue, make_user):
    make_ami(make_user("carol"), name="Python data science", description="pandas and numpy")
    anon = client_for(None)
    # "python" is in the name of one (weight A) and in the template name of two more (B).
    found = names(anon.get(LIST, {"q": "pyhton"}))
    assert found[0] == "Python data science"
    assert set(found[1:]) == {"PyTorch GPU workstation", "TensorFlow notebook"}
    assert names(anon.get(LIST, {"q": "genomcs"})) == ["Genomics pipeline"]
    assert names(anon.get(LIST, {"q": "genomcs gatk"})) == ["Genomics pipeline"]  # with an exact term
    # A misspelling never reveals what the viewer may not see, and nonsense still finds nothing.
    assert "Private PyTorch draft" not in names(anon.get(LIST, {"q": "pytorhc"}))
    assert names(anon.get(LIST, {"q": "qqqzzzxx"})) == []


def test_known_prefixes_keep_todays_semantics(catalogue):
    # "tensor" is a prefix of a known word: matched as a prefix only, no look-alike widening.
    assert names(client_for(None).get(LIST, {"q": "tensor"})) == ["TensorFlow notebook"]
    assert names(client_for(None).get(LIST, {"q": "pytorch genomics"})) == []


def _stored_equals_on_the_fly():
    rows = AMI.objects.annotate(fly=search_vector()).values_list("search_document", "fly")
    return all(stored == fly for stored, fly in rows)


def test_stored_document_equals_the_weighted_vector(catalogue):
    assert AMI.objects.exclude(search_document=None).count() == AMI.objects.count()
    assert _stored_equals_on_the_fly()


def test_document_follows_a_template_rename(catalogue):
    template = Template.objects.get(slug="bioinformatics")
    template.name = "Sequencing Workbench"
    template.save()
    anon = client_for(None)
    assert names(anon.get(LIST, {"q": "workbench"})) == ["Genomics pipeline"]
    assert names(anon.get(LIST, {"q": "bioinformatics suite"})) == []
    Template.objects.filter(pk=template.pk).update(slug="seq-tools")  # bulk update: no save()
    assert names(anon.get(LIST, {"q": "tools"})) == ["Genomics pipeline"]
    assert _stored_equals_on_the_fly()


def test_document_follows_a_user_rename(catalogue):
    _, bob = catalogue
    bob.username = "roberta"
    bob.save()
    anon = client_for(None)
    assert set(names(anon.get(LIST, {"q": "roberta"}))) == {"Genomics pipeline", "R Studio"}
    assert names(anon.get(LIST, {"q": "bob"})) == []
    assert _stored_equals_on_the_fly()


def test_document_follows_metadata_edits_and_facets_follow_changes(catalogue):
    anon = client_for(None)
    before = anon.get(LIST).json()["facets"]
    AMI.objects.filter(name="R Studio").update(name="Shiny server", category="Dashboards")
    assert names(anon.get(LIST, {"q": "shiny"})) == ["Shiny server"]
    after = anon.get(LIST).json()["facets"]
    assert "Statistics" in before["category"] and "Statistics" not in after["category"]
    assert after["category"]["Dashboards"] == 1
    genomics = AMI.objects.get(name="Genomics pipeline")
    AMIRegion.objects.filter(ami=genomics, region="ap-south-1").update(state=AMIRegion.State.AVAILABLE)
    assert anon.get(LIST).json()["facets"]["region"]["ap-south-1"] == 1
    assert names(anon.get(LIST, {"region": "ap-south-1"})) == ["Genomics pipeline"]
