"""How `cqa` commands end on a failure: one `error:` line on stderr, an exit status ≠ 0.

    from flows.cli_errors import fail, failing_cleanly
    with failing_cleanly(verbose, expected=(ConfigError,), code=2):
        train(cfg)

Messages are printed literally (`rich.markup.escape`: a `[version]` in a message stays),
on one line (no wrapping), and an exception the command did not expect is reported by type
and message with a pointer to `-v`, which re-raises it with its traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True)

# `-v` of the commands that run a Prefect flow: `quiet_prefect_console` then shows Prefect's failure logs,
# `failing_cleanly` re-raises what it did not expect.
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="show Prefect's failure logs and the traceback of an unexpected failure")
]


def one_line(message: str) -> str:
    """A multi-line message (`bad config X:` + one line per field) as one line: `bad config X: a: …; b: …`."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return " ".join(lines[:1] + ["; ".join(lines[1:])]).strip() if lines else ""


def error_line(message: str, label: str = "error:", style: str = "bold red") -> None:
    """Print `label message` on stderr, the message verbatim (markup escaped) and unwrapped."""
    err.print(f"[{style}]{label}[/] {escape(one_line(message))}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    """`error: message` on stderr, then exit with `code`."""
    error_line(message)
    raise typer.Exit(code)


def unexpected(e: BaseException) -> str:
    """The one-line report of an exception no command anticipated."""
    return f"{type(e).__name__}: {e} (run again with -v for the traceback)"


@contextlib.contextmanager
def failing_cleanly(
    verbose: bool, expected: tuple[type[BaseException], ...] = (), code: int = 1, unexpected_code: int = 1
) -> Iterator[None]:
    """Turn exceptions into one `error:` line: `expected` ones exit with `code`, any other with
    `unexpected_code`; with `verbose` an unexpected one propagates with its traceback."""
    try:
        yield
    except typer.Exit:
        raise
    except expected as e:
        fail(str(e), code)
    except Exception as e:  # noqa: BLE001 - the user gets one line; -v shows the traceback
        if verbose:
            raise
        fail(unexpected(e), unexpected_code)
