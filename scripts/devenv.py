#!/usr/bin/env python
"""Pick the local services for `make run` and print them as shell `export` lines.

- DATABASE_URL set → used as is (a PostgreSQL database that does not exist yet is created). Else
  PostgreSQL on 127.0.0.1:5432 when it answers (database `registry` created if missing), else the
  embedded SQLite file ``db.sqlite3``.
- REDIS_URL set → used (set but empty: the in-process cache). Else Redis on 127.0.0.1:6379 when it
  answers (database 1), else the in-process cache.
- Tasks: CELERY_BROKER_URL set → used (set but empty: tasks run eagerly); the user runs `make worker`.
  Else, with Redis, the Redis cache's database is also the broker and run_demo.sh starts a worker
  (REGISTRY_DEMO_WORKER=1); without Redis tasks run eagerly inside the web process.
- No AWS credentials → AWS calls go to a local emulator: the one AWS_ENDPOINT_URL names, else one
  run_demo.sh starts on 127.0.0.1:MOTO_PORT (default 5055; REGISTRY_DEMO_EMULATOR=1).
What was chosen is printed on stderr so the user sees it. A configured service that does not
answer stops `make run` here, with the reason (exit status 1).
"""
import os
import shlex
import socket
import sys
from urllib.parse import urlsplit, urlunsplit


def say(msg: str) -> None:
    print(f"[make run] {msg}", file=sys.stderr)


def fail(msg: str) -> None:
    print(f"[make run] ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def postgres_url() -> str | None:
    if not port_open(5432):
        return None
    import psycopg

    for user, password in (("postgres", ""), ("postgres", "postgres"), ("registry", "registry")):
        auth = f"{user}:{password}@" if password else f"{user}@"
        url = f"postgres://{auth}127.0.0.1:5432/registry"
        try:
            ensure_postgres_database(url)
        except psycopg.Error:
            continue  # try the next credentials, then fall back to SQLite
        return url
    return None


def ensure_postgres_database(url: str) -> bool:
    """Create the database ``url`` names when the server has none of that name; True if created."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    server = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def check_database(url: str) -> None:
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg

    try:
        if ensure_postgres_database(url):
            say(f"database: created PostgreSQL database '{urlsplit(url).path.lstrip('/')}'")
    except psycopg.Error as exc:
        fail(f"the PostgreSQL server in DATABASE_URL does not answer: {str(exc).strip()}")


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def has_aws_credentials() -> bool:
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        return True
    return os.path.exists(os.path.expanduser("~/.aws/credentials"))


def main() -> None:
    exports = {}
    if os.environ.get("DATABASE_URL"):
        check_database(os.environ["DATABASE_URL"])
        say("database: DATABASE_URL from the environment")
    else:
        url = postgres_url()
        if url:
            exports["DATABASE_URL"] = url
            say("database: PostgreSQL on 127.0.0.1:5432 (database 'registry')")
        else:
            exports["DATABASE_URL"] = "sqlite:///db.sqlite3"
            say("database: no PostgreSQL answered on 127.0.0.1:5432 — using the embedded SQLite file db.sqlite3")

    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        if not redis_answers(redis_url):
            fail(f"REDIS_URL={redis_url} does not answer (start Redis, or set REDIS_URL= for the in-process cache)")
        say("cache: REDIS_URL from the environment")
    elif redis_url is None and port_open(6379) and redis_answers("redis://127.0.0.1:6379/1"):
        redis_url = exports["REDIS_URL"] = "redis://127.0.0.1:6379/1"
        say("cache: Redis on 127.0.0.1:6379 (database 1)")
    else:
        redis_url = ""
        say("cache: no Redis — using the in-process cache")

    broker_url = os.environ.get("CELERY_BROKER_URL")
    if broker_url:
        say("tasks: Celery broker from CELERY_BROKER_URL (run `make worker` too)")
    elif broker_url is None and redis_url:
        exports["CELERY_BROKER_URL"] = redis_url
        exports["REGISTRY_DEMO_WORKER"] = "1"
        say(f"tasks: a Celery worker on Redis ({redis_url}), started in the background")
    else:
        say("tasks: no broker — tasks run instantly (eagerly) inside the web process")

    if has_aws_credentials() and not os.environ.get("AWS_ENDPOINT_URL"):
        say("AWS: using your AWS credentials (real AWS!)")
    else:
        port = os.environ.get("MOTO_PORT", "5055")
        if not os.environ.get("AWS_ENDPOINT_URL"):
            exports["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
            exports["REGISTRY_DEMO_EMULATOR"] = "1"  # run_demo.sh starts it
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or exports["AWS_ENDPOINT_URL"]
        exports["AWS_ACCESS_KEY_ID"] = os.environ.get("AWS_ACCESS_KEY_ID", "demo")
        exports["AWS_SECRET_ACCESS_KEY"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "demo")
        exports["AWS_DEFAULT_REGION"] = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        exports["REGISTRY_EMULATOR"] = "1"
        exports["MOTO_PORT"] = port
        say(f"AWS: no credentials — using the LOCAL AWS EMULATOR (moto server) at {endpoint}")
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
