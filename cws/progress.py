"""Following long AWS work (image creation, copies) until it ends, one progress line per region.

The registry records the work as Operations; the client only reads them, so Ctrl-C stops the
watching and never the work (``cws ami status <id> --wait`` picks it up again). On a terminal
the display is a rich progress bar per region; otherwise (pipes, CI logs) one plain line per
change; in JSON mode nothing is shown until the final document.
``CWS_POLL_INTERVAL`` sets the seconds between polls (default 2).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from cws.api import ApiError, Registry, all_pages, quote_segment
from cws.errors import Interrupted
from cws.output import Output

TERMINAL = ("completed", "failed")
# Operation states (API.md *Operations*) in the cws vocabulary of /ami/status.
OPERATION_STATES = {"queued": "pending", "running": "in_progress", "succeeded": "completed", "failed": "failed"}
STATE_STYLE = {"pending": "dim", "in_progress": "cyan", "completed": "green", "failed": "bold red"}


@dataclass
class Part:
    """One region's share of the work."""

    region: str
    state: str = "pending"
    progress: int = 0
    detail: str = ""
    ami_id: str = ""
    error: str = ""

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


def poll_interval() -> float:
    try:
        return max(0.05, float(os.environ.get("CWS_POLL_INTERVAL", "2")))
    except ValueError:
        return 2.0


def _operation_part(op: dict) -> Part:
    state = OPERATION_STATES.get(op.get("state"), op.get("state") or "pending")
    progress = 100 if state == "completed" else int(op.get("progress") or 0)
    return Part(region=op.get("region", ""), state=state, progress=progress, ami_id=op.get("ami_id") or "",
                error=op.get("error") or "", detail=op.get("error") or op.get("message") or "")


class CreationTracker:
    """An AMI creation: the create step in the source region and one copy per extra region
    (``GET /ami/status/{id}``, with per-region progress from the operations behind it)."""

    def __init__(self, api: Registry, creation_id: str):
        self.api, self.creation_id = api, creation_id
        self.status: dict = {}

    def poll(self) -> list[Part]:
        self.status = self.api.get(f"/ami/status/{quote_segment(self.creation_id)}", what=self.creation_id)
        parts = {region: Part(region=region, state=r.get("status", "pending"),
                              progress=100 if r.get("status") == "completed" else 0, ami_id=r.get("ami_id") or "",
                              error=r.get("error") or "", detail=r.get("error") or "")
                 for region, r in (self.status.get("region_results") or {}).items()}
        ops = self._operations(self.status.get("registry_id") if self.status.get("ami_id") else "")
        for op in ops:
            part = _operation_part(op)
            known = parts.get(part.region)
            if known is None or not known.done:
                parts[part.region] = part
        return list(parts.values())

    def _operations(self, registry_id: str) -> list[dict]:
        """The create operation and its copies. The entry exists only once AWS has answered
        CreateImage (and a worker has recorded it); until then, the create operation alone."""
        if registry_id:
            try:
                return [op for op in all_pages(self.api, "/operations/", params={"ami": registry_id}, limit=200)
                        if op.get("id") == self.creation_id or op.get("parent") == self.creation_id]
            except ApiError as err:
                if err.status != 404:
                    raise
        return [self.api.get(f"/operations/{quote_segment(self.creation_id)}")]

    def finished(self, parts: list[Part]) -> bool:
        # The creation's own status decides: when the create step fails, copies never start and
        # their regions stay "pending" for good.
        return self.status.get("status") in TERMINAL

    def final(self, parts: list[Part]) -> dict:
        return {**self.status, "parts": [p.__dict__ for p in parts]}


class OperationsTracker:
    """A set of operations (e.g. the copies of ``POST /amis/{ami}/copy``)."""

    def __init__(self, api: Registry, operation_ids: list[str]):
        self.api, self.ids = api, operation_ids
        self.operations: list[dict] = []

    def poll(self) -> list[Part]:
        self.operations = [self.api.get(f"/operations/{quote_segment(i)}") for i in self.ids]
        return [_operation_part(op) for op in self.operations]

    def finished(self, parts: list[Part]) -> bool:
        return bool(parts) and all(p.done for p in parts)

    def final(self, parts: list[Part]) -> dict:
        return {"operations": self.operations, "parts": [p.__dict__ for p in parts]}


def _describe(part: Part) -> str:
    if part.state == "completed":
        return part.ami_id or "done"
    if part.state == "failed":
        return part.error or part.detail or "failed"
    return part.detail or part.ami_id


def watch(tracker, out: Output, *, resume_hint: str, interval: float | None = None,
          sleep: Callable[[float], None] | None = None) -> list[Part]:
    """Poll ``tracker`` until every part has ended; returns the last parts."""
    interval = poll_interval() if interval is None else interval
    sleep = sleep or time.sleep
    try:
        if out.json_mode:
            return _loop(tracker, lambda parts: None, interval, sleep)
        if out.console.is_terminal:
            return _watch_rich(tracker, out, interval, sleep)
        return _watch_plain(tracker, out, interval, sleep)
    except KeyboardInterrupt:
        raise Interrupted("stopped watching; the work goes on in the registry",
                          hint=f"follow it again with `{resume_hint}`") from None


def _loop(tracker, show, interval, sleep) -> list[Part]:
    while True:
        parts = tracker.poll()
        show(parts)
        if tracker.finished(parts):
            return parts
        sleep(interval)


def _watch_plain(tracker, out: Output, interval, sleep) -> list[Part]:
    seen: dict[str, tuple] = {}

    def show(parts):
        for part in parts:
            key = (part.state, part.progress, _describe(part))
            if seen.get(part.region) != key:
                seen[part.region] = key
                out.line(f"{part.region:<15} {part.state:<12} {part.progress:>3}%  {_describe(part)}".rstrip())

    return _loop(tracker, show, interval, sleep)


def _watch_rich(tracker, out: Output, interval, sleep) -> list[Part]:
    columns = (TextColumn("{task.fields[region]:<15}"), BarColumn(bar_width=30), TaskProgressColumn(),
               TextColumn("{task.fields[state]}"), TextColumn("{task.fields[detail]}", markup=False))
    with Progress(*columns, console=out.console, auto_refresh=False, transient=False) as progress:
        tasks: dict[str, int] = {}

        def show(parts):
            for part in parts:
                state = f"[{STATE_STYLE.get(part.state, '')}]{part.state:<12}[/]"
                if part.region not in tasks:
                    tasks[part.region] = progress.add_task("", total=100, completed=part.progress,
                                                           region=part.region, state=state, detail=_describe(part))
                progress.update(tasks[part.region], completed=part.progress, state=state, detail=_describe(part))
            progress.refresh()

        return _loop(tracker, show, interval, sleep)
