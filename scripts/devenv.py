#!/usr/bin/env python
"""Pick the local services for `make run` and print them as shell `export` lines.

- DATABASE_URL set → used as is. Else PostgreSQL on 127.0.0.1:5432 when it answers (database
  `registry` created if missing), else the embedded SQLite file ``db.sqlite3``.
- REDIS_URL set → used. Else Redis on 127.0.0.1:6379 when it answers, else the in-process cache.
- No AWS credentials → AWS calls go to a local emulator (moto server) started by run_demo.sh.
What was chosen is printed on stderr so the user sees it.
"""
import os
import shlex
import socket
import sys


def say(msg: str) -> None:
    print(f"[make run] {msg}", file=sys.stderr)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def postgres_url() -> str | None:
    if not port_open(5432):
        return None
    try:
        import psycopg
    except ImportError:
        return None
    for user, password in (("postgres", ""), ("postgres", "postgres"), ("registry", "registry")):
        auth = f"{user}:{password}@" if password else f"{user}@"
        try:
            with psycopg.connect(f"postgresql://{auth}127.0.0.1:5432/postgres", autocommit=True,
                                 connect_timeout=3) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'registry'").fetchone()
                if not exists:
                    conn.execute("CREATE DATABASE registry")
            return f"postgres://{auth}127.0.0.1:5432/registry"
        except Exception:  # noqa: BLE001 — try the next credentials, then fall back to SQLite
            continue
    return None


def has_aws_credentials() -> bool:
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        return True
    return os.path.exists(os.path.expanduser("~/.aws/credentials"))


def main() -> None:
    exports = {}
    if os.environ.get("DATABASE_URL"):
        say("database: DATABASE_URL from the environment")
    else:
        url = postgres_url()
        if url:
            exports["DATABASE_URL"] = url
            say("database: PostgreSQL on 127.0.0.1:5432 (database 'registry')")
        else:
            exports["DATABASE_URL"] = "sqlite:///db.sqlite3"
            say("database: no PostgreSQL answered on 127.0.0.1:5432 — using the embedded SQLite file db.sqlite3")
    if os.environ.get("REDIS_URL"):
        say("cache: REDIS_URL from the environment")
    elif port_open(6379):
        exports["REDIS_URL"] = "redis://127.0.0.1:6379/1"
        say("cache: Redis on 127.0.0.1:6379")
    else:
        say("cache: no Redis answered — using the in-process cache")
    if os.environ.get("CELERY_BROKER_URL"):
        say("tasks: Celery broker from CELERY_BROKER_URL (run `make worker` too)")
    else:
        say("tasks: no CELERY_BROKER_URL — tasks run eagerly inside the web process")
    if has_aws_credentials() and not os.environ.get("AWS_ENDPOINT_URL"):
        say("AWS: using your AWS credentials (real AWS!)")
    else:
        port = os.environ.get("MOTO_PORT", "5055")
        exports.setdefault("AWS_ENDPOINT_URL", os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{port}")
        exports["AWS_ACCESS_KEY_ID"] = os.environ.get("AWS_ACCESS_KEY_ID", "demo")
        exports["AWS_SECRET_ACCESS_KEY"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "demo")
        exports["AWS_DEFAULT_REGION"] = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        exports["REGISTRY_EMULATOR"] = "1"
        exports["MOTO_PORT"] = port
        say(f"AWS: no credentials — using the LOCAL AWS EMULATOR (moto server) at {exports['AWS_ENDPOINT_URL']}")
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
