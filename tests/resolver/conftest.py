"""Fixtures of the resolver tests: templates with an ami_config, and a recorder of AWS calls."""
import threading

import pytest

from tests.factories import TemplateFactory


@pytest.fixture
def make_template(db):
    """A template whose document carries ``ami_config`` (as the templates app stores it)."""

    def make(ami_config=None, *, name=None, slug=None, base="ubuntu-22.04", package_manager="apt",
             packages=None, **extra):
        kwargs = {}
        if name:
            kwargs["name"] = name
        if slug:
            kwargs["slug"] = slug
        template = TemplateFactory(base=base, **kwargs)
        document = {"name": template.name, "slug": template.slug, "description": "d", "base": base,
                    "package_manager": package_manager,
                    "packages": packages if packages is not None else {"system": ["git"], "pip": ["numpy"]},
                    **extra}
        if ami_config is not None:
            document["ami_config"] = ami_config
        template.document = document
        template.save()
        return template

    return make


class CallRecorder:
    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def ops(self, operation=None):
        return [c for c in self.calls if operation is None or c[0] == operation]


@pytest.fixture
def aws_calls(monkeypatch):
    """Records every call through ``registry.aws.call`` (operation, region, kwargs), still calling it."""
    from registry import aws as gateway

    recorder = CallRecorder()
    real = gateway.call

    def recording(region, service, operation, **kwargs):
        with recorder.lock:
            recorder.calls.append((operation, region, kwargs))
        return real(region, service, operation, **kwargs)

    monkeypatch.setattr(gateway, "call", recording)
    return recorder
