"""Output serialization for the hot lists (the catalogue's pages) without DRF's per-row work.

DRF's ``Serializer.to_representation`` resolves, for every field of every row, the field's
source path, whether the value is callable, and the fallbacks for missing attributes — about a
thousand generic steps per page of 25 AMIs, a fifth of the page's CPU. ``PlannedRepresentation``
gives the same output from a plan made once per serializer instance (one per page with
``many=True``): a field whose source is one attribute is read with ``getattr``; ``CharField``
and ``IntegerField`` values become ``str``/``int`` (what their ``to_representation`` does);
every other field converts with its own ``to_representation``. Dotted sources, ``source="*"``
(method fields), nested serializers, callables and dict instances take DRF's own path.

``RenderedJSON`` and ``SplicingJSONRenderer``: a representation rendered to JSON once (and
cached, ``amis.listing_cache``) goes into every later response as it is.
"""
from __future__ import annotations

from collections.abc import Mapping

from rest_framework import fields as drf_fields
from rest_framework.fields import SkipField
from rest_framework.renderers import JSONRenderer
from rest_framework.serializers import BaseSerializer

# Exact classes only: a subclass (EmailField, URLField, ...) may represent differently.
_DIRECT_CONVERSIONS = {drf_fields.CharField: str, drf_fields.IntegerField: int}


def _plan_step(field) -> tuple:
    attrs = field.source_attrs
    plain = len(attrs) == 1 and field.source != "*" and not isinstance(field, BaseSerializer)
    convert = _DIRECT_CONVERSIONS.get(type(field), field.to_representation)
    return field.field_name, attrs[0] if plain else None, convert, field


class PlannedRepresentation:
    """Mixin for a ``rest_framework.serializers.Serializer`` of objects (see the module)."""

    def to_representation(self, instance):
        if isinstance(instance, Mapping):
            return super().to_representation(instance)
        plan = self.__dict__.get("_representation_plan")
        if plan is None:
            plan = self.__dict__["_representation_plan"] = [_plan_step(f) for f in self._readable_fields]
        out = {}
        for name, attr, convert, field in plan:
            if attr is not None:
                value = getattr(instance, attr, drf_fields.empty)
                if value is drf_fields.empty or callable(value):
                    attr = None  # missing or callable: DRF's rules (defaults, calls, SkipField)
            if attr is None:
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
            out[name] = None if value is None else convert(value)
        return out


# --- Representations rendered once, spliced into responses ---------------------------------------

class RenderedJSON(bytes):
    """A value already rendered to JSON by ``SplicingJSONRenderer.render_value`` (compact, as the
    API renders everything): cached once, put into responses as it is, never parsed again."""


# Stands for one list of rendered values while the rest of a response is rendered. Only a
# string holding NUL could render the same, and none can reach a response: PostgreSQL text
# cannot hold NUL and query strings echoed back in links are percent-encoded.
_SLOT = "\x00rendered-{}\x00"


class SplicingJSONRenderer(JSONRenderer):
    """DRF's ``JSONRenderer``, which puts lists of ``RenderedJSON`` (values of a top-level dict,
    e.g. a page's ``results``) into the output as they are: the same bytes as rendering their
    values here, without encoding them again."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        spliced = {}
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, list) and value and all(isinstance(v, RenderedJSON) for v in value):
                    spliced[key] = value
        if not spliced:
            return super().render(data, accepted_media_type, renderer_context)
        slots = {key: _SLOT.format(n) for n, key in enumerate(spliced)}
        out = super().render({k: slots.get(k, v) for k, v in data.items()}, accepted_media_type, renderer_context)
        for key, values in spliced.items():
            slot = super().render(slots[key])
            out = out.replace(slot, b"[" + b",".join(values) + b"]", 1)
        return out

    @classmethod
    def render_value(cls, value) -> RenderedJSON:
        """``value`` rendered as this renderer renders it inside a response (compact)."""
        return RenderedJSON(cls().render(value))
