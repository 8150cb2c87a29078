"""Demo-data hooks: each app may add `demo.py` with `seed(stdout, admin, researcher, moderator)`.

Called by `manage.py seed_demo` in dependency order; every hook must be idempotent."""
import importlib

DEMO_APPS = ["templates", "amis", "ratings", "sharing", "resolver"]


def run_demo_hooks(**kwargs):
    for app in DEMO_APPS:
        try:
            module = importlib.import_module(f"{app}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.demo":
                raise
            continue
        module.seed(**kwargs)
