"""Rendering: rich tables and text for people, JSON for machines.

Colour only on a terminal (rich decides; ``NO_COLOR`` turns it off, ``FORCE_COLOR`` /
``TTY_COMPATIBLE=1`` on). Text that comes from the registry (names, reviews, messages) is never
read as rich markup: it is wrapped in ``Text`` or printed with ``markup=False``.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from cws.errors import CwsError

PIPE_WIDTH = 220
# Columns of ids and short codes keep them on one line (a wrapped AMI id cannot be copied); the
# others wrap when the terminal is narrow, but never below TEXT_MIN_WIDTH.
UNWRAPPED = frozenset({"AMI", "ID", "TEMPLATE", "ARCH", "RATING", "STATE", "STATUS", "PROGRESS", "CREATED", "DATE",
                       "STARS", "KIND", "REGION", "SEVERITY", "TIME", "DOWNLOADS", "OUTCOME", "SETTING"})
TEXT_MIN_WIDTH = 10


def stars(avg, count) -> str:
    if not count:
        return "—"
    return f"{float(avg):.1f}★ ({count})"


def yes_no(value) -> str:
    return "yes" if value else "no"


class Output:
    """One command's stdout/stderr. In JSON mode stdout carries exactly one JSON document."""

    def __init__(self, *, json_mode: bool):
        self.json_mode = json_mode
        # file=None: rich looks sys.stdout up at every write (Click's test runner swaps it).
        self.console = Console(highlight=False, emoji=False, soft_wrap=False)
        self.err = Console(stderr=True, highlight=False, emoji=False)
        if not self.console.is_terminal and "COLUMNS" not in os.environ:
            # Piped or captured: rich would assume 80 columns and wrap ids; lines as long as
            # their content read better in logs and with grep.
            self.console.width = PIPE_WIDTH

    # --- machine output -----------------------------------------------------------------------
    def json(self, payload) -> None:
        sys.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def result(self, payload, render=None) -> None:
        """``payload`` as JSON in JSON mode, else ``render(payload)`` for people."""
        if self.json_mode:
            self.json(payload)
        elif render is not None:
            render(payload)

    # --- human output -------------------------------------------------------------------------
    def line(self, text: str = "", *, style: str | None = None) -> None:
        if self.json_mode:
            return
        self.console.print(Text(text, style=style or ""), soft_wrap=True)

    def rich(self, *renderables) -> None:
        if not self.json_mode:
            self.console.print(*renderables)

    def note(self, text: str) -> None:
        """Progress remarks: on stderr, so they never mix into JSON or piped tables."""
        self.err.print(Text(text, style="dim"), soft_wrap=True)

    def warn(self, text: str) -> None:
        self.err.print(Text(f"warning: {text}", style="yellow"), soft_wrap=True)

    def fields(self, pairs: Iterable[tuple[str, object]]) -> None:
        """Aligned ``label  value`` lines."""
        pairs = [(k, v) for k, v in pairs if v not in (None, "")]
        if not pairs or self.json_mode:
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in pairs:
            grid.add_row(Text(key), value if isinstance(value, Text) else Text(str(value)))
        self.console.print(grid)

    def table(self, columns: Sequence[str], rows: Iterable[Sequence], *, title: str | None = None,
              empty: str = "nothing to show", optional: Sequence[str] = ()) -> None:
        """A table; ``optional`` columns are left out, in that order, while the table does not fit
        the terminal (the ids and names a reader needs stay)."""
        if self.json_mode:
            return
        rows = [list(row) for row in rows]
        if not rows:
            self.line(empty, style="dim")
            return
        columns = list(columns)
        table = self._table(columns, rows, title)
        for name in optional:
            # Measured without the terminal's limit: rich clamps a measurement to the width it is given.
            needed = table.__rich_measure__(self.console, self.console.options.update(max_width=10_000)).minimum
            if needed <= self.console.width:
                break
            index = columns.index(name)
            columns.pop(index)
            for row in rows:
                row.pop(index)
            table = self._table(columns, rows, title)
        self.console.print(table)

    @staticmethod
    def _table(columns: list[str], rows: list[list], title: str | None) -> Table:
        def floor(index: int, header: str) -> int | None:
            # Text may wrap down to TEXT_MIN_WIDTH, or to its own width when narrower than that.
            if header in UNWRAPPED:
                return None
            longest = max([len(header)] + [len(cell.plain if isinstance(cell, Text) else str(cell or ""))
                                           for cell in (row[index] for row in rows)])
            return min(TEXT_MIN_WIDTH, longest)

        # Nothing is ever cut with an ellipsis: text folds, ids keep their line.
        table = Table(*[Column(c, overflow="fold", no_wrap=c in UNWRAPPED, min_width=floor(i, c))
                        for i, c in enumerate(columns)],
                      box=box.SIMPLE_HEAD, title=title, title_justify="left", header_style="bold", pad_edge=False,
                      show_edge=False)
        for row in rows:
            table.add_row(*[cell if isinstance(cell, Text) else Text("" if cell is None else str(cell))
                            for cell in row])
        return table

    # --- errors -------------------------------------------------------------------------------
    def error(self, err: CwsError) -> None:
        if self.json_mode:
            self.json({"error": err.as_json()})
        self.err.print(Text(f"Error: {err.message}", style="bold red"), soft_wrap=True)
        for detail in err.details:
            self.err.print(Text(f"  {detail}"), soft_wrap=True)
        if err.hint:
            self.err.print(Text(f"Hint: {err.hint}", style="cyan"), soft_wrap=True)
