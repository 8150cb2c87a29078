"""template_load_path and ``manage.py load_templates``: examples, the compatibility corpus, broken files."""
import shutil
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from templates.demo import seed
from templates.models import Template
from templates.services import template_load_path
from templates.validation import validate_yaml

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "templates" / "examples"
COMPAT = Path(__file__).resolve().parent / "compat"


def test_every_example_loads_and_reloading_is_idempotent():
    report = template_load_path(paths=[EXAMPLES])
    assert report.ok, report.errors
    files = sorted(EXAMPLES.glob("*.yml"))
    assert len(files) >= 7 and len(report.created) == len(files)
    again = template_load_path(paths=[EXAMPLES])
    assert again.ok and not again.created and not again.updated
    assert len(again.unchanged) == len(files)
    assert Template.objects.count() == len(files)


def test_examples_cover_the_research_domains():
    template_load_path(paths=[EXAMPLES])
    by_slug = {t.slug: t for t in Template.objects.all()}
    assert by_slug["python-ml-graviton"].ami_config["preferred_architecture"] == "arm64"
    assert by_slug["r-rstudio"].document["services"][-1]["port"] == 8787
    assert by_slug["bioinformatics-conda"].package_manager == "conda"
    assert by_slug["gpu-deep-learning"].document["instance_defaults"]["type"].startswith("g5.")
    assert by_slug["genomics-pipeline-ami"].strategy == "ami_required"
    spark = by_slug["python-ml-spark"]
    assert spark.inherits == ["python-ml-graviton"]
    assert "jupyterlab" in spark.packages["conda"] and "pyspark==3.5.1" in spark.packages["pip"]
    assert spark.document["instance_defaults"]["ports"] == [22, 8888, 4040]
    assert set(spark.ami_config["ami_mappings"]) == {"us-east-1", "us-west-2", "eu-west-1"}
    documented = by_slug["python-ml-ami"]
    assert documented.name == "Python ML (AMI Optimized)" and documented.document["connection_type"] == "web"


def test_demo_seed_is_idempotent():
    out = StringIO()
    seed(stdout=out)
    seed(stdout=out)
    assert "0 created, 0 updated" in out.getvalue().splitlines()[-1]
    assert Template.objects.filter(slug="python-ml-ami").exists()


@pytest.mark.parametrize("path", sorted(COMPAT.glob("*.yml")), ids=lambda p: p.name)
def test_every_cloudworkstation_template_validates(path):
    result = validate_yaml(path.read_bytes())
    assert result.valid, result.errors


def test_the_compatibility_corpus_loads_together():
    assert len(list(COMPAT.glob("*.yml"))) == 22
    report = template_load_path(paths=[COMPAT])
    assert report.ok, report.errors
    assert len(report.created) == 22
    legacy = Template.objects.get(name="Deep Learning GPU")
    assert legacy.ami_config["amis"]["us-east-1"]["x86_64"] == "ami-0c02fb55956c7d316"
    assert legacy.architectures == ["x86_64", "arm64"]


def _write(folder: Path, name: str, doc) -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_a_folder_with_one_broken_file_loads_the_others_and_reports_all_errors(tmp_path):
    _write(tmp_path, "good.yml", {"name": "Good", "description": "d", "base": "ubuntu-22.04"})
    _write(tmp_path, "child.yaml", {"name": "Child", "description": "d", "inherits": ["good"]})
    _write(tmp_path, "notes.txt", "not a template")
    broken = _write(tmp_path, "broken.yml", {"name": "Broken", "base": "dos-6", "services": [{"port": 0}],
                                             "ami_config": {"strategy": "X"}})
    report = template_load_path(paths=[tmp_path])
    assert sorted(slug for _, slug in report.created) == ["child", "good"]
    assert report.errors == {str(broken): {
        "base": [report.errors[str(broken)]["base"][0]],
        "services.0.name": ["name is required"],
        "services.0.port": ["port 0 out of range, must be between 1 and 65535"],
        "ami_config.strategy": ["invalid AMI strategy 'X', must be one of: ami_preferred, ami_required, "
                                "ami_fallback"],
        "description": ["description is required"],
    }}
    assert Template.objects.get(slug="child").document["base"] == "ubuntu-22.04"


def test_children_load_after_their_parents_whatever_the_file_names(tmp_path):
    _write(tmp_path, "a-child.yml", {"name": "A Child", "description": "d", "inherits": ["Z Parent"],
                                     "packages": {"pip": ["child"]}})
    _write(tmp_path, "z-parent.yml", {"name": "Z Parent", "description": "d", "base": "rocky-9",
                                      "package_manager": "dnf", "packages": {"pip": ["parent"]}})
    report = template_load_path(paths=[tmp_path])
    assert report.ok, report.errors
    assert [slug for _, slug in report.created] == ["z-parent", "a-child"]
    assert Template.objects.get(slug="a-child").packages["pip"] == ["parent", "child"]


def test_a_cycle_among_files_and_a_child_of_a_broken_parent(tmp_path):
    a = _write(tmp_path, "a.yml", {"name": "A", "description": "d", "base": "ubuntu-22.04", "inherits": ["b"]})
    b = _write(tmp_path, "b.yml", {"name": "B", "description": "d", "base": "ubuntu-22.04", "inherits": ["a"]})
    bad = _write(tmp_path, "c.yml", {"name": "C", "description": "d", "base": "nope"})
    kid = _write(tmp_path, "d.yml", {"name": "D", "description": "d", "inherits": ["c"]})
    report = template_load_path(paths=[tmp_path])
    assert report.errors[str(a)] == {"inherits": ["inheritance cycle among the files being loaded: a, b"]}
    assert report.errors[str(b)] == {"inherits": ["inheritance cycle among the files being loaded: a, b"]}
    assert "base" in report.errors[str(bad)]
    assert report.errors[str(kid)] == {"inherits": ["parent template 'c' is invalid (see its file)"]}
    assert not Template.objects.exists()


def test_changed_file_is_updated(tmp_path):
    path = _write(tmp_path, "t.yml", {"name": "T", "description": "one", "base": "ubuntu-22.04"})
    template_load_path(paths=[path])
    _write(tmp_path, "t.yml", {"name": "T", "description": "two", "base": "ubuntu-22.04"})
    report = template_load_path(paths=[path])
    assert report.updated == [(str(path), "t")]
    assert Template.objects.get(slug="t").description == "two"


def test_two_files_defining_one_template(tmp_path):
    _write(tmp_path, "one.yml", {"name": "Same", "description": "d", "base": "ubuntu-22.04"})
    two = _write(tmp_path, "two.yml", {"name": "Same", "description": "e", "base": "ubuntu-22.04"})
    report = template_load_path(paths=[tmp_path])
    assert report.errors == {str(two): {"slug": [f"'same' is also defined by {tmp_path / 'one.yml'} in the same load"]}}
    assert Template.objects.get().description == "d"


def test_command_reports_and_exits_non_zero_listing_all_errors(tmp_path):
    shutil.copy(EXAMPLES / "research-base.yml", tmp_path / "research-base.yml")
    (tmp_path / "bad.yml").write_bytes(b"name: Bad\nbase: ubuntu-22.04\nservices: [{name: x, port: 99999}]\n")
    (tmp_path / "latin1.yml").write_bytes(b"name: caf\xe9\n")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("load_templates", str(tmp_path), stdout=out, stderr=err)
    assert str(exc.value) == "1 created, 0 updated, 0 unchanged, 2 invalid"
    assert "created    research-base" in out.getvalue()
    errors = err.getvalue()
    assert "description: description is required" in errors
    assert "services.0.port: port 99999 out of range, must be between 1 and 65535" in errors
    assert "yaml: document is not valid UTF-8 (byte 9)" in errors
    assert Template.objects.filter(slug="research-base").exists()


def test_command_success_and_missing_path(tmp_path):
    out = StringIO()
    call_command("load_templates", str(EXAMPLES / "research-base.yml"), stdout=out)
    assert out.getvalue().strip().endswith("1 created, 0 updated, 0 unchanged, 0 invalid")
    call_command("load_templates", str(EXAMPLES / "research-base.yml"), stdout=out)
    assert "unchanged  research-base" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("load_templates", str(tmp_path / "nope.yml"), stdout=out, stderr=StringIO())
