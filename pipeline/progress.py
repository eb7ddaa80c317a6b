"""Progress of long stages, without a UI: pipeline code counts items, a caller decides how to show them.

A long loop (the spaCy pass of the index, a miner over its examples) wraps its iterable
in `track(items, "index", total)`. By default nothing is shown and nothing is imported.
The caller installs a reporter factory once (`set_reporter_factory`): `flows.progress`
installs one that draws a rich bar (items, rate, ETA) on a terminal and reports the same
counts to a Prefect progress artifact inside a flow run; tests install a recording one.
`pipeline/` itself never imports rich or prefect.

    python -c "from pipeline.progress import track; print(sum(track(range(5), 'demo', 5)))"
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Reporter(Protocol):
    def advance(self, n: int = 1) -> None: ...  # n more items done
    def close(self) -> None: ...  # the stage finished (or failed)


ReporterFactory = Callable[[str, int], Reporter]  # (stage description, total items) -> reporter

_lock = threading.Lock()
_factory: ReporterFactory | None = None


def set_reporter_factory(factory: ReporterFactory | None) -> ReporterFactory | None:
    """Install the factory every later `track` uses (None = silent); returns the previous one."""
    global _factory
    with _lock:
        previous, _factory = _factory, factory
    return previous


def reporter_factory() -> ReporterFactory | None:
    return _factory


def track(items: Iterable[T], description: str, total: int) -> Iterator[T]:
    """Yield `items`, reporting one step per item to the installed reporter (if any).

    `total` is the number of items expected (an ETA needs it); the reporter is closed when
    the loop ends, breaks or raises.
    """
    factory = _factory
    if factory is None or total <= 0:
        yield from items
        return
    reporter = factory(description, total)
    try:
        for item in items:
            yield item
            reporter.advance(1)
    finally:
        reporter.close()
