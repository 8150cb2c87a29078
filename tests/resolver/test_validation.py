"""The resolver's input rules are the template format's: the same values are allowed and a bad
one is reported in the template validator's words — by the services and by the API."""
from urllib.parse import urlencode

import pytest

from registry.errors import InvalidInput
from resolver import preview, services
from resolver.serializers import AmiTestInputSerializer, CostsQuerySerializer, PreviewQuerySerializer, \
    ResolveQuerySerializer
from templates.validation import ARCHITECTURES, STRATEGIES, validate_yaml

pytestmark = pytest.mark.django_db

TEMPLATE = "name: T\ndescription: d\nbase: ubuntu-22.04\npackage_manager: apt\npackages: {system: [git]}\n"


def template_errors(extra_yaml: str, path: str) -> list[str]:
    """What the template validator says about a template carrying ``extra_yaml``."""
    errors = validate_yaml(TEMPLATE + extra_yaml).errors
    assert path in errors, errors
    return errors[path]


STRATEGY = ("strategy", "yolo", "ami_config:\n  strategy: yolo\n", "ami_config.strategy")
ARCHITECTURE = ("architecture", "sparc", "ami_config:\n  preferred_architecture: sparc\n",
                "ami_config.preferred_architecture")


@pytest.mark.parametrize("field, value, extra_yaml, path", [STRATEGY, ARCHITECTURE])
@pytest.mark.parametrize("call", ["resolve", "preview", "test"])
def test_services_report_a_bad_strategy_or_architecture_as_the_template_validator_does(
        make_template, call, field, value, extra_yaml, path):
    template = make_template({})
    functions = {
        "resolve": lambda: services.resolve(template=template, region="us-east-1", **{field: value}),
        "preview": lambda: preview.resolve_preview(template=template, region="us-east-1", **{field: value}),
        "test": lambda: services.resolve_test(template=template, regions=["us-east-1"], **{field: value}),
    }
    with pytest.raises(InvalidInput) as err:
        functions[call]()
    assert err.value.errors[field] == template_errors(extra_yaml, path)
    assert err.value.message == "; ".join(template_errors(extra_yaml, path))


@pytest.mark.parametrize("field, value, extra_yaml, path", [STRATEGY, ARCHITECTURE])
@pytest.mark.parametrize("kind", ["resolve", "preview"])
def test_the_api_reports_a_bad_strategy_or_architecture_as_the_template_validator_does(
        api_client, make_template, kind, field, value, extra_yaml, path):
    template = make_template({})
    response = api_client.get(f"/api/v1/ami/{kind}/{template.slug}?" + urlencode({"region": "us-east-1",
                                                                                 field: value}))
    assert response.status_code == 400
    assert response.json()["errors"][field] == template_errors(extra_yaml, path)


@pytest.mark.parametrize("instance_type", ["large", "T3.large", "t3", "t3.", "';drop"])
def test_a_bad_instance_type_is_reported_as_the_template_validator_does(api_client, make_template, instance_type):
    template = make_template({})
    expected = template_errors(f"instance_defaults:\n  type: \"{instance_type}\"\n", "instance_defaults.type")
    with pytest.raises(InvalidInput) as err:
        services.template_costs(template=template, region="us-east-1", instance_type=instance_type)
    assert err.value.errors["instance_type"] == expected
    response = api_client.get(f"/api/v1/ami/costs/{template.slug}?" + urlencode({"instance_type": instance_type}))
    assert response.status_code == 400 and response.json()["errors"]["instance_type"] == expected


def test_an_instance_type_of_a_family_the_cost_table_does_not_know_is_priced_not_refused(make_template):
    """The shape is the template format's rule; the family list is not applied to a cost question:
    an unknown family costs what the template says an hour costs."""
    template = make_template({})
    assert validate_yaml(TEMPLATE + "instance_defaults:\n  type: zz9.large\n").errors  # templates refuse it
    body = services.template_costs(template=template, region="us-east-1", instance_type="zz9.large")
    assert body["instance_type"] == "zz9.large"


@pytest.mark.parametrize("serializer", [ResolveQuerySerializer, PreviewQuerySerializer, AmiTestInputSerializer,
                                        CostsQuerySerializer])
def test_the_api_accepts_exactly_the_template_formats_values(serializer):
    fields = serializer().fields
    assert list(fields["architecture"].choices) == list(ARCHITECTURES)
    if "strategy" in fields:
        assert list(fields["strategy"].choices) == list(STRATEGIES)
