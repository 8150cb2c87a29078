"""The WSGI module imports the URLconf and freezes what starting made (registry/wsgi.py)."""
import gc
import importlib


def test_loading_the_wsgi_module_freezes_the_startup_objects():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    module = importlib.reload(importlib.import_module("registry.wsgi"))
    try:
        assert callable(module.application)
        assert gc.get_freeze_count() > 10_000  # the modules, views and serializers loaded so far
    finally:
        gc.unfreeze()
