"""``cws ami diff`` (and, below, ``cws ami costs``' instance advice) against the live registry."""
import pytest

from amis.software import ami_software_declare
from tests.factories import AMIFactory, TemplateFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_versions(live, make_user):
    publisher = make_user("publisher")
    template = TemplateFactory(slug="genomics", name="Genomics", document={
        "name": "Genomics", "packages": {"conda": ["python=3.10", "samtools=1.17"], "system": ["nvidia-driver-535"]}})
    old = AMIFactory(name="Genomics", version="1.0", template=template, creator=publisher, security_score=7)
    new = AMIFactory(name="Genomics", version="1.1", template=template, creator=publisher, security_score=8.5)
    old.replacement = new
    old.save(update_fields=["replacement"])
    ami_software_declare(ami=new, user=publisher, document={
        "packages": [{"name": "samtools", "version": "1.19", "kind": "conda"},
                     {"name": "bcftools", "version": "1.19", "kind": "conda"}],
        "kernel": "6.8.0-1009-aws"})
    return old, new


def test_diff_json_is_the_apis(two_versions, cli):
    old, new = two_versions
    body = cli("ami", "diff", old.ami_id, new.ami_id, "--json").ok().json()
    assert body["consecutive"] is True
    assert body["added"] == [{"name": "bcftools", "version": "1.19", "kind": "conda"}]
    assert body["changed"] == [{"name": "samtools", "kind": "conda", "from": "1.17", "to": "1.19"}]
    assert body["kernel"] == {"a": "", "b": "6.8.0-1009-aws", "changed": True}
    assert body["scan_score"]["delta"] == 1.5


def test_diff_human_output(two_versions, cli):
    old, new = two_versions
    out = cli("ami", "diff", old.ami_id, new.ami_id).ok().stdout
    assert "consecutive versions" in out
    assert "bcftools" in out and "samtools" in out and "1.17" in out
    assert "kernel" in out and "6.8.0-1009-aws" in out and "7.0 → 8.5 (+1.5)" in out
    assert "1 added, 0 removed, 1 changed, 2 unchanged" in out


def test_diff_of_an_unknown_image_exits_nonzero(two_versions, cli):
    old, _new = two_versions
    run = cli("ami", "diff", old.ami_id, "ami-ffffffffffffffff0")
    assert run.exit_code != 0 and "not found" in run.stderr.lower()


def test_costs_shows_the_instance_advice(live, cli):
    TemplateFactory(slug="rstats", name="R stats", document={"name": "R stats",
                                                               "instance_defaults": {"type": "r6i.large"}})
    body = cli("ami", "costs", "rstats", "-r", "us-east-1", "--json").ok().json()
    assert body["instance_advice"]["recommended"]["instance_type"] == "r7g.large"
    out = cli("ami", "costs", "rstats", "-r", "us-east-1").ok().stdout
    assert "Instance advice" in out and "r7g.large" in out and "r6i.large" in out and "← recommended" in out
    assert "arm64 saves 15 % against x86_64" in out
