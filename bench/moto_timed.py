#!/usr/bin/env python
"""A moto server whose new images take time to become ``available``, as in AWS (``make bench-load``).

moto makes every image ``available`` the moment CreateImage or CopyImage answers, so no copy is
ever *in flight* and a per-region copy limit could not be exceeded even if it were broken. Here
an image made by CreateImage stays ``pending`` for ``BENCH_CREATE_SECONDS`` and one made by
CopyImage for ``BENCH_COPY_SECONDS``, then turns ``available`` (checked whenever images are
described, which is how anyone, the registry included, learns an image's state).

Every CopyImage is also written as one JSON line to ``BENCH_MOTO_EVENTS`` (destination region,
account, image id, start and ready times): the emulator's own record of how many copies were in
flight in each destination region at any instant, kept outside the code under test.

    python bench/moto_timed.py -H 127.0.0.1 -p 5113
"""
from __future__ import annotations

import heapq
import itertools
import json
import os
import sys
import threading
import time

from moto.ec2.models.amis import AmiBackend
from moto.server import main

CREATE_SECONDS = float(os.environ.get("BENCH_CREATE_SECONDS", "0"))
COPY_SECONDS = float(os.environ.get("BENCH_COPY_SECONDS", "0"))
EVENTS = os.environ.get("BENCH_MOTO_EVENTS", "")

_lock = threading.Lock()
_pending: list[tuple[float, int, object]] = []   # heap of (ready at, sequence, moto Ami)
_sequence = itertools.count()
_events = open(EVENTS, "a", buffering=1) if EVENTS else None  # noqa: SIM115 — open for the server's life

_original_create, _original_copy = AmiBackend.create_image, AmiBackend.copy_image
_original_describe = AmiBackend.describe_images


def _hold(ami, seconds: float) -> float:
    now = time.time()
    if seconds > 0:
        ami.state = "pending"
        with _lock:
            heapq.heappush(_pending, (now + seconds, next(_sequence), ami))
    return now


def _ripen() -> None:
    now = time.time()
    with _lock:
        while _pending and _pending[0][0] <= now:
            heapq.heappop(_pending)[2].state = "available"


def create_image(backend, *args, **kwargs):
    ami = _original_create(backend, *args, **kwargs)
    _hold(ami, CREATE_SECONDS)
    return ami


def copy_image(backend, *args, **kwargs):
    ami = _original_copy(backend, *args, **kwargs)
    started = _hold(ami, COPY_SECONDS)
    if _events is not None:
        with _lock:
            _events.write(json.dumps({"region": backend.region_name, "account": backend.account_id,
                                      "image": ami.id, "start": started, "ready": started + COPY_SECONDS}) + "\n")
    return ami


def describe_images(backend, *args, **kwargs):
    _ripen()
    return _original_describe(backend, *args, **kwargs)


AmiBackend.create_image = create_image
AmiBackend.copy_image = copy_image
AmiBackend.describe_images = describe_images

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
