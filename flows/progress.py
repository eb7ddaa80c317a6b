"""Progress of long stages on the terminal (rich) and in Prefect (progress artifacts).

`pipeline.progress.track` counts items in the pipeline's long loops; this module installs
the factory that shows them:

- on a terminal, one rich bar per running stage (description, bar, items done/total,
  items per second, elapsed and remaining time), all stages in one live display so miners
  running in parallel threads share it; nothing is drawn when stdout is not a terminal
  (CI logs stay readable);
- inside a Prefect flow or task run, a progress artifact per stage updated with the same
  counts (at most every 5 percentage points, and at the end).

    with reporting():                 # what `cqa build-index` / `build-bundles` do
        build_index_flow(...)
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pipeline.progress import Reporter, ReporterFactory, set_reporter_factory
from pipeline.progress import reporter_factory as current_factory


class RateColumn(ProgressColumn):
    """Items per second (rich's own speed column counts bytes)."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} items/s" if speed else "? items/s", style="cyan")


class TerminalBars:
    """One rich live display shared by every stage running at the same time."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._active = 0

    def add(self, description: str, total: int) -> Any:
        with self._lock:
            if self._progress is None:
                self._progress = Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TaskProgressColumn(),
                    RateColumn(),
                    TimeElapsedColumn(),
                    TextColumn("ETA"),
                    TimeRemainingColumn(),
                    console=self.console,
                    transient=False,
                    refresh_per_second=4,
                )
                self._progress.start()
            self._active += 1
            return self._progress.add_task(description, total=total)

    def advance(self, task_id: Any, n: int) -> None:
        p = self._progress
        if p is not None:
            p.advance(task_id, n)

    def done(self, task_id: Any) -> None:
        with self._lock:
            self._active -= 1
            if self._progress is not None and self._active == 0:
                self._progress.stop()
                self._progress = None


class _TerminalReporter:
    def __init__(self, bars: TerminalBars, description: str, total: int) -> None:
        self.bars, self.task = bars, bars.add(description, total)

    def advance(self, n: int = 1) -> None:
        self.bars.advance(self.task, n)

    def close(self) -> None:
        self.bars.done(self.task)


class PrefectProgressReporter:
    """Counts reported to a Prefect progress artifact (percent), updated every `step` points."""

    def __init__(
        self, description: str, total: int, create: Callable[..., Any], update: Callable[..., Any], step: float = 5.0
    ) -> None:
        self.total, self.done, self.step, self.update = total, 0, step, update
        self.key = re.sub(r"[^a-z0-9-]+", "-", f"progress-{description}".lower()).strip("-")
        self.description = description
        self.id = create(progress=0.0, key=self.key, description=f"{description}: 0/{total}")
        self.sent = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        pct = 100.0 * self.done / self.total
        if pct - self.sent >= self.step:
            self._send(pct)

    def close(self) -> None:
        pct = 100.0 * self.done / self.total
        if pct != self.sent:
            self._send(pct)

    def _send(self, pct: float) -> None:
        self.sent = pct
        self.update(
            self.id, progress=round(min(pct, 100.0), 2), description=f"{self.description}: {self.done}/{self.total}"
        )


class _Both:
    def __init__(self, reporters: list[Reporter]) -> None:
        self.reporters = reporters

    def advance(self, n: int = 1) -> None:
        for r in self.reporters:
            r.advance(n)

    def close(self) -> None:
        for r in self.reporters:
            r.close()


def in_prefect_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def reporter_factory(console: Console | None = None, prefect: bool = True) -> ReporterFactory:
    """A factory drawing terminal bars (only when `console` is a terminal) and Prefect progress artifacts."""
    bars = TerminalBars(console)

    def make(description: str, total: int) -> Reporter:
        reporters: list[Reporter] = []
        if bars.console.is_terminal:
            reporters.append(_TerminalReporter(bars, description, total))
        if prefect and in_prefect_run():
            from prefect.artifacts import create_progress_artifact, update_progress_artifact

            reporters.append(
                PrefectProgressReporter(description, total, create_progress_artifact, update_progress_artifact)
            )
        return _Both(reporters)

    return make


def ensure_reporting() -> None:
    """Install the terminal + Prefect factory unless one is installed (a flow run by a worker or
    `python -m flows...`, where no CLI command installed it); idempotent."""
    if current_factory() is None:
        set_reporter_factory(reporter_factory())


@contextlib.contextmanager
def reporting(console: Console | None = None, prefect: bool = True) -> Iterator[None]:
    """Install the terminal + Prefect factory for the duration of a command; restore the previous one."""
    previous = set_reporter_factory(reporter_factory(console, prefect))
    try:
        yield
    finally:
        set_reporter_factory(previous)
