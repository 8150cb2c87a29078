#!/usr/bin/env python
"""Write load against real processes: ``make bench-load``.

Starts, on loopback only, its own AWS emulator (``bench/moto_timed.py``: moto, with images that
stay ``pending`` for a few seconds as in AWS), gunicorn (2 sync workers, DEBUG=0, throttles off), and
a real Celery worker on Redis, on a fresh PostgreSQL database (``BENCH_DB``, default
``reg_bench_load``). A publisher signs up over the API and links an emulator AWS account
(``POST /me/aws-accounts``, as ``docs/aws-accounts.md`` says; moto lets any role be assumed, so it
verifies); every image and instance below is made in that account. Then:

A. 100 concurrent resolutions: 100 clients at once, each ``BENCH_RESOLVE_REQUESTS`` GETs of
   ``/ami/resolve`` — one shared template (warm cache), then one template per client (cold first).
B. 50 running instances, 50 ``POST /ami/create`` released together (``multi_region``: one more
   region); each client also re-asks ``POST /amis/{id}/copy`` for that region until it is answered
   202, racing the create's own copy. Polls ``/ami/status`` until all complete, then counts in the
   emulator (boto3, by the ``RegistryId`` tag): one image per creation in the source region and one
   copy in the target — and checks the registry's rows agree. Then the same 50 requests again
   (``POST /ami/create`` has no idempotency key: a second POST is a second image, by design) to
   show each makes exactly one image and one copy.
C. 500 registered AMIs, 500 ``POST /amis/{id}/copy {"regions": ["eu-west-1"]}`` at once, with
   ``REGISTRY_COPY_CONCURRENCY_PER_REGION=BENCH_COPY_LIMIT`` (20). Copies in flight are counted
   outside the code under test: the emulator logs every CopyImage with the moment its copy turns
   available (exact high-water per destination region), a sampler polls the emulator for pending
   images, and another the Redis semaphore's holders. All 500 must end available, once each.

Prints a table of checks and exits 1 if any failed. Stops everything it started (also on Ctrl-C).
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("BENCH_WEB_PORT", "8103")
os.environ.setdefault("BENCH_MOTO_PORT", "5113")
os.environ.setdefault("BENCH_DB", "reg_bench_load")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_resolve as base  # noqa: E402  (processes and environment)

HOST, WEB_PORT, MOTO_PORT, PY = base.HOST, base.WEB_PORT, base.MOTO_PORT, base.PY
MOTO_URL = f"http://{HOST}:{MOTO_PORT}"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


RESOLVE_CLIENTS = _int("BENCH_RESOLVE_CLIENTS", 100)
RESOLVE_REQUESTS = _int("BENCH_RESOLVE_REQUESTS", 20)     # per client
CREATES = _int("BENCH_CREATES", 50)
COPIES = _int("BENCH_COPIES", 500)
COPY_LIMIT = _int("BENCH_COPY_LIMIT", 20)
COPY_SECONDS = float(os.environ.get("BENCH_COPY_SECONDS", "3"))      # a copy's time in `pending`
CREATE_SECONDS = float(os.environ.get("BENCH_CREATE_SECONDS", "2"))  # a new image's time in `pending`
POLL_SECONDS = _int("BENCH_POLL_SECONDS", 1)                         # REGISTRY_POLL_SECONDS
WORKER_POOL = os.environ.get("BENCH_WORKER_POOL", "prefork")
WORKER_CONCURRENCY = _int("BENCH_WORKER_CONCURRENCY", 4)
DEADLINE = float(os.environ.get("BENCH_WAIT_SECONDS", "420"))        # per scenario, for the work to finish

SOURCE, B_TARGET, C_TARGET = "us-east-1", "us-west-2", "eu-west-1"
ACCOUNT = "111122223333"            # the publisher's emulator account (not the registry's own)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/cws-registry-bench"
EXTERNAL_ID = "cws-bench-external-id"
PLACEHOLDER_IMAGE = "ami-0de0000000000000a"   # instances' source image (the emulator loads no stock AMIs)

_redis_base, _, _redis_db = base.REDIS_URL.rpartition("/")
BROKER_URL = f"{_redis_base}/{int(_redis_db or 0) + 1}"
LOGS = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/bench_load"))
EVENTS = LOGS / "moto_copies.jsonl"

base.ENV.update({
    "CELERY_BROKER_URL": BROKER_URL,
    "REGISTRY_POLL_SECONDS": str(POLL_SECONDS),
    "REGISTRY_COPY_CONCURRENCY_PER_REGION": str(COPY_LIMIT),
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    "BENCH_COPY_SECONDS": str(COPY_SECONDS),
    "BENCH_CREATE_SECONDS": str(CREATE_SECONDS),
    "BENCH_MOTO_EVENTS": str(EVENTS),
})
ENV = base.ENV

CHECKS: list[tuple[str, str, bool]] = []   # (what, measured, passed)


def check(what: str, measured, passed: bool) -> bool:
    CHECKS.append((what, str(measured), bool(passed)))
    print(f"  [{'ok' if passed else 'FAIL'}] {what}: {measured}", flush=True)
    return passed


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


# --- HTTP -----------------------------------------------------------------------------------------------

def api(method: str, path: str, body=None, token: str = "", timeout: float = 300) -> tuple[int, dict, float]:
    """One request on a fresh connection (gunicorn's sync workers close each one anyway)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Token {token}"
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, WEB_PORT, timeout=timeout)
    try:
        conn.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return 0, {"detail": f"{exc.__class__.__name__}: {exc}"}, time.perf_counter() - t0
    finally:
        conn.close()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {"detail": raw[:300].decode(errors="replace")}
    return status, data, time.perf_counter() - t0


def together(n: int, work) -> list:
    """Run ``work(i)`` in ``n`` threads released at the same moment; results in order."""
    gate = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        gate.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 — reported as that client's failure
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# --- the emulator, from outside ----------------------------------------------------------------------------

def publisher_ec2(region: str):
    """boto3 EC2 in the publisher's emulator account (AssumeRole, as the registry does)."""
    import boto3

    creds = boto3.client("sts", region_name=region, endpoint_url=MOTO_URL, aws_access_key_id="bench",
                         aws_secret_access_key="bench").assume_role(
        RoleArn=ROLE_ARN, RoleSessionName="bench-load", ExternalId=EXTERNAL_ID)["Credentials"]
    return boto3.client("ec2", region_name=region, endpoint_url=MOTO_URL, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


def images(ec2, **filters) -> list[dict]:
    flt = [{"Name": k.replace("_", ":", 1) if k.startswith("tag_") else k, "Values": v} for k, v in filters.items()]
    return ec2.describe_images(Owners=["self"], Filters=flt)["Images"] if flt else \
        ec2.describe_images(Owners=["self"])["Images"]


def by_registry_id(ec2) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for image in images(ec2):
        tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
        if tags.get("RegistryId"):
            found.setdefault(tags["RegistryId"], []).append(image)
    return found


def wait_available(ec2, image_ids: list[str], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = {i["State"] for i in ec2.describe_images(ImageIds=image_ids)["Images"]}
        if states == {"available"}:
            return
        time.sleep(0.3)
    raise SystemExit(f"images did not become available within {timeout:.0f} s")


def in_flight_high_water() -> dict[str, int]:
    """Per destination region, the most copies the emulator ever had pending at one instant
    (from its CopyImage log: each copy is in flight from its start to its ready time)."""
    points: dict[str, list[tuple[float, int]]] = {}
    if EVENTS.exists():
        for line in EVENTS.read_text().splitlines():
            event = json.loads(line)
            points.setdefault(event["region"], []).extend([(event["start"], 1), (event["ready"], -1)])
    high = {}
    for region, marks in points.items():
        running = peak = 0
        for _, delta in sorted(marks, key=lambda m: (m[0], m[1])):   # a copy ending frees its slot first
            running += delta
            peak = max(peak, running)
        high[region] = peak
    return high


class Sampler:
    """Polls, in a thread, how many copies are in flight to ``region``: the emulator's pending
    images (every ``moto_every`` s), the Redis semaphore's holders and the operations table's running
    copies that have an image (every ``fast_every`` s). Keeps the maxima."""

    def __init__(self, region: str, moto_every: float = 0.25, fast_every: float = 0.05):
        import redis

        self.region, self.moto_every, self.fast_every = region, moto_every, fast_every
        self.ec2 = publisher_ec2(region)
        self.redis = redis.Redis.from_url(base.REDIS_URL)
        self.max = {"moto_pending": 0, "redis_holders": 0, "db_running": 0}
        self.samples = {k: 0 for k in self.max}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._moto, daemon=True),
                         threading.Thread(target=self._fast, daemon=True)]

    def _note(self, key: str, value: int) -> None:
        self.max[key] = max(self.max[key], value)
        self.samples[key] += 1

    def _moto(self):
        while not self._stop.wait(self.moto_every):
            try:
                self._note("moto_pending", len(images(self.ec2, state=["pending"])))
            except Exception:  # noqa: BLE001 — a missed sample is only a missed sample
                pass

    def _fast(self):
        from django.db import connection

        from amis.models import Operation

        while not self._stop.wait(self.fast_every):
            self._note("redis_holders", self.redis.zcard(f"registry:copy-slots:{self.region}"))
            self._note("db_running", Operation.objects.filter(kind=Operation.Kind.COPY_IMAGE, region=self.region,
                                                              state=Operation.State.RUNNING)
                       .exclude(image_id="").count())
        connection.close()

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join()


# --- processes and seed ----------------------------------------------------------------------------------

def start_all() -> list[subprocess.Popen]:
    import redis

    LOGS.mkdir(parents=True, exist_ok=True)
    EVENTS.write_text("")
    for url in (base.REDIS_URL, BROKER_URL):   # the bench's own Redis databases: cache + slots, broker
        redis.Redis.from_url(url).flushdb()
    base.create_database()
    procs = [base.start([PY, "bench/moto_timed.py", "-H", HOST, "-p", str(MOTO_PORT)], LOGS / "moto.log")]
    base.wait_http(MOTO_PORT, "/moto-api/")
    subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=ENV, check=True,
                   stdout=subprocess.DEVNULL)
    procs.append(base.start([str(Path(PY).parent / "gunicorn"), "registry.wsgi", "-b", f"{HOST}:{WEB_PORT}",
                             "-w", "2", "--worker-class", "sync", "--backlog", "2048", "--timeout", "120",
                             "--access-logfile", "-", "--log-level", "warning"], LOGS / "gunicorn.log"))
    # Queues default + aws, as in docker-compose.yml. No beat: every worker runs the stale sweep
    # itself (amis.tasks), and nothing else here is periodic.
    worker_log = LOGS / "worker.log"
    procs.append(base.start([PY, "-m", "celery", "-A", "registry", "worker", "-Q", "default,aws", "-l", "info",
                             "--pool", WORKER_POOL, "-c", str(WORKER_CONCURRENCY), "-n", "bench-load@%h",
                             "--without-gossip", "--without-mingle", "--without-heartbeat"], worker_log))
    base.wait_http(WEB_PORT, "/healthz")
    deadline = time.time() + 60
    while "ready." not in worker_log.read_text():
        if procs[-1].poll() is not None or time.time() > deadline:
            raise SystemExit(f"the Celery worker did not start:\n{worker_log.read_text()[-3000:]}")
        time.sleep(0.2)
    return procs


def django_setup() -> None:
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def seed_templates() -> None:
    """The image the resolution templates map to (in the registry's own account, where the
    resolver looks), the templates, via the ORM as bench_resolve does."""
    import boto3

    from templates.models import Template

    ec2 = boto3.client("ec2", region_name=SOURCE, endpoint_url=MOTO_URL, aws_access_key_id="bench",
                       aws_secret_access_key="bench")
    instance = ec2.run_instances(ImageId=PLACEHOLDER_IMAGE, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    image = ec2.create_image(InstanceId=instance["Instances"][0]["InstanceId"], Name="cws-bench-load-resolve")["ImageId"]
    wait_available(ec2, [image])
    packages = {"system": ["git"], "pip": ["numpy"]}
    for slug, name in [("bench-load", "Bench Load"),
                       *[(f"bench-resolve-{i:03d}", f"Bench Resolve {i:03d}") for i in range(RESOLVE_CLIENTS)]]:
        Template.objects.create(slug=slug, name=name, base="ubuntu-22.04", category="Benchmark", document={
            "name": name, "base": "ubuntu-22.04", "package_manager": "apt", "packages": packages,
            "ami_config": {"ami_mappings": {SOURCE: image}, "ssh_user": "ubuntu"}})


def publisher() -> str:
    """Sign up, link the emulator account through the API; returns the API token."""
    status, body, _ = api("POST", "/auth/register", {"username": "bench-publisher", "email": "pub@example.org",
                                                     "password": "bench-password-Load-123"})
    if status != 201:
        raise SystemExit(f"sign-up failed: {status} {body}")
    token = body["token"]
    status, link, _ = api("POST", "/me/aws-accounts", {"role_arn": ROLE_ARN, "external_id": EXTERNAL_ID}, token)
    if status not in (200, 201) or not link.get("verified"):
        raise SystemExit(f"linking {ROLE_ARN} failed: {status} {link}")
    return token


# --- scenario A: resolutions ----------------------------------------------------------------------------

def resolve_burst(paths: list[str]) -> dict:
    """len(paths) clients at once; client i GETs paths[i] RESOLVE_REQUESTS times (one connection
    each, reopened when gunicorn closes it). 200 with direct_mapping counts as success."""
    def client(i):
        mine, bad, first = [], 0, ""
        conn = http.client.HTTPConnection(HOST, WEB_PORT, timeout=60)
        for _ in range(RESOLVE_REQUESTS):
            t0 = time.perf_counter()
            try:
                conn.request("GET", paths[i], headers={"Connection": "keep-alive"})
                response = conn.getresponse()
                raw = response.read()
                ok = response.status == 200 and json.loads(raw).get("resolution_method") == "direct_mapping"
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                ok, raw = False, str(exc).encode()
                conn.close()
                conn = http.client.HTTPConnection(HOST, WEB_PORT, timeout=60)
            mine.append(time.perf_counter() - t0)
            if not ok:
                bad += 1
                first = first or raw[:200].decode(errors="replace")
        conn.close()
        return mine, bad, first

    t0 = time.perf_counter()
    results = together(len(paths), client)
    elapsed = time.perf_counter() - t0
    latencies = [x for r in results if not isinstance(r, Exception) for x in r[0]]
    errors = sum(r[1] if not isinstance(r, Exception) else RESOLVE_REQUESTS for r in results)
    first = next((r[2] if not isinstance(r, Exception) else repr(r) for r in results
                  if isinstance(r, Exception) or r[2]), "")
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50": pct(latencies, .5) * 1000,
            "p95": pct(latencies, .95) * 1000, "p99": pct(latencies, .99) * 1000, "errors": errors,
            "first_error": first, "seconds": elapsed}


def scenario_a() -> dict:
    print(f"\nA. {RESOLVE_CLIENTS} concurrent resolutions x {RESOLVE_REQUESTS} requests each", flush=True)
    shared = f"/api/v1/ami/resolve/bench-load?region={SOURCE}"
    api("GET", shared.removeprefix("/api/v1"))     # prime: this row is the warm path
    rows = {}
    for label, paths in (("one template (warm)", [shared] * RESOLVE_CLIENTS),
                         ("a template each (cold first)",
                          [f"/api/v1/ami/resolve/{quote(f'bench-resolve-{i:03d}')}?region={SOURCE}"
                           for i in range(RESOLVE_CLIENTS)])):
        r = resolve_burst(paths)
        rows[label] = r
        print(f"  {label:30s} {r['requests']:6d} req {r['rps']:8.1f} req/s  p50 {r['p50']:7.1f}  p95 {r['p95']:7.1f}"
              f"  p99 {r['p99']:7.1f} ms  errors {r['errors']}" + (f"  ({r['first_error'][:100]})" if r["errors"]
                                                                    else ""), flush=True)
        check(f"A {label}: errors", r["errors"], r["errors"] == 0)
    return rows


# --- scenario B: concurrent creations --------------------------------------------------------------------

def wait_creations(token: str, creations: dict[str, float]) -> dict[str, dict]:
    """Poll /ami/status until every creation is completed or failed (or the deadline)."""
    final: dict[str, dict] = {}
    deadline = time.time() + DEADLINE
    while len(final) < len(creations) and time.time() < deadline:
        open_ids = [c for c in creations if c not in final]
        with ThreadPoolExecutor(8) as pool:
            for cid, (status, body, _) in zip(open_ids, pool.map(lambda c: api("GET", f"/ami/status/{c}",
                                                                               token=token), open_ids)):
                if status == 200 and body.get("status") in ("completed", "failed"):
                    final[cid] = body
        time.sleep(0.5)
    return final


def create_round(token: str, instances: list[str], label: str, race_copy: bool) -> dict:
    def client(i):
        t0 = time.time()
        status, body, latency = api("POST", "/ami/create", {
            "instance_id": instances[i], "template_name": "bench-load", "name": f"bench-load-{label}-{i:03d}",
            "multi_region": [B_TARGET]}, token)
        answer = {"status": status, "body": body, "latency": latency, "posted_at": t0, "copy_answers": []}
        if race_copy and status == 202:
            # Ask for the same copy while the create runs: 409 until the source image is
            # available, then 202 — which must skip the region the create already claimed.
            for _ in range(200):
                s, b, _ = api("POST", f"/amis/{body['registry_id']}/copy", {"regions": [B_TARGET]}, token)
                answer["copy_answers"].append((s, len(b.get("operations", [])) if s == 202 else 0))
                if s != 409:
                    break
                time.sleep(0.2)
        return answer

    t0 = time.perf_counter()
    answers = together(len(instances), client)
    post_seconds = time.perf_counter() - t0
    bad = [a for a in answers if isinstance(a, Exception) or a["status"] != 202]
    accepted = {a["body"]["creation_id"]: a for a in answers if not isinstance(a, Exception) and a["status"] == 202}
    final = wait_creations(token, {c: a["posted_at"] for c, a in accepted.items()})
    wall = time.perf_counter() - t0
    return {"answers": answers, "bad": bad, "accepted": accepted, "final": final, "wall": wall,
            "post_seconds": post_seconds}


def finish_times(accepted: dict) -> list[float]:
    """Seconds from each POST to the end of its last part (create + copies), from the rows."""
    from django.db.models import Max

    from amis.models import Operation

    out = []
    for cid, answer in accepted.items():
        ops = Operation.objects.filter(pk=cid) | Operation.objects.filter(parent_id=cid)
        end = ops.aggregate(end=Max("finished_at"))["end"]
        if end is not None:
            out.append(end.timestamp() - answer["posted_at"])
    return out


def verify_created(accepted: dict, label: str) -> None:
    """One image per creation in the source region, one copy in the target; rows agree."""
    from amis.models import AMI, AMIRegion, Operation

    source = by_registry_id(publisher_ec2(SOURCE))
    target = by_registry_id(publisher_ec2(B_TARGET))
    rids = [a["body"]["registry_id"] for a in accepted.values()]
    one_source = sum(len(source.get(r, [])) == 1 for r in rids)
    one_copy = sum(len(target.get(r, [])) == 1 and target[r][0]["State"] == "available" for r in rids)
    extra = sum(max(0, len(source.get(r, [])) - 1) + max(0, len(target.get(r, [])) - 1) for r in rids)
    check(f"B {label}: exactly one image per creation in {SOURCE} (emulator, RegistryId tag)",
          f"{one_source}/{len(rids)}", one_source == len(rids) == CREATES)
    check(f"B {label}: exactly one available copy per creation in {B_TARGET} (emulator)",
          f"{one_copy}/{len(rids)}", one_copy == len(rids))
    check(f"B {label}: duplicate images in the emulator", extra, extra == 0)
    rows_ok = 0
    for rid in rids:
        ami = AMI.objects.filter(pk=rid).first()
        regions = {r.region: r for r in AMIRegion.objects.filter(ami_id=rid)} if ami else {}
        copy_ops = Operation.objects.filter(ami_id=rid, kind=Operation.Kind.COPY_IMAGE)
        create_ops = Operation.objects.filter(ami_id=rid, kind=Operation.Kind.CREATE_IMAGE)
        good = (ami is not None and set(regions) == {SOURCE, B_TARGET}
                and all(r.state == AMIRegion.State.AVAILABLE for r in regions.values())
                and ami.ami_id == source[rid][0]["ImageId"] == regions[SOURCE].image_id
                and len(target.get(rid, [])) == 1 and regions[B_TARGET].image_id == target[rid][0]["ImageId"]
                and copy_ops.count() == 1 and copy_ops.first().state == Operation.State.SUCCEEDED
                and create_ops.count() == 1 and create_ops.first().state == Operation.State.SUCCEEDED)
        rows_ok += good
    check(f"B {label}: registry rows agree (entry, 2 available regions, 1 create + 1 copy op, same ids)",
          f"{rows_ok}/{len(rids)}", rows_ok == len(rids))


def scenario_b(token: str) -> dict:
    print(f"\nB. {CREATES} concurrent POST /ami/create (multi_region [{B_TARGET}])", flush=True)
    ec2 = publisher_ec2(SOURCE)
    reservation = ec2.run_instances(ImageId=PLACEHOLDER_IMAGE, MinCount=CREATES, MaxCount=CREATES,
                                    InstanceType="t3.large")
    instances = [i["InstanceId"] for i in reservation["Instances"]]
    out = {}
    for label, race in (("first", True), ("re-POST", False)):
        r = create_round(token, instances, label, race)
        times = finish_times(r["accepted"])
        completed = sum(1 for b in r["final"].values() if b["status"] == "completed")
        latencies = [a["latency"] for a in r["answers"] if not isinstance(a, Exception)]
        print(f"  {label}: {len(r['accepted'])} x 202 in {r['post_seconds']:.1f} s (POST p50 "
              f"{pct(latencies, .5) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms); {completed} completed; "
              f"wall {r['wall']:.1f} s; time to complete p50 {pct(times, .5):.1f} s, p95 {pct(times, .95):.1f} s",
              flush=True)
        if r["bad"]:
            first = r["bad"][0]
            print(f"  first refused: {first if isinstance(first, Exception) else (first['status'], first['body'])}")
        check(f"B {label}: POST /ami/create answered 202", f"{len(r['accepted'])}/{CREATES}",
              len(r["accepted"]) == CREATES)
        check(f"B {label}: creations completed", f"{completed}/{CREATES}", completed == CREATES)
        if race:
            answers = [x for a in r["accepted"].values() for x in a["copy_answers"]]
            final = [a["copy_answers"][-1] for a in r["accepted"].values() if a["copy_answers"]]
            new_ops = sum(n for _, n in answers)
            print(f"  racing POST /amis/{{id}}/copy: {len(answers)} asked, "
                  f"{sum(1 for s, _ in answers if s == 409)} x 409 (source not available yet), "
                  f"{sum(1 for s, _ in final if s == 202)} x 202, new copy operations {new_ops}")
            check("B racing copy requests: all answered 202 in the end (skipped, not copied)",
                  f"{sum(1 for s, _ in final if s == 202)}/{CREATES}, {new_ops} new operations",
                  sum(1 for s, _ in final if s == 202) == CREATES and new_ops == 0)
        verify_created(r["accepted"], label)
        out[label] = {"wall": r["wall"], "p50": pct(times, .5), "p95": pct(times, .95), "completed": completed,
                      "post_seconds": r["post_seconds"]}
    total = len(images(ec2, **{"tag_Template": ["bench-load"]}))
    check("B: images made from the 50 instances after two rounds (no idempotency key: 2 each)", total,
          total == 2 * CREATES)
    out["images"] = total
    return out


# --- scenario C: 500 copies into one region ----------------------------------------------------------------

def seed_copy_sources(token: str) -> list[str]:
    """COPIES images in the publisher's account, registered and submitted (private: approved at
    once) through the API. Returns the registry ids."""
    ec2 = publisher_ec2(SOURCE)
    instance = ec2.run_instances(ImageId=PLACEHOLDER_IMAGE, MinCount=1, MaxCount=1,
                                 InstanceType="t3.large")["Instances"][0]["InstanceId"]
    with ThreadPoolExecutor(8) as pool:
        image_ids = list(pool.map(lambda i: ec2.create_image(InstanceId=instance, Name=f"bench-copy-src-{i:04d}")
                                  ["ImageId"], range(COPIES)))
    time.sleep(CREATE_SECONDS)
    wait_available(ec2, image_ids[-50:])

    def register(pair):
        i, image_id = pair
        status, body, _ = api("POST", "/amis/", {"ami_id": image_id, "region": SOURCE, "name": f"Bench copy {i:04d}",
                                                 "template": "bench-load"}, token)
        if status != 201:
            raise RuntimeError(f"register {image_id}: {status} {body}")
        status, sub, _ = api("POST", f"/amis/{body['id']}/submit", {"public": False}, token)
        if status != 200 or sub.get("status") != "approved":
            raise RuntimeError(f"submit {body['id']}: {status} {sub}")
        return body["id"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(register, enumerate(image_ids)))
    print(f"  seeded {len(ids)} approved AMIs (POST /amis/ + submit) in {time.perf_counter() - t0:.1f} s", flush=True)
    return ids


def scenario_c(token: str) -> dict:
    print(f"\nC. {COPIES} concurrent POST /amis/{{id}}/copy into {C_TARGET}, limit {COPY_LIMIT} in flight, "
          f"each copy pending {COPY_SECONDS:g} s in the emulator", flush=True)
    from amis.models import Operation

    ids = seed_copy_sources(token)
    with Sampler(C_TARGET) as sampler:
        t0 = time.perf_counter()
        answers = together(len(ids), lambda i: api("POST", f"/amis/{ids[i]}/copy", {"regions": [C_TARGET]}, token))
        post_seconds = time.perf_counter() - t0
        accepted = [a for a in answers if not isinstance(a, Exception) and a[0] == 202 and len(a[1]["operations"]) == 1]
        op_ids = [a[1]["operations"][0]["id"] for a in accepted]
        copies = Operation.objects.filter(pk__in=op_ids)
        deadline = time.time() + DEADLINE
        while time.time() < deadline:
            done = copies.filter(state__in=[Operation.State.SUCCEEDED, Operation.State.FAILED]).count()
            if done == len(op_ids):
                break
            time.sleep(0.5)
        total = time.perf_counter() - t0
    latencies = [a[2] for a in answers if not isinstance(a, Exception)]
    refused = [a for a in answers if isinstance(a, Exception) or a[0] != 202]
    succeeded = copies.filter(state=Operation.State.SUCCEEDED).count()
    failed = copies.filter(state=Operation.State.FAILED)
    print(f"  {len(accepted)} x 202 in {post_seconds:.1f} s (POST p50 {pct(latencies, .5) * 1000:.0f} ms, "
          f"p95 {pct(latencies, .95) * 1000:.0f} ms); {succeeded} succeeded, {failed.count()} failed in {total:.1f} s "
          f"({succeeded / total:.2f} copies/s)", flush=True)
    if refused:
        print(f"  first refused: {refused[0]!r}"[:400])
    if failed.exists():
        print(f"  first failure: {failed.first().error[:300]}")
    high = in_flight_high_water()
    target = by_registry_id(publisher_ec2(C_TARGET))
    once = sum(1 for r in ids if len(target.get(r, [])) == 1 and target[r][0]["State"] == "available")
    print(f"  in flight to {C_TARGET}: emulator log (exact) {high.get(C_TARGET, 0)}, emulator sampled "
          f"{sampler.max['moto_pending']} ({sampler.samples['moto_pending']} samples), Redis holders "
          f"{sampler.max['redis_holders']}, running copy rows with an image {sampler.max['db_running']} "
          f"({sampler.samples['redis_holders']} samples)", flush=True)
    check("C POST /amis/{id}/copy answered 202 with one operation", f"{len(accepted)}/{COPIES}",
          len(accepted) == COPIES)
    check("C copy operations succeeded", f"{succeeded}/{COPIES}, failed {failed.count()}", succeeded == COPIES)
    check(f"C exactly one available copy per AMI in {C_TARGET} (emulator)", f"{once}/{COPIES}", once == COPIES)
    check(f"C max copies in flight to {C_TARGET} (emulator's CopyImage log) <= limit {COPY_LIMIT}",
          high.get(C_TARGET, 0), 0 < high.get(C_TARGET, 0) <= COPY_LIMIT)
    check(f"C max pending copies sampled in the emulator <= {COPY_LIMIT}", sampler.max["moto_pending"],
          sampler.max["moto_pending"] <= COPY_LIMIT)
    check(f"C max Redis semaphore holders <= {COPY_LIMIT}", sampler.max["redis_holders"],
          sampler.max["redis_holders"] <= COPY_LIMIT)
    for region, peak in sorted(high.items()):
        if region != C_TARGET:
            check(f"max copies in flight to {region} (emulator's CopyImage log) <= {COPY_LIMIT}", peak,
                  peak <= COPY_LIMIT)
    return {"post_seconds": post_seconds, "total": total, "throughput": succeeded / total, "high": high,
            "sampled": dict(sampler.max), "failed": failed.count()}


# --- main ------------------------------------------------------------------------------------------------

def summary(a: dict | None, b: dict | None, c: dict | None) -> None:
    if a:
        warm, cold = a["one template (warm)"], a["a template each (cold first)"]
        print(f"A resolve, {RESOLVE_CLIENTS} clients x {RESOLVE_REQUESTS}: one template {warm['rps']:.0f} req/s "
              f"p50/p95/p99 {warm['p50']:.0f}/{warm['p95']:.0f}/{warm['p99']:.0f} ms, errors {warm['errors']}; "
              f"a template each {cold['rps']:.0f} req/s p50/p95/p99 {cold['p50']:.0f}/{cold['p95']:.0f}/"
              f"{cold['p99']:.0f} ms, errors {cold['errors']}")
    for label in ("first", "re-POST"):
        if b and label in b:
            r = b[label]
            print(f"B create x{CREATES} ({label}): POSTs answered in {r['post_seconds']:.1f} s, completed "
                  f"{r['completed']}/{CREATES} in {r['wall']:.1f} s, time to complete p50 {r['p50']:.1f} s "
                  f"p95 {r['p95']:.1f} s")
    if c:
        print(f"C copy x{COPIES} -> {C_TARGET}: POSTs {c['post_seconds']:.1f} s, all done in {c['total']:.1f} s "
              f"({c['throughput']:.2f} copies/s), max in flight {c['high'].get(C_TARGET, 0)} (limit {COPY_LIMIT}; "
              f"sampled: emulator {c['sampled']['moto_pending']}, Redis {c['sampled']['redis_holders']}), "
              f"failures {c['failed']}")


def main() -> int:
    began = time.time()
    load_before = os.getloadavg()
    procs: list[subprocess.Popen] = []
    a = b = c = None

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        print(f"bench-load: web :{WEB_PORT}, emulator :{MOTO_PORT}, database {base.DB_NAME}, cache {base.REDIS_URL}, "
              f"broker {BROKER_URL}, worker --pool {WORKER_POOL} -c {WORKER_CONCURRENCY}, copy limit {COPY_LIMIT}, "
              f"poll {POLL_SECONDS} s; logs in {LOGS}", flush=True)
        procs = start_all()
        django_setup()
        seed_templates()
        token = publisher()
        print(f"started in {time.time() - began:.0f} s", flush=True)
        a = scenario_a()
        b = scenario_b(token)
        c = scenario_c(token)
    except Exception as exc:  # noqa: BLE001 — reported in the table; the processes are stopped below
        import traceback

        traceback.print_exc()
        check("the run itself", f"{exc.__class__.__name__}", False)
    finally:
        for proc in reversed(procs):
            base.stop(proc)
    load_after = os.getloadavg()
    failed = [x for x in CHECKS if not x[2]]
    print("\n" + "=" * 112)
    print(f"{'check':86s} {'measured':>20s}")
    for what, measured, passed in CHECKS:
        print(f"{what[:86]:86s} {measured[:20]:>20s}  {'ok' if passed else 'FAIL'}")
    print("=" * 112)
    summary(a, b, c)
    print(f"{len(CHECKS) - len(failed)}/{len(CHECKS)} checks passed; wall {time.time() - began:.0f} s; "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {os.cpu_count()} cores")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
