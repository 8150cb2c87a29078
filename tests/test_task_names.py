"""Services send Celery tasks by their stable names (``registry.celery.task_send``): every name sent,
run by the operations engine or scheduled by beat must be a registered task, or a message would be
queued that no worker can run."""
import ast
from pathlib import Path

from django.conf import settings

from amis.operations import TASK_NAMES
from registry.celery import app

ROOT = Path(__file__).resolve().parent.parent


def _names_sent() -> set[str]:
    sent = set()
    for package in ("amis", "ratings", "sharing", "resolver", "templates", "registry"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "task_send"
                        and node.args and isinstance(node.args[0], ast.Constant)):
                    sent.add(node.args[0].value)
    return sent


def test_every_task_sent_by_name_is_registered():
    app.loader.import_default_modules()  # what a worker does at start
    sent = _names_sent()
    assert {"amis.scan", "amis.public_sync", "sharing.share_sync", "sharing.share_remove"} <= sent
    wanted = sent | set(TASK_NAMES.values()) | {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert sorted(wanted - set(app.tasks)) == []
