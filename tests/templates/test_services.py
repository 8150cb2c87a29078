"""template_create / template_replace: stored columns, audit, signal after commit, conflicts."""
import pytest
import yaml

from registry.errors import Conflict, InvalidInput
from registry.models import AuditEvent
from templates.models import Template
from templates.services import template_create, template_replace
from templates.signals import template_changed

pytestmark = pytest.mark.django_db

DOC = {"name": "Python ML (AMI Optimized)", "description": "ML from an AMI", "base": "ami-based",
       "package_manager": "ami", "category": "Machine Learning", "version": 2.1,
       "ami_config": {"ami_mappings": {"us-east-1": "ami-0123456789abcdef0"}, "ssh_user": "ubuntu",
                      "ami_search": {"owner": "amazon", "name_pattern": "x-*", "architecture": ["arm64"]}}}


def text(doc=DOC, **changes) -> str:
    return yaml.safe_dump({**doc, **changes}, sort_keys=False)


@pytest.fixture
def changed():
    seen = []

    def receiver(sender, template, **kwargs):
        seen.append(template.slug)

    template_changed.connect(receiver)
    yield seen
    template_changed.disconnect(receiver)


def test_create_stores_columns_documents_and_source(user, changed, django_capture_on_commit_callbacks):
    source = text()
    with django_capture_on_commit_callbacks(execute=True):
        template = template_create(source_yaml=source, actor=user)
    template.refresh_from_db()
    assert template.slug == "python-ml-ami-optimized"                 # derived from the name
    assert (template.name, template.base, template.category, template.version) == (
        "Python ML (AMI Optimized)", "ami-based", "Machine Learning", "2.1")
    assert template.description == "ML from an AMI"
    assert template.source_yaml == source
    assert template.own_document == template.document == DOC
    assert template.architectures == ["arm64"] and template.strategy == "ami_preferred"
    assert changed == ["python-ml-ami-optimized"]
    event = AuditEvent.objects.get(action="template.create")
    assert event.actor == user and event.target_id == str(template.pk)
    assert event.after["slug"] == "python-ml-ami-optimized"


def test_the_signal_waits_for_the_commit(changed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        template_create(source_yaml=text())
    assert changed == []                     # nothing sent inside the transaction
    for callback in callbacks:
        callback()
    assert changed == ["python-ml-ami-optimized"]


def test_create_invalid_raises_with_errors_by_path_and_stores_nothing():
    with pytest.raises(InvalidInput) as exc:
        template_create(source_yaml=text(base="beos", ami_config={"strategy": "always"}))
    assert exc.value.errors == {
        "base": [exc.value.errors["base"][0]],
        "ami_config.strategy": ["invalid AMI strategy 'always', must be one of: ami_preferred, ami_required, "
                                "ami_fallback"]}
    assert exc.value.errors["base"][0].startswith("unknown base OS 'beos'")
    assert not Template.objects.exists() and not AuditEvent.objects.exists()


def test_create_duplicate_name_or_slug_is_a_conflict():
    template_create(source_yaml=text())
    with pytest.raises(Conflict) as exc:
        template_create(source_yaml=text())
    assert exc.value.message.startswith("a template with the name 'Python ML (AMI Optimized)' already exists")
    with pytest.raises(Conflict):
        template_create(source_yaml=text(name="Other name", slug="python-ml-ami-optimized"))
    assert Template.objects.count() == 1


def test_replace_updates_and_audits(user, changed, django_capture_on_commit_callbacks):
    template = template_create(source_yaml=text())
    with django_capture_on_commit_callbacks(execute=True):
        outcome = template_replace(template=template, source_yaml=text(version="3.0", description="new"), actor=user)
    assert outcome.changed and outcome.remerged == []
    template.refresh_from_db()
    assert template.version == "3.0" and template.description == "new"
    event = AuditEvent.objects.get(action="template.replace")
    assert event.before["version"] == "2.1" and event.after["version"] == "3.0" and event.actor == user
    assert changed == ["python-ml-ami-optimized"]


def test_replace_with_the_same_text_changes_nothing(changed, django_capture_on_commit_callbacks):
    template = template_create(source_yaml=text())
    before = Template.objects.get(pk=template.pk).updated_at
    with django_capture_on_commit_callbacks(execute=True):
        outcome = template_replace(template=template, source_yaml=text())
    assert not outcome.changed
    assert Template.objects.get(pk=template.pk).updated_at == before
    assert AuditEvent.objects.filter(action="template.replace").count() == 0
    assert changed == []


def test_replace_may_not_take_another_templates_name():
    template_create(source_yaml=text())
    other = template_create(source_yaml=text(name="Other"))
    with pytest.raises(Conflict):
        template_replace(template=other, source_yaml=text())
    other.refresh_from_db()
    assert other.name == "Other"


def test_replace_invalid_leaves_the_template_alone():
    template = template_create(source_yaml=text())
    with pytest.raises(InvalidInput) as exc:
        template_replace(template=template, source_yaml="- not\n- a mapping\n")
    assert exc.value.errors == {"yaml": ["the document must be a mapping of keys to values, not a list"]}
    template.refresh_from_db()
    assert template.own_document == DOC


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_template_give_one_row_and_one_conflict():
    import threading

    from django.db import connection

    barrier = threading.Barrier(4)
    outcomes = []

    def create():
        try:
            barrier.wait()
            template_create(source_yaml=text())
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"]
    assert Template.objects.count() == 1
    assert AuditEvent.objects.filter(action="template.create").count() == 1
