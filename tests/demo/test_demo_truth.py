"""The demo's data tells the truth, against the emulator `make run` starts (scripts/demo_emulator.py
as a subprocess) seeded by the real commands: every direct mapping of a shipped template names an
image that exists, the README's resolve and create examples work as printed, /submit/ offers the
demo instances, and the template page's availability table says what the resolver says."""
import io
import json
import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command

from amis.models import Operation
from registry import aws as aws_gateway
from registry.demo import DEMO_INSTANCES
from resolver.views import MATRIX_REGIONS, TIER_LABELS
from templates.demo import EXAMPLES
from templates.models import Template
from tests.conftest import client_for
from tests.demo.emulator import ROOT, LauncherProcess

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    launcher = LauncherProcess(tmp_path_factory.mktemp("emulator"))
    yield launcher
    launcher.stop()


@pytest.fixture
def demo(emulator, settings, monkeypatch):
    """The demo as `make run` seeds it: seed_emulator, then seed_demo. Returns seed_emulator's output."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.url)
    aws_gateway.clear_client_cache()
    settings.DEBUG = True
    settings.REGISTRY_EMULATOR = True
    out = io.StringIO()
    call_command("seed_emulator", stdout=out)
    call_command("seed_demo", stdout=io.StringIO())
    yield out.getvalue()
    aws_gateway.clear_client_cache()


def demo_instance_id(seed_output: str, name: str = "cws-demo-instance") -> str:
    return re.search(rf"^emulator: running instance (i-[0-9a-f]+) \({name},", seed_output, re.MULTILINE).group(1)


def researcher_client():
    return client_for(get_user_model().objects.get(username="researcher"))


def test_every_direct_mapping_of_a_shipped_template_names_an_image_in_the_emulator(demo):
    templates = list(Template.objects.all())
    assert len(templates) == len(list(EXAMPLES.glob("*.yml")))
    checked = 0
    for template in templates:  # as loaded: inherited mappings included
        for region, image_id in ((template.ami_config or {}).get("ami_mappings") or {}).items():
            image = aws_gateway.describe_image(region, image_id)
            assert image is not None and image["State"] == "available", (template.slug, region, image_id)
            checked += 1
    assert checked >= 13


def test_readme_resolve_example_answers_with_an_ami(demo, api_client):
    template, region = re.search(r"api/v1/ami/resolve/([\w.-]+)\?region=([a-z0-9-]+)", README).groups()
    resp = api_client.get(f"/api/v1/ami/resolve/{template}?region={region}")
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    assert body["resolution_method"] not in ("fallback_script", "failed"), body
    assert aws_gateway.describe_image(body["source_region"], body["ami_id"])["State"] == "available"


def test_readme_create_example_works_with_the_instance_the_banner_prints(demo, django_capture_on_commit_callbacks):
    payload = re.search(r"api/v1/ami/create .*?\n\s+-d '(.*)'\n", README).group(1)
    instance_id = demo_instance_id(demo)
    body = json.loads(payload.replace("'$INSTANCE'", instance_id))
    assert body["instance_id"] == instance_id
    client = researcher_client()
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post("/api/v1/ami/create", body, format="json")
    assert resp.status_code == 202, resp.json()
    operation = Operation.objects.get(pk=resp.json()["creation_id"])
    assert operation.state == "succeeded"  # eager here: no broker in the test settings
    status = client.get(f"/api/v1/ami/status/{operation.pk}").json()
    assert status["status"] == "completed" and set(status["region_results"]) == {"us-east-1", "us-west-2"}


class _Forms(HTMLParser):
    """The hidden inputs of each <form> in the demo-instances section."""

    def __init__(self):
        super().__init__()
        self.forms, self._in = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and attrs.get("id") == "demo-instances":
            self._in = True
        elif self._in and tag == "form":
            self.forms.append({})
        elif self._in and tag == "input" and attrs.get("type") == "hidden" and self.forms:
            self.forms[-1][attrs["name"]] = attrs["value"]

    def handle_endtag(self, tag):
        if tag == "section":
            self._in = False


def test_submit_offers_the_demo_instances(demo, settings, client):
    from registry.settings import demo as demo_settings

    settings.TEMPLATES = demo_settings.TEMPLATES
    assert client.login(username="researcher", password="researcher-demo-password")
    page = client.get("/submit/")
    parser = _Forms()
    parser.feed(page.content.decode())
    offered = {f["instance_id"]: f for f in parser.forms}
    assert set(offered) == {demo_instance_id(demo, name) for name, *_ in DEMO_INSTANCES}
    # One click takes the instance to the next step: EC2 knows it and it is running.
    chosen = offered[demo_instance_id(demo)]
    assert chosen["mode"] == "create" and chosen["region"] == "us-east-1"
    resp = client.post("/submit/", chosen)
    assert resp.status_code == 302 and resp["Location"].endswith("/submit/details/")


class _MatrixRows(HTMLParser):
    """(region, tier label, AMI id or "") of each row of the template page's availability table."""

    def __init__(self):
        super().__init__()
        self.rows, self._table, self._cells, self._text = [], False, None, ""

    def handle_starttag(self, tag, attrs):
        if tag == "table" and "matrix" in (dict(attrs).get("class") or ""):
            self._table = True
        elif self._table and tag == "tr":
            self._cells = []
        elif self._table and tag == "td":
            self._text = ""

    def handle_data(self, data):
        self._text += data

    def handle_endtag(self, tag):
        if self._table and tag == "td" and self._cells is not None:
            self._cells.append(self._text.strip())
        elif self._table and tag == "tr" and self._cells:
            region, label, ami = self._cells[:3]
            found = re.match(r"ami-[0-9a-f]+", ami)
            self.rows.append((region, label, found.group(0) if found else ""))
            self._cells = None
        elif tag == "table":
            self._table = False


def test_template_availability_table_says_what_the_resolver_says(demo, client, api_client):
    compared = 0
    for template in Template.objects.order_by("slug"):
        page = client.get(f"/templates/{template.slug}/")
        assert page.status_code == 200
        parser = _MatrixRows()
        parser.feed(page.content.decode())
        assert [row[0] for row in parser.rows] == list(MATRIX_REGIONS)
        cache.clear()  # the resolver answers again from AWS, not from what the page cached
        for region, label, ami_id in parser.rows:
            resp = api_client.get(f"/api/v1/ami/resolve/{template.slug}?region={region}")
            if resp.status_code == 422:
                answer = ("failed", "")
            else:
                assert resp.status_code == 200, resp.json()
                answer = (resp.json()["resolution_method"], resp.json()["ami_id"])
            assert (label, ami_id) == (TIER_LABELS[answer[0]], answer[1]), (template.slug, region)
            compared += 1
    assert compared == len(MATRIX_REGIONS) * Template.objects.count()


def test_a_fresh_emulator_gives_the_demo_the_same_ids_and_users_new_ones(tmp_path, monkeypatch, settings):
    """Demo rows in a kept database stay true when make run starts a new emulator; an image a user
    creates next never gets the id of one created in an earlier run."""
    settings.REGISTRY_EMULATOR = True
    seen = []
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
        launcher = LauncherProcess(tmp_path / run)
        try:
            monkeypatch.setenv("AWS_ENDPOINT_URL", launcher.url)
            aws_gateway.clear_client_cache()
            out = io.StringIO()
            call_command("seed_emulator", stdout=out)
            instance_id = demo_instance_id(out.getvalue())
            made = aws_gateway.call("us-east-1", "ec2", "create_image", InstanceId=instance_id,
                                    Name=f"user-image-{run}")["ImageId"]
            seen.append((instance_id, made))
        finally:
            launcher.stop()
            aws_gateway.clear_client_cache()
    (first_instance, first_made), (second_instance, second_made) = seen
    assert first_instance == second_instance
    assert first_made != second_made
