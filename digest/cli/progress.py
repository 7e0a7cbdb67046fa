"""Progress of long CLI work (ingest, import, send): a bar for a person, lines for a log. I/O.

Where stderr is a terminal, a rich bar with the count, the rate (items/s) and the time left
redraws in place. Elsewhere (cron, systemd, CI, a pipe) a redrawn bar would be a wall of
control codes, so a plain line is written at most every ``interval`` seconds, plus one at the
end with the total and the rate: enough to see in a log that a long run is alive and how fast
it went. Disabled (``--json``, whose reader wants stdout and stderr clean), nothing at all.

Progress goes to stderr in every mode, so stdout stays the command's result.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

Clock = Callable[[], float]
LINE_INTERVAL = 5.0
"""Seconds between plain lines: a log gains a line per few seconds, not one per item."""


class Display(Protocol):
    def update(self, done: int, total: int | None = None) -> None:
        """``done`` items so far (a count, not an increment); ``total`` when it is learnt."""


@contextmanager
def progress(
    label: str,
    total: int | None,
    enabled: bool,
    *,
    stream: TextIO | None = None,
    interval: float = LINE_INTERVAL,
    clock: Clock = time.monotonic,
) -> Iterator[Display]:
    """A display of ``label``'s progress for the duration of the block.

    ``stream`` defaults to the ``sys.stderr`` of the moment (a test runner may have swapped
    it); ``clock`` and ``interval`` pace the plain lines.
    """
    if not enabled:
        yield Silent()
        return
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        with bar(label, total, out) as display:
            yield display
        return
    lines = Lines(label, total, out, interval, clock)
    yield lines
    lines.finish()  # not after a failure: the error says what happened, not a rate


class Silent:
    def update(self, done: int, total: int | None = None) -> None:
        pass


class Lines:
    """Plain lines, throttled; the last one always written."""

    def __init__(
        self, label: str, total: int | None, out: TextIO, interval: float, clock: Clock
    ) -> None:
        self.label = label
        self.total = total
        self.out = out
        self.interval = interval
        self.clock = clock
        self.started = self.last = clock()
        self.done = 0

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self._write(self._line(now))

    def finish(self) -> None:
        elapsed = self.clock() - self.started
        self._write(f"{self.label}: {self._count()} in {elapsed:.1f} s ({self._rate(elapsed)})")

    def _line(self, now: float) -> str:
        elapsed = now - self.started
        line = f"{self.label}: {self._count()} ({self._rate(elapsed)}"
        speed = self.done / elapsed if elapsed > 0 else 0.0
        if self.total is not None and speed > 0:
            left = max(self.total - self.done, 0) / speed
            line += f", ETA {timedelta(seconds=round(left))}"
        return line + ")"

    def _count(self) -> str:
        return f"{self.done}/{self.total}" if self.total is not None else str(self.done)

    def _rate(self, elapsed: float) -> str:
        return f"{self.done / elapsed:,.1f}/s" if elapsed > 0 else "-/s"

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


class RateColumn(ProgressColumn):
    """Items per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-/s" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")


class Bar:
    def __init__(self, bars: Progress, label: str, total: int | None) -> None:
        self.bars = bars
        self.task = bars.add_task(label, total=total)

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.bars.update(self.task, completed=done, total=total)
        else:
            self.bars.update(self.task, completed=done)


@contextmanager
def bar(label: str, total: int | None, out: TextIO) -> Iterator[Bar]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=out)) as bars:
        yield Bar(bars, label, total)
