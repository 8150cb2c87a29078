#!/usr/bin/env python
"""The catalogue at size, over HTTP with wrk: ``make bench``.

On loopback only, with its own processes: a moto server (AWS emulator, port 5112), gunicorn
(port 8102, 2 sync workers, DEBUG=0, throttles off, production settings) on the PostgreSQL
database ``reg_bench_scale`` and Redis db 13 on port 6379. The database is seeded once with ``seed_scale``
(100,000 AMIs, 200,000 copies, 1 M ratings, 5 M downloads; ~3 minutes) and reused by later runs
(``BENCH_RESEED=1`` seeds again). Each run re-creates the resolver's two benchmark templates and
their images in the fresh emulator (``bench/bench_resolve.py``'s seed).

Every scenario runs wrk for ``BENCH_SECONDS`` (default 5) with 1 and with 4 connections (the mix
with 100 connections for 30 s), and one table is printed: scenario, connections, req/s, p50,
p95, p99, errors (socket errors, timeouts and HTTP status >= 400), and the throughput ratio to
``/healthz`` with the same connections, measured just before and just after the scenario (the
mean of the two, printed as ``healthz``). Each scenario starts on an idle
server (``settle``: what the previous one left in flight has finished). Stops by itself and stops
what it started.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("BENCH_WEB_PORT", "8102")
os.environ.setdefault("BENCH_MOTO_PORT", "5112")
os.environ.setdefault("BENCH_DB", "reg_bench_scale")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_resolve as base  # noqa: E402  (processes, environment and the resolver's seed)

HOST, WEB_PORT, MOTO_PORT, ENV, PY = base.HOST, base.WEB_PORT, base.MOTO_PORT, base.ENV, base.PY
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
MIX_SECONDS = int(os.environ.get("BENCH_MIX_SECONDS", "30"))
# Each scenario's ratio is to the mean of the /healthz runs just before and just after it: this
# VM's speed drifts within a run (/healthz at one connection 545-1,092 req/s between runs minutes
# apart, and two scenarios doing the same work 2x apart in one run), so a /healthz measured once,
# minutes earlier, compared a scenario with another machine.
HEALTHZ_SECONDS = int(os.environ.get("BENCH_HEALTHZ_SECONDS", "2"))
SIZE = {"amis": int(os.environ.get("BENCH_AMIS", "100000")), "ratings": int(os.environ.get("BENCH_RATINGS", "1000000")),
        "downloads": int(os.environ.get("BENCH_DOWNLOADS", "5000000"))}
LUA = Path(__file__).resolve().parent / "wrk_report.lua"
# The setting (and docs/operations.md's): 2 sync workers on 2 cores. BENCH_WORKERS=4 shows
# what more workers than cores buy when requests wait on PostgreSQL and Redis.
WORKERS = os.environ.get("BENCH_WORKERS", "2")
# A developer's shortcut: only the scenarios whose names contain one of these comma-separated words
# (``BENCH_ONLY="warm resolve,mix"``); ``/healthz`` always runs, for the ratios.
ONLY = [word.strip() for word in os.environ.get("BENCH_ONLY", "").split(",") if word.strip()]


def selected(name: str) -> bool:
    return not ONLY or name == "/healthz" or any(word in name for word in ONLY)


def manage(*args: str) -> str:
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=ENV, check=True, capture_output=True,
                          text=True).stdout


def ensure_seeded() -> None:
    import psycopg

    with psycopg.connect(f"{base.PG}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [base.DB_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{base.DB_NAME}"')
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput")  # production settings serve hashed static files
    with psycopg.connect(f"{base.PG}/{base.DB_NAME}", autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM ami_registry").fetchone()[0]
        if have < SIZE["amis"] or os.environ.get("BENCH_RESEED") == "1":
            print(f"seeding {SIZE} (the catalogue holds {have} AMIs) ...", flush=True)
            t0 = time.time()
            for line in manage("seed_scale", "--amis", str(SIZE["amis"]), "--ratings", str(SIZE["ratings"]),
                               "--downloads", str(SIZE["downloads"]), "--replace").strip().splitlines():
                print("  " + line, flush=True)
            print(f"  seeded in {time.time() - t0:.0f} s", flush=True)
        # The resolver's benchmark templates point at images of the previous run's emulator.
        conn.execute("DELETE FROM workstation_templates WHERE slug IN ('bench-direct', 'bench-cross')")
        conn.execute("DELETE FROM authtoken_token WHERE user_id IN (SELECT id FROM auth_user "
                     "WHERE username = 'bench-admin')")
        conn.execute("DELETE FROM auth_user WHERE username = 'bench-admin'")
        sample = conn.execute("SELECT ami_id FROM ami_registry WHERE status = 'approved' AND visibility = 'public' "
                              "ORDER BY download_count DESC LIMIT 1").fetchone()[0]
    os.environ["BENCH_SAMPLE_AMI"] = sample


# Stands for the scenario whose paths are drawn per run (``new_queries``).
NEW_QUERIES: list[str] = []


def _vocabulary_words() -> list[str]:
    """The catalogue's plain words (no usernames or numbers): what people search for."""
    with _bench_db() as conn:
        return [w for (w,) in conn.execute("SELECT word FROM ami_search_words WHERE word ~ '^[a-z]{4,}$' "
                                           "ORDER BY word").fetchall()]


def wrk(paths: list[str], connections: int, seconds: int, auth: str = "") -> dict:
    env = {**os.environ, "BENCH_PATHS": "|".join(paths), "BENCH_AUTH": auth}
    out = subprocess.run(["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s",
                          "--timeout", "10s", "-s", str(LUA), f"http://{HOST}:{WEB_PORT}"],
                         env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    r = json.loads(line[len("BENCH_JSON "):])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "p50": r["p50_us"] / 1000, "p95": r["p95_us"] / 1000,
            "p99": r["p99_us"] / 1000, "errors": errors, "timeouts": r["timeout"], "requests": r["requests"]}


def check(path: str, auth: str = "") -> None:
    conn = http.client.HTTPConnection(HOST, WEB_PORT, timeout=60)
    conn.request("GET", path, headers={"Authorization": auth} if auth else {})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}: {body[:300]!r}")


def settle(timeout: float = 20.0) -> float:
    """Wait until every worker is idle: wrk stops on time, but the requests it leaves in flight (a
    new query's first answer takes up to ~0.7 s) still hold workers, and would otherwise be charged
    to the next scenario's first requests. Idle means as many simultaneous ``/healthz`` requests as
    there are workers, all answered within 20 ms, twice running. Returns the seconds waited."""
    began = time.perf_counter()
    workers = int(WORKERS)

    def healthz(_: int) -> float:
        t0 = time.perf_counter()
        check("/healthz")
        return time.perf_counter() - t0

    calm = 0
    with ThreadPoolExecutor(workers) as pool:
        while calm < 2 and time.perf_counter() - began < timeout:
            calm = calm + 1 if max(pool.map(healthz, range(workers))) < 0.020 else 0
            time.sleep(0.05)
    return time.perf_counter() - began


def _bench_db():
    import psycopg

    return psycopg.connect(f"{base.PG}/{base.DB_NAME}", autocommit=True)


def statements_reset() -> bool:
    """Whether pg_stat_statements is loaded (``shared_preload_libraries``; a server setting, so the
    bench never changes it): then its counters are reset before the measured runs."""
    import psycopg

    with _bench_db() as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
        except psycopg.Error as exc:
            print(f"  pg_stat_statements not available ({str(exc).strip().splitlines()[0]}): no statement table")
            return False
    return True


def statements_print(limit: int = 12) -> None:
    """The statements of the measured runs that took the most database time, and their means."""
    with _bench_db() as conn:
        rows = conn.execute("""
            SELECT calls, total_exec_time, mean_exec_time, regexp_replace(query, '\\s+', ' ', 'g')
            FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            ORDER BY total_exec_time DESC LIMIT %s""", [limit]).fetchall()
    print(f"\npg_stat_statements, the measured runs' top {limit} by total time:")
    print(f"{'calls':>8s} {'total ms':>10s} {'mean ms':>8s}  statement")
    for calls, total, mean, query in rows:
        print(f"{calls:8d} {total:10.0f} {mean:8.2f}  {query[:110]}")


def main() -> int:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    began = time.time()
    load_before = f"{os.getloadavg()[0]:.1f}"
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/bench_scale"))
    logs.mkdir(parents=True, exist_ok=True)
    moto = web = None
    try:
        moto = base.start([str(Path(PY).parent / "moto_server"), "-H", HOST, "-p", str(MOTO_PORT)], logs / "moto.log")
        base.wait_http(MOTO_PORT, "/moto-api/")
        ensure_seeded()
        data = base.seed()
        web = base.start([str(Path(PY).parent / "gunicorn"), "registry.wsgi", "-b", f"{HOST}:{WEB_PORT}", "-w", WORKERS,
                          "--worker-class", "sync", "--backlog", "2048", "--access-logfile", "-", "--log-level",
                          "warning"], logs / "gunicorn.log")
        base.wait_http(WEB_PORT, "/healthz")
        ami = os.environ["BENCH_SAMPLE_AMI"]
        api = "/api/v1/amis/"
        warm = f"/api/v1/ami/resolve/{quote(data['direct'])}?region=us-east-1"
        cross = f"/api/v1/ami/resolve/{quote(data['cross'], safe='')}?region=us-east-1&refresh=true"
        moderator = f"Token {data['token']}"
        q = lambda **p: api + "?" + urlencode(p)  # noqa: E731
        scenarios = [
            ("/healthz", ["/healthz"], ""),
            ("browse page 1", [api], ""),
            ("facets: category+arch", [q(category="Machine Learning", architecture="x86_64")], ""),
            ("facets: region+verified", [q(region="eu-west-1", verified="true")], ""),
            ("search: one word", [q(q="pytorch")], ""),
            ("search: two words", [q(q="gpu notebook")], ""),
            ("search: typo", [q(q="pyhton")], ""),
            ("order: -rating_avg", [q(ordering="-rating_avg")], ""),
            ("order: -download_count", [q(ordering="-download_count")], ""),
            ("order: -created_at", [q(ordering="-created_at")], ""),
            ("order: name", [q(ordering="name")], ""),
            ("HTML catalogue", ["/"], ""),
            ("HTML catalogue search", ["/?q=genomics"], ""),
            ("AMI API", [f"{api}{ami}"], ""),
            ("AMI page (HTML)", [f"/amis/{ami}/"], ""),
            ("AMI stats", [f"{api}{ami}/stats"], ""),
            # Every request a query never asked before (two words of the catalogue's vocabulary,
            # drawn anew each run): nothing cached — its facets, count and ranked page computed.
            ("search: new queries (uncached)", NEW_QUERIES, ""),
            ("warm resolve", [warm], ""),
            ("cold cross-region resolve", [cross], moderator),
        ]
        scenarios = [scenario for scenario in scenarios if selected(scenario[0])]
        words = _vocabulary_words()
        pairs = random.Random(time.time_ns()).sample([(a, b) for a in words for b in words if a < b],
                                                     min(4000, len(words) * (len(words) - 1) // 2))
        new_queries = {1: [q(q=f"{a} {b}") for a, b in pairs[:2000]], 4: [q(q=f"{a} {b}") for a, b in pairs[2000:]]}
        for name, paths, auth in scenarios:   # every answer 200 before measuring; caches primed
            if paths is NEW_QUERIES:
                check(q(q="never asked before"))
                continue
            for path in paths:
                t0 = time.perf_counter()
                check(path, auth)
                print(f"  primed {name}: {(time.perf_counter() - t0) * 1000:.0f} ms", flush=True)
        statements = statements_reset()
        rows = []
        for connections in (1, 4):
            around = None  # the latest /healthz req/s: before the next scenario
            for name, paths, auth in scenarios:
                settle()
                r = wrk(new_queries[connections] if paths is NEW_QUERIES else paths, connections, SECONDS, auth)
                if name == "/healthz":
                    around = r["rps"]
                    rows.append((name, connections, r, r["rps"], 1.0))
                else:
                    before = around
                    settle()
                    around = wrk(["/healthz"], connections, HEALTHZ_SECONDS)["rps"]
                    reference = (before + around) / 2 if before else around
                    rows.append((name, connections, r, reference, r["rps"] / reference))
                print(f"  measured {name} x{connections}: {r['rps']:.0f} req/s p95 {r['p95']:.1f} ms", flush=True)
        mix = [api, q(q="pytorch"), q(category="Genomics"), q(q="gpu notebook"), warm, q(ordering="-created_at"),
               f"{api}{ami}", "/"]
        mix_name = f"mix browse/search/resolve {MIX_SECONDS}s"
        if selected(mix_name):
            settle()
            healthz100 = wrk(["/healthz"], 100, SECONDS)
            settle()
            r = wrk(mix, 100, MIX_SECONDS)
            settle()
            reference = (healthz100["rps"] + wrk(["/healthz"], 100, HEALTHZ_SECONDS)["rps"]) / 2
            rows.append(("/healthz", 100, healthz100, healthz100["rps"], 1.0))
            rows.append((mix_name, 100, r, reference, r["rps"] / reference))

        print(f"\n{'scenario':32s} {'conns':>5s} {'req/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
              f"{'errors':>6s} {'healthz':>8s} {'÷healthz':>8s}")
        for name, connections, r, reference, ratio in rows:
            print(f"{name:32s} {connections:5d} {r['rps']:8.1f} {r['p50']:8.2f} {r['p95']:8.2f} {r['p99']:8.2f} "
                  f"{r['errors']:6d} {reference:8.0f} {ratio:8.2f}")
        if statements:
            statements_print()
        errors = sum(r["errors"] for _, _, r, _, _ in rows)
        print(f"\ntotal errors: {errors}; wall time {time.time() - began:.0f} s; machine: {os.cpu_count()} cores; "
              f"gunicorn {WORKERS} sync workers; wrk on the same machine; load average before/after "
              f"{load_before} / {os.getloadavg()[0]:.1f}")
        return 1 if errors else 0
    finally:
        base.stop(web)
        base.stop(moto)


if __name__ == "__main__":
    sys.exit(main())
