"""Checks of the resolver's inputs: region(s), architecture, strategy, instance type, template.

Strategies, architectures and the instance-type pattern belong to the template format
(``templates.validation``): the resolver imports them, and takes the wording of its errors from
the template validator too, so a bad ``strategy`` reads the same in a 400 from the resolver as in
a template's 422.
"""
from __future__ import annotations

from amis.versioning import Constraint, channel_name_problem, constraint_parse
from registry import aws
from registry.errors import InvalidInput, NotFound
from templates.models import Template
from templates.selectors import template_get
from templates.validation import ARCHITECTURES, INSTANCE_TYPE_RE, STRATEGIES, validate_fields

# Where the template validator reports each value the resolver takes as a parameter.
_TEMPLATE_PATHS = {
    "strategy": ("ami_config", "strategy"),
    "architecture": ("ami_config", "preferred_architecture"),
    "instance_type": ("instance_defaults", "type"),
}


def _template_messages(field: str, value) -> list[str]:
    """The template validator's messages for ``value`` at the place it would have in a template."""
    section, key = _TEMPLATE_PATHS[field]
    return validate_fields({section: {key: value}}).get(f"{section}.{key}") or [f"invalid {field} '{value}'"]


def invalid_value_message(field: str) -> str:
    """The template validator's message for a bad ``strategy`` or ``architecture``, with ``{input}``
    where the value goes: the ``invalid_choice`` message of the API's input serializers, so the
    API's 400 reads like the services' and the template validator's."""
    return _template_messages(field, "{input}")[0]


def _raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise InvalidInput("; ".join(m for msgs in errors.values() for m in msgs), errors=errors)


def validate_request(*, region: str, architecture: str | None, strategy: str | None,
                     channel: str | None = None, version: str | None = None) -> Constraint | None:
    """Raises ``InvalidInput`` naming every bad field of a resolve/preview/costs request; returns
    the parsed version constraint (None when none is asked)."""
    errors = {}
    if channel is not None and channel_name_problem(channel):
        errors["channel"] = [channel_name_problem(channel)]
    constraint = None
    if version is not None:
        constraint = constraint_parse(version)
        if constraint is None:
            errors["version"] = [f"invalid version constraint '{version}': use e.g. '~> 1.4', '>= 1.2, < 2' "
                                 f"or '1.4.2'"]
    if not aws.is_known_region(region or ""):
        errors["region"] = [f"unknown AWS region '{region}'" if region else "This field is required."]
    if architecture is not None and architecture not in ARCHITECTURES:
        errors["architecture"] = _template_messages("architecture", architecture)
    if strategy is not None and strategy not in STRATEGIES:
        errors["strategy"] = _template_messages("strategy", strategy)
    _raise_if(errors)
    return constraint


def split_channel(template, channel: str | None) -> tuple:
    """``template@channel`` in the path names the channel too: ``(template ref, channel)``. 400
    when the path and the ``channel`` parameter name different channels."""
    if not isinstance(template, str) or "@" not in template:
        return template, channel
    ref, _, in_path = template.rpartition("@")
    if channel is not None and channel != in_path:
        raise InvalidInput(f"channel: the path names '{in_path}', the parameter '{channel}'",
                           errors={"channel": [f"The path names channel '{in_path}' and the parameter "
                                               f"'{channel}': give one."]})
    return ref, in_path


def validate_regions(regions: list[str]) -> None:
    """Raises ``InvalidInput`` for unknown regions among the test endpoint's ``regions``."""
    bad = [r for r in regions if not aws.is_known_region(r)]
    if bad:
        raise InvalidInput(f"unknown AWS region(s): {', '.join(bad)}",
                           errors={"regions": [f"unknown AWS region '{r}'" for r in bad]})


def validate_instance_type(instance_type: str) -> None:
    """An instance type must look like one ("" means the template's default). Its family is not
    checked: the cost table falls back to the template's price for a family it does not know."""
    if instance_type and not INSTANCE_TYPE_RE.match(instance_type):
        _raise_if({"instance_type": _template_messages("instance_type", instance_type)})


def template_from_ref(template: Template | str) -> Template:
    """The template a slug or exact name refers to; raises ``NotFound``."""
    if isinstance(template, Template):
        return template
    # NUL cannot be sent to PostgreSQL and no name is that long: neither can name a template.
    if not isinstance(template, str) or "\x00" in template or len(template) > 300:
        raise NotFound("template not found")
    found = template_get(template)
    if found is None:
        raise NotFound(f"template '{template}' not found")
    return found
