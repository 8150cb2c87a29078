"""Inheritance: merge rules (pure), and parents resolved among stored templates (database)."""
import pytest
import yaml

from registry.errors import Conflict, InvalidInput
from registry.models import AuditEvent
from templates.inheritance import merge_documents
from templates.models import Template
from templates.services import template_create, template_replace, template_validate


def text(**doc) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


PARENT = {
    "name": "Parent", "slug": "parent", "description": "the parent", "base": "ubuntu-22.04",
    "package_manager": "apt", "category": "Base",
    "packages": {"system": ["git", "curl"], "pip": ["requests"]},
    "users": [{"name": "alice"}],
    "services": [{"name": "ssh", "port": 22}],
    "post_install": "echo parent",
    "instance_defaults": {"type": "t3.medium", "ports": [22, 80], "root_volume_gb": 30,
                          "estimated_cost_per_hour": {"x86_64": 0.04, "arm64": 0.03}},
    "tags": {"os": "ubuntu", "team": "base"},
    "ami_config": {"strategy": "ami_preferred", "ssh_user": "ubuntu",
                   "ami_mappings": {"us-east-1": "ami-0123456789abcdef0", "us-west-2": "ami-0fedcba9876543210"},
                   "amis": {"eu-west-1": {"x86_64": "ami-11111111"}},
                   "ami_search": {"owner": "amazon", "name_pattern": "parent-*"}},
}
CHILD = {
    "name": "Child", "description": "the child", "inherits": ["parent"],
    "package_manager": "conda",
    "packages": {"system": ["vim"], "conda": ["numpy"]},
    "users": [{"name": "bob"}],
    "services": [{"name": "jupyter", "port": 8888}],
    "post_install": "echo child",
    "instance_defaults": {"type": "m6i.large", "ports": [80, 8888], "estimated_cost_per_hour": {"x86_64": 0.1}},
    "tags": {"team": "ml"},
    "ami_config": {"ami_mappings": {"us-west-2": "ami-0aaaaaaaaaaaaaaaa", "eu-west-1": "ami-0bbbbbbbbbbbbbbbb"},
                   "amis": {"eu-west-1": {"arm64": "ami-22222222"}},
                   "ami_search": {"owner": "self", "name_pattern": "child-*"},
                   "fallback_strategy": "error"},
}


def test_merge_rules():
    merged = merge_documents([PARENT], CHILD)
    assert merged["name"] == "Child" and "slug" not in merged and merged["inherits"] == ["parent"]
    assert merged["base"] == "ubuntu-22.04" and merged["category"] == "Base"        # inherited
    assert merged["package_manager"] == "conda"                                     # overridden
    assert merged["packages"] == {"system": ["git", "curl", "vim"], "pip": ["requests"], "conda": ["numpy"]}
    assert [u["name"] for u in merged["users"]] == ["alice", "bob"]                 # appended
    assert [s["name"] for s in merged["services"]] == ["ssh", "jupyter"]
    assert merged["post_install"] == "echo parent\n\necho child"
    assert merged["instance_defaults"] == {"type": "m6i.large", "ports": [22, 80, 8888], "root_volume_gb": 30,
                                           "estimated_cost_per_hour": {"x86_64": 0.1, "arm64": 0.03}}
    assert merged["tags"] == {"os": "ubuntu", "team": "ml"}
    ami = merged["ami_config"]
    assert ami["ami_mappings"] == {"us-east-1": "ami-0123456789abcdef0", "us-west-2": "ami-0aaaaaaaaaaaaaaaa",
                                   "eu-west-1": "ami-0bbbbbbbbbbbbbbbb"}            # merged per region
    assert ami["amis"] == {"eu-west-1": {"x86_64": "ami-11111111", "arm64": "ami-22222222"}}
    assert ami["ami_search"] == {"owner": "self", "name_pattern": "child-*"}        # child key wins
    assert ami["strategy"] == "ami_preferred" and ami["ssh_user"] == "ubuntu" and ami["fallback_strategy"] == "error"


def test_merge_does_not_modify_its_inputs():
    parent = yaml.safe_load(yaml.safe_dump(PARENT))
    child = yaml.safe_load(yaml.safe_dump(CHILD))
    merge_documents([parent], child)
    assert parent == PARENT and child == CHILD


def test_several_parents_merge_in_order_then_the_child():
    a = {"name": "A", "packages": {"pip": ["a"]}, "package_manager": "apt", "tags": {"x": "a", "y": "a"}}
    b = {"name": "B", "packages": {"pip": ["b"]}, "package_manager": "pip", "tags": {"x": "b"}}
    merged = merge_documents([a, b], {"name": "C", "packages": {"pip": ["c"]}})
    assert merged["packages"]["pip"] == ["a", "b", "c"]
    assert merged["package_manager"] == "pip"
    assert merged["tags"] == {"x": "b", "y": "a"}
    assert merged["name"] == "C"


@pytest.fixture
def parent(db):
    return template_create(source_yaml=text(**PARENT))


@pytest.mark.django_db
def test_child_stored_with_merged_and_own_documents(parent):
    child = template_create(source_yaml=text(**CHILD))
    assert child.slug == "child" and child.base == "ubuntu-22.04" and child.category == "Base"
    assert child.own_document == CHILD
    assert child.document == merge_documents([parent.document], CHILD)
    assert child.inherits == ["parent"]


@pytest.mark.django_db
def test_a_child_may_inherit_by_exact_name(parent):
    child = template_create(source_yaml=text(**{**CHILD, "inherits": ["Parent"]}))
    assert child.document["packages"]["system"] == ["git", "curl", "vim"]


@pytest.mark.django_db
def test_the_merged_document_is_validated(parent):
    # The child alone is fine; merged with the parent's packages, package_manager ami is not.
    doc = {"name": "AMI child", "description": "d", "inherits": ["parent"], "package_manager": "ami"}
    result = template_validate(source_yaml=text(**doc))
    assert result.errors == {"packages": [
        "package_manager 'ami' installs nothing: remove packages or use a script package manager "
        "(apt, dnf, conda, spack, pip)"]}


@pytest.mark.django_db
def test_missing_parent():
    result = template_validate(source_yaml=text(**{**CHILD, "inherits": ["nowhere", "also-missing"]}))
    assert result.errors == {"inherits": ["parent template 'nowhere' not found",
                                          "parent template 'also-missing' not found"]}
    with pytest.raises(InvalidInput) as exc:
        template_create(source_yaml=text(**{**CHILD, "inherits": ["nowhere"]}))
    assert exc.value.errors == {"inherits": ["parent template 'nowhere' not found"]}
    assert not Template.objects.exists()


@pytest.mark.django_db
def test_self_inheritance_by_slug_or_name(db):
    for ref in ("child", "Child"):
        result = template_validate(source_yaml=text(**{**CHILD, "inherits": [ref]}))
        assert result.errors == {"inherits": [f"template cannot inherit from itself ('{ref}')"]}


@pytest.mark.django_db
def test_self_inheritance_when_replacing(parent):
    result = template_validate(source_yaml=text(**{**PARENT, "inherits": ["Parent"]}), current=parent)
    assert result.errors == {"inherits": ["template cannot inherit from itself ('Parent')"]}


@pytest.mark.django_db
def test_a_cycle_through_stored_templates_is_refused(parent):
    template_create(source_yaml=text(**CHILD))
    grandchild = {"name": "Grandchild", "description": "g", "inherits": ["child"]}
    template_create(source_yaml=text(**grandchild))
    # parent → inherits grandchild, which inherits child, which inherits parent: a cycle.
    with pytest.raises(InvalidInput) as exc:
        template_replace(template=parent, source_yaml=text(**{**PARENT, "inherits": ["grandchild"]}))
    assert exc.value.errors == {"inherits": ["inheritance cycle: parent → grandchild → child → parent"]}
    parent.refresh_from_db()
    assert parent.inherits == []


@pytest.mark.django_db
def test_replacing_a_parent_re_merges_children_and_grandchildren(parent, django_capture_on_commit_callbacks):
    from templates.signals import template_changed

    child = template_create(source_yaml=text(**CHILD))
    grandchild = template_create(source_yaml=text(name="Grandchild", description="g", inherits=["child"],
                                                  packages={"pip": ["gc"]}))
    seen = []

    def receiver(sender, template, **kwargs):
        seen.append(template.slug)

    template_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outcome = template_replace(template=parent, source_yaml=text(
                **{**PARENT, "packages": {"system": ["git", "zsh"]}, "base": "ubuntu-24.04"}))
    finally:
        template_changed.disconnect(receiver)
    assert outcome.changed and outcome.remerged == ["child", "grandchild"]
    child.refresh_from_db()
    grandchild.refresh_from_db()
    assert child.document["packages"]["system"] == ["git", "zsh", "vim"]
    assert child.base == "ubuntu-24.04"
    assert grandchild.document["packages"] == {"system": ["git", "zsh", "vim"], "conda": ["numpy"], "pip": ["gc"]}
    assert grandchild.base == "ubuntu-24.04"
    assert seen == ["parent", "child", "grandchild"]
    event = AuditEvent.objects.get(action="template.replace")
    assert event.after["remerged"] == ["child", "grandchild"] and event.target_id == str(parent.pk)


@pytest.mark.django_db
def test_renaming_a_parent_that_children_name_is_a_conflict(parent):
    template_create(source_yaml=text(**CHILD))
    with pytest.raises(Conflict) as exc:
        template_replace(template=parent, source_yaml=text(**{**PARENT, "slug": "renamed", "name": "Renamed"}))
    assert "template 'child' inherits from" in exc.value.message
    assert exc.value.errors == {"child.inherits": ["parent template 'parent' not found"]}
    parent.refresh_from_db()
    assert parent.slug == "parent"                       # rolled back


@pytest.mark.django_db
def test_a_parent_change_that_makes_a_child_invalid_is_refused(parent):
    # A child with package_manager ami is only valid while the parent lists no packages.
    bare = template_replace(template=parent, source_yaml=text(**{**PARENT, "packages": {}})).template
    template_create(source_yaml=text(name="Lean", description="d", inherits=["parent"], package_manager="ami"))
    with pytest.raises(Conflict):
        template_replace(template=bare, source_yaml=text(**PARENT))
    assert Template.objects.get(slug="parent").document["packages"] == {}


def test_merge_when_parent_and_child_disagree_on_types_the_child_wins():
    parent = {"name": "P", "packages": ["not", "a", "map"], "users": {"x": 1}, "post_install": "",
              "instance_defaults": "t3.micro", "tags": ["a"], "ami_config": None,
              "extra": {"kept": True}}
    child = {"name": "C", "packages": {"pip": ["a"]}, "users": [{"name": "u"}], "post_install": "echo c",
             "instance_defaults": {"ports": [22]}, "tags": {"k": "v"}, "ami_config": {"strategy": "ami_fallback"},
             "extra": None}
    merged = merge_documents([parent], child)
    assert merged == {"name": "C", "packages": {"pip": ["a"]}, "users": [{"name": "u"}], "post_install": "echo c",
                      "instance_defaults": {"ports": [22]}, "tags": {"k": "v"},
                      "ami_config": {"strategy": "ami_fallback"}, "extra": {"kept": True}}


def test_merge_nested_type_mismatches_and_null_values():
    parent = {"instance_defaults": {"ports": "22", "estimated_cost_per_hour": 3, "type": "t3.micro"},
              "ami_config": {"ami_mappings": "none", "amis": {"us-east-1": "x"}, "ssh_user": "a"},
              "packages": {"pip": ["p"], "npm": ["left-pad"]}}
    child = {"name": "C",
             "instance_defaults": {"ports": [80], "estimated_cost_per_hour": {"arm64": 1}, "type": None},
             "ami_config": {"ami_mappings": {"us-east-1": "ami-12345678"}, "amis": {"us-east-1": {"arm64": "ami-1"}},
                            "ssh_user": None},
             "packages": {"pip": None, "npm": ["is-odd"]}}
    merged = merge_documents([parent], child)
    assert merged["instance_defaults"] == {"ports": [80], "estimated_cost_per_hour": {"arm64": 1}, "type": "t3.micro"}
    assert merged["ami_config"] == {"ami_mappings": {"us-east-1": "ami-12345678"},
                                    "amis": {"us-east-1": {"arm64": "ami-1"}}, "ssh_user": "a"}
    assert merged["packages"] == {"pip": ["p"], "npm": ["is-odd"]}     # only the four known kinds append
