"""scripts/devenv.py, the service choice of `make run`: what it exports for each situation, and
that a configured service that does not answer stops it with the reason."""
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
REDIS = os.environ.get("REGISTRY_TEST_BROKER_URL", "redis://127.0.0.1:6379/6")


def devenv(tmp_path, **env) -> tuple[int, dict, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("AWS_", "CELERY_", "REDIS_", "DATABASE_", "MOTO_", "REGISTRY_"))}
    base["HOME"] = str(tmp_path)  # no ~/.aws/credentials
    base["DATABASE_URL"] = "sqlite:///db.sqlite3"
    base.update(env)
    proc = subprocess.run([sys.executable, "scripts/devenv.py"], cwd=ROOT, env=base, capture_output=True,
                          text=True, timeout=60)
    exports = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        exports[key] = shlex.split(value)[0] if value else ""
    return proc.returncode, exports, proc.stderr


def test_redis_answers_so_a_worker_is_started_on_it(tmp_path):
    code, exports, said = devenv(tmp_path, REDIS_URL=REDIS)
    assert code == 0, said
    assert exports["CELERY_BROKER_URL"] == REDIS and exports["REGISTRY_DEMO_WORKER"] == "1"
    assert "a Celery worker on Redis" in said


def test_no_redis_means_the_in_process_cache_and_eager_tasks(tmp_path):
    code, exports, said = devenv(tmp_path, REDIS_URL="")
    assert code == 0, said
    assert "REDIS_URL" not in exports and "CELERY_BROKER_URL" not in exports and "REGISTRY_DEMO_WORKER" not in exports
    assert "in-process cache" in said and "tasks run instantly" in said


def test_a_broker_of_ones_own_or_none(tmp_path):
    code, exports, said = devenv(tmp_path, REDIS_URL=REDIS, CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    assert code == 0 and "REGISTRY_DEMO_WORKER" not in exports and "run `make worker` too" in said
    code, exports, said = devenv(tmp_path, REDIS_URL=REDIS, CELERY_BROKER_URL="")
    assert code == 0 and "REGISTRY_DEMO_WORKER" not in exports and "tasks run instantly" in said


def test_a_configured_redis_that_does_not_answer_stops_make_run(tmp_path):
    code, _exports, said = devenv(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    assert code == 1 and "ERROR: REDIS_URL=redis://127.0.0.1:1/0 does not answer" in said


def test_a_missing_postgresql_database_is_created_and_a_dead_server_stops_make_run(tmp_path):
    db = settings.DATABASES["default"]
    name = f"registry_devenv_{uuid.uuid4().hex[:8]}"
    server = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    try:
        code, _exports, said = devenv(tmp_path, DATABASE_URL=f"{server}/{name}", REDIS_URL="")
        assert code == 0 and f"created PostgreSQL database '{name}'" in said
        with psycopg.connect(f"{server}/{name}") as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == name
        code, _exports, said = devenv(tmp_path, DATABASE_URL=f"{server}/{name}", REDIS_URL="")
        assert code == 0 and "created" not in said
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    code, _exports, said = devenv(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:1/x", REDIS_URL="")
    assert code == 1 and "does not answer" in said


@pytest.mark.parametrize("endpoint", ["", "http://127.0.0.1:4566"])
def test_without_credentials_aws_is_an_emulator(tmp_path, endpoint):
    env = {"REDIS_URL": "", "MOTO_PORT": "5999", **({"AWS_ENDPOINT_URL": endpoint} if endpoint else {})}
    code, exports, said = devenv(tmp_path, **env)
    assert code == 0 and exports["REGISTRY_EMULATOR"] == "1" and "LOCAL AWS EMULATOR" in said
    if endpoint:  # the user's own emulator: make run starts none
        assert "REGISTRY_DEMO_EMULATOR" not in exports and "AWS_ENDPOINT_URL" not in exports
    else:
        assert exports["REGISTRY_DEMO_EMULATOR"] == "1" and exports["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5999"
