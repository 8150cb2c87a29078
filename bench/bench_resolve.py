#!/usr/bin/env python
"""Benchmark of the resolver over HTTP: ``make bench-resolve``.

Starts, on loopback only, its own moto server (AWS emulator, port 5111) and gunicorn (port 8101,
2 sync workers, DEBUG=0, throttles off) on a fresh PostgreSQL database ``reg_bench`` and Redis db
12; seeds two templates (a direct mapping in us-east-1, and one whose image lives only in us-west-2
so us-east-1 resolves ``cross_region`` after searching three fallback regions); then measures with
a pure-Python load generator (threads, one keep-alive ``http.client`` connection each):

- ``/healthz`` (database + cache round trip: the "trivial endpoint" baseline),
- warm resolve (answer in the Redis cache) for both templates,
- cold resolve (``refresh=true`` as a moderator: no resolution or availability cache, every AWS
  call made against the emulator) for both templates,

each with 1, 10 and 100 concurrent clients for a fixed time, printing requests/s, p50, p99 and
errors, and the warm-resolve/healthz throughput ratio. Stops by itself in about two minutes and
stops what it started. Nothing here talks to a non-loopback address.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = "127.0.0.1"
WEB_PORT = int(os.environ.get("BENCH_WEB_PORT", "8101"))
MOTO_PORT = int(os.environ.get("BENCH_MOTO_PORT", "5111"))
PG = os.environ.get("BENCH_PG", "postgres://postgres:postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "reg_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))            # per scenario
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,10,100").split(",")]
MAX_REQUESTS = int(os.environ.get("BENCH_MAX_REQUESTS", "20000"))  # per scenario, whatever the speed

ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "registry.settings.base",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789abcdef",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_LOG_LEVEL": "WARNING",
    "DATABASE_URL": f"{PG}/{DB_NAME}",
    "REDIS_URL": REDIS_URL,
    "CELERY_BROKER_URL": "",
    "REGISTRY_THROTTLE_ANON": "off",
    "REGISTRY_THROTTLE_USER": "off",
    "REGISTRY_THROTTLE_WRITE": "off",
    "AWS_ENDPOINT_URL": f"http://{HOST}:{MOTO_PORT}",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "2",
}
ENV.pop("PROMETHEUS_MULTIPROC_DIR", None)


# --- processes ----------------------------------------------------------------------------------------

def wait_http(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"nothing answered on {HOST}:{port}{path} within {timeout:.0f} s")


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)     # our own process group only (start_new_session)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def create_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


# --- seed ------------------------------------------------------------------------------------------------

def seed() -> dict:
    """Images in the emulator, two templates, a moderator token. Runs Django in this process."""
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import boto3
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from rest_framework.authtoken.models import Token

    from templates.models import Template

    cache.clear()   # Redis db 12 is the benchmark's own

    def image(region: str, name: str) -> str:
        ec2 = boto3.client("ec2", region_name=region)
        base = ec2.describe_images(Owners=["amazon"], Filters=[
            {"Name": "architecture", "Values": ["x86_64"]}, {"Name": "root-device-type", "Values": ["ebs"]}]
        )["Images"][0]["ImageId"]
        instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1, InstanceType="t3.micro")
        return ec2.create_image(InstanceId=instance["Instances"][0]["InstanceId"], Name=name)["ImageId"]

    direct_image = image("us-east-1", "cws-bench-direct")
    west_image = image("us-west-2", "cws-bench-west")
    packages = {"system": ["git", "build-essential"], "pip": ["numpy", "pandas"]}
    direct = Template.objects.create(
        slug="bench-direct", name="Bench Direct (x86)", base="ubuntu-22.04",
        document={"name": "Bench Direct (x86)", "base": "ubuntu-22.04", "package_manager": "apt",
                  "packages": packages, "ami_config": {"ami_mappings": {"us-east-1": direct_image},
                                                       "ssh_user": "ubuntu"}})
    cross = Template.objects.create(
        slug="bench-cross", name="Bench Cross Region", base="ubuntu-22.04",
        document={"name": "Bench Cross Region", "base": "ubuntu-22.04", "package_manager": "apt",
                  "packages": packages,
                  "ami_config": {"ami_mappings": {"us-west-2": west_image}, "ssh_user": "ubuntu",
                                 # searched in us-east-1 and in every fallback region (owner pinned)
                                 "ami_search": {"owner": "123456789012", "name_pattern": "cws-bench-nothing-*"},
                                 "fallback_strategy": "cross_region"}})
    admin = get_user_model().objects.create_superuser("bench-admin", "bench@example.org", "bench-password-123")
    token = Token.objects.create(user=admin).key
    from django.db import connections

    connections.close_all()
    return {"direct": direct.slug, "cross": cross.name, "direct_image": direct_image, "west_image": west_image,
            "token": token}


# --- load generator ---------------------------------------------------------------------------------------

def load(path: str, clients: int, seconds: float, headers: dict | None = None, expect=None) -> dict:
    """``clients`` threads, each with one connection, GET ``path`` until ``seconds`` pass (or the
    request budget is spent). Returns throughput, latency percentiles and errors."""
    headers = {"Connection": "keep-alive", **(headers or {})}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    budget = [MAX_REQUESTS]
    first_error: list[str] = []
    stop_at = time.perf_counter() + seconds
    start_gate = threading.Barrier(clients + 1)

    def client():
        conn = http.client.HTTPConnection(HOST, WEB_PORT, timeout=60)
        mine, bad = [], 0
        start_gate.wait()
        while time.perf_counter() < stop_at:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                ok = response.status == 200 and (expect is None or expect(body))
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()        # gunicorn sync workers close after each response
            except (OSError, http.client.HTTPException) as exc:
                ok, body = False, str(exc).encode()
                conn.close()
                conn = http.client.HTTPConnection(HOST, WEB_PORT, timeout=60)
            mine.append(time.perf_counter() - t0)
            if not ok:
                bad += 1
                if not first_error:
                    first_error.append(body[:300].decode(errors="replace"))
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "rps": len(latencies) / elapsed if elapsed else 0.0,
            "p50": pct(0.50), "p99": pct(0.99), "mean": statistics.fmean(latencies) * 1000 if latencies else 0,
            "errors": errors[0], "first_error": first_error[0] if first_error else ""}


def method_is(expected: str):
    return lambda body: json.loads(body).get("resolution_method") == expected


def main() -> int:
    began = time.time()
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/bench_resolve"))
    logs.mkdir(parents=True, exist_ok=True)
    moto = web = None
    try:
        create_database()
        moto = start([str(Path(PY).parent / "moto_server"), "-H", HOST, "-p", str(MOTO_PORT)], logs / "moto.log")
        wait_http(MOTO_PORT, "/moto-api/")
        subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=ENV, check=True,
                       stdout=subprocess.DEVNULL)
        data = seed()
        web = start([str(Path(PY).parent / "gunicorn"), "registry.wsgi", "-b", f"{HOST}:{WEB_PORT}", "-w", "2",
                     "--worker-class", "sync", "--backlog", "2048", "--access-logfile", "-", "--log-level",
                     "warning"], logs / "gunicorn.log")
        wait_http(WEB_PORT, "/healthz")

        direct = f"/api/v1/ami/resolve/{quote(data['direct'])}?region=us-east-1"
        cross = f"/api/v1/ami/resolve/{quote(data['cross'], safe='')}?region=us-east-1"
        moderator = {"Authorization": f"Token {data['token']}"}
        # Prime the caches and check the answers once.
        for path, method in ((direct, "direct_mapping"), (cross, "cross_region")):
            conn = http.client.HTTPConnection(HOST, WEB_PORT, timeout=60)
            conn.request("GET", path)
            body = json.loads(conn.getresponse().read())
            assert body["resolution_method"] == method, body
            print(f"primed {method:15s} ami_id={body['ami_id']} in {body['duration_ms']:.1f} ms "
                  f"(tried: {', '.join(t['tier'] + '=' + t['outcome'] for t in body['tried'])})")

        scenarios = [
            ("healthz", "/healthz", {}, None),
            ("warm direct", direct, {}, method_is("direct_mapping")),
            ("warm cross-region", cross, {}, method_is("cross_region")),
            ("cold direct", direct + "&refresh=true", moderator, method_is("direct_mapping")),
            ("cold cross-region", cross + "&refresh=true", moderator, method_is("cross_region")),
        ]
        results: dict[tuple[str, int], dict] = {}
        print(f"\n{'scenario':20s} {'clients':>7s} {'requests':>9s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} "
              f"{'errors':>6s}")
        for name, path, headers, expect in scenarios:
            for clients in CONCURRENCY:
                r = load(path, clients, SECONDS, headers, expect)
                results[(name, clients)] = r
                print(f"{name:20s} {clients:7d} {r['requests']:9d} {r['rps']:9.1f} {r['p50']:8.2f} {r['p99']:8.2f} "
                      f"{r['errors']:6d}" + (f"   first error: {r['first_error'][:120]}" if r["errors"] else ""),
                      flush=True)

        print("\nwarm resolve throughput / healthz throughput (same run):")
        for clients in CONCURRENCY:
            base = results[("healthz", clients)]["rps"] or float("nan")
            print(f"  {clients:3d} clients: direct {results[('warm direct', clients)]['rps'] / base:.2f}, "
                  f"cross-region {results[('warm cross-region', clients)]['rps'] / base:.2f}")

        # One multi-region test over every commercial region (POST /ami/test, all_regions).
        conn = http.client.HTTPConnection(HOST, WEB_PORT, timeout=120)
        t0 = time.perf_counter()
        conn.request("POST", "/api/v1/ami/test", body=json.dumps({"template_name": data["direct"],
                                                                  "all_regions": True}),
                     headers={"Content-Type": "application/json"})
        body = json.loads(conn.getresponse().read())
        print(f"\nPOST /ami/test all_regions: {body['total_regions']} regions, overall {body['overall_status']}, "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")
        errors = sum(r["errors"] for r in results.values())
        print(f"\ntotal errors: {errors}; wall time {time.time() - began:.0f} s; "
              f"machine: {os.cpu_count()} cores, gunicorn 2 sync workers, Python load generator")
        return 1 if errors else 0
    finally:
        stop(web)
        stop(moto)


if __name__ == "__main__":
    sys.exit(main())
