"""``cws ami browse``, ``info``, ``rate``, ``reviews`` against the live registry: JSON checked
field by field, human output against golden snapshots (tests/cli/golden/)."""
import pytest
from rest_framework.authtoken.models import Token

from amis.models import AMIRegion
from amis.downloads import download_record
from ratings.services import rating_submit
from tests.cli.conftest import assert_golden
from tests.factories import AMIFactory, TemplateFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def catalogue(live, make_user, monkeypatch):
    """A small catalogue with fixed names and ratings (the golden snapshots depend on them)."""
    publisher = make_user("publisher")
    raters = [make_user(name) for name in ("ana", "ben", "chen")]
    template = TemplateFactory(slug="python-ml", name="Python ML")
    pytorch = AMIFactory(name="PyTorch GPU", template=template, creator=publisher, verified=True,
                         scan_status="passed", tags={"framework": "pytorch"}, size_gb=40,
                         description="CUDA 12 and PyTorch, ready on first boot.", version="2.4")
    AMIRegion.objects.create(ami=pytorch, region="us-west-2", image_id="ami-0aaaaaaaaaaaaaaa1",
                             state=AMIRegion.State.AVAILABLE, copied_from="us-east-1")
    graviton = AMIFactory(name="Graviton ML", template=template, creator=publisher, architecture="arm64",
                          source_region="us-west-2", category="Machine Learning")
    rstats = AMIFactory(name="R statistics", creator=publisher, category="Statistics")
    for user, stars, text in ((raters[0], 5, "Fast and complete."), (raters[1], 4, "Good; one package missing."),
                              (raters[2], 5, "")):
        rating_submit(ami=pytorch, user=user, rating=stars, review=text)
    rating_submit(ami=graviton, user=raters[0], rating=3, review="Fine.")
    for _ in range(3):
        download_record(ami=pytorch, region="us-east-1", client="cws")
    download_record(ami=rstats, region="us-east-1", client="cws")
    return {"pytorch": pytorch, "graviton": graviton, "rstats": rstats, "publisher": publisher,
            "raters": raters, "monkeypatch": monkeypatch}


def test_browse_json_filters_sorts_and_pages(catalogue, cli):
    everything = cli("ami", "browse", "--json").ok().json()
    assert everything["count"] == 3
    assert everything["results"][0]["name"] == "PyTorch GPU"  # best: rated and downloaded most
    assert set(everything["facets"]["architecture"]) == {"x86_64", "arm64"}

    def names(*args):
        return [a["name"] for a in cli("ami", "browse", "--json", *args).ok().json()["results"]]

    assert names("--arch", "arm64") == ["Graviton ML"]
    assert sorted(names("--region", "us-west-2")) == ["Graviton ML", "PyTorch GPU"]
    assert names("--verified") == ["PyTorch GPU"]
    assert names("--min-rating", "4") == ["PyTorch GPU"]
    assert names("--category", "statistics") == ["R statistics"]
    assert names("--template", "python-ml", "--sort", "name") == ["Graviton ML", "PyTorch GPU"]
    assert names("pyto") == ["PyTorch GPU"]
    assert names("--sort", "downloads", "--page-size", "1", "--page", "2") == ["R statistics"]

    beyond = cli("ami", "browse", "--page", "9")
    assert beyond.exit_code == 1 and "Invalid page" in beyond.stderr


def test_browse_human_output(catalogue, cli):
    result = cli("ami", "browse", "--facets").ok()
    assert_golden("browse", result.stdout)
    assert cli("ami", "browse", "nothing-like-this").ok().stdout.strip() == "No AMIs match. Try fewer filters."
    # An 80-column terminal: the optional columns go, every AMI id stays whole on its line.
    narrow = cli("ami", "browse", env={"COLUMNS": "80"}).ok().stdout
    header = narrow.splitlines()[0].split()
    assert header[:2] == ["NAME", "AMI"] and "DOWNLOADS" not in header and "TEMPLATE" not in header
    assert all(len(line) <= 80 for line in narrow.splitlines())
    for ami in (catalogue["pytorch"], catalogue["graviton"], catalogue["rstats"]):
        assert ami.ami_id in narrow


def test_info(catalogue, cli):
    pytorch = catalogue["pytorch"]
    # Any regional copy's id names the entry.
    data = cli("ami", "info", "ami-0aaaaaaaaaaaaaaa1", "--json").ok().json()
    assert data["ami"]["id"] == str(pytorch.pk) and data["ami"]["rating_histogram"] == {
        "1": 0, "2": 0, "3": 0, "4": 1, "5": 2}
    assert [r["rating"] for r in data["reviews"]] == [5, 4, 5]
    assert {r["region"] for r in data["ami"]["regions"]} == {"us-east-1", "us-west-2"}
    assert data["launch_commands"][0] == "cws launch python-ml my-workstation --region us-east-1"
    assert "shares" not in data["ami"]  # grants are for the owner and moderators only
    assert data["scan"] is None or data["scan"]["scan_status"] == "passed"
    assert_golden("info", cli("ami", "info", pytorch.ami_id).ok().stdout)

    missing = cli("ami", "info", "ami-0123456789abcdef0", "--json")
    assert missing.exit_code == 1
    assert missing.json()["error"] == {"message": "AMI not found: ami-0123456789abcdef0", "exit_code": 1,
                                       "detail": "AMI not found", "code": "not_found", "status_code": 404}
    private = AMIFactory(name="Secret", creator=catalogue["publisher"], visibility="private", status="draft")
    assert cli("ami", "info", private.ami_id).exit_code == 1  # invisible: the same 404, nothing leaks


def test_rate_and_reviews(catalogue, cli, tmp_path):
    graviton, monkeypatch = catalogue["graviton"], catalogue["monkeypatch"]
    anonymous = cli("ami", "rate", graviton.ami_id, "4")
    assert anonymous.exit_code == 1 and "Hint: run `cws login`" in anonymous.stderr

    monkeypatch.setenv("CWS_REGISTRY_TOKEN", Token.objects.create(user=catalogue["raters"][1]).key)
    first = cli("ami", "rate", graviton.ami_id, "4", "--review", "Quick on Graviton.", "--json").ok().json()
    assert (first["rating"], first["user"], first["review"]) == (4, "ben", "Quick on Graviton.")
    review_file = tmp_path / "review.md"
    review_file.write_text("Changed my mind: excellent.\n")
    again = cli("ami", "rate", graviton.ami_id, "5", "--review-file", str(review_file)).ok()
    assert again.stdout.strip() == f"Rated {graviton.ami_id} ★★★★★ as ben."
    graviton.refresh_from_db()
    assert graviton.rating_count == 2 and float(graviton.rating_avg) == 4.0  # replaced, not added

    listed = cli("ami", "reviews", graviton.ami_id, "--json").ok().json()
    assert [(r["user"], r["rating"]) for r in listed["results"]] == [("ben", 5), ("ana", 3)]
    assert_golden("reviews", cli("ami", "reviews", graviton.ami_id, "--sort", "lowest").ok().stdout)

    six = cli("ami", "rate", graviton.ami_id, "6")
    assert six.exit_code == 2 and "6 is not in the range 1<=x<=5" in six.stderr
    unknown = cli("ami", "rate", "ami-0123456789abcdef0", "3")
    assert unknown.exit_code == 1 and "AMI not found" in unknown.stderr
    both = cli("ami", "rate", graviton.ami_id, "3", "--review", "a", "--review-file", str(review_file))
    assert both.exit_code == 2 and "give --review or --review-file, not both" in both.stderr

    monkeypatch.setenv("CWS_REGISTRY_TOKEN", Token.objects.create(user=catalogue["publisher"]).key)
    own = cli("ami", "rate", graviton.ami_id, "5")
    assert own.exit_code == 1 and "own" in own.stderr.lower()
