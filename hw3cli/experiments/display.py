"""The experiment layer's terminal output: results on stdout, progress bars on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_quiet = False  # under torchrun, every rank but rank 0: no bar, no messages


def quiet(value: bool) -> None:
    global _quiet
    _quiet = value


def stdout() -> Console:
    # Created per call so tests that capture sys.stdout see the output.
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, quiet=_quiet)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True, quiet=_quiet)


def progress_bar() -> Progress:
    """One bar per task with a free-text `status` field for the live loss."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=stderr(),
        transient=False,
        disable=_quiet,
    )


def use_precision(requested: str, device, bf16_keeps_quality: bool = True, shapes: tuple = (),
                  library: Callable[[], str] = lambda: "torch") -> tuple[str, dict | None]:
    """The precision a training command runs in (`auto` decided from the hardware and, on a CPU, a probe of the
    run's dense layers `shapes` against fp32 on `library()`) and what that probe measured; warns on stderr when bf16
    was asked for where the device only emulates it."""
    from hw3cli.core.precision import decide

    precision, warning, measured = decide(requested, device, bf16_keeps_quality, shapes, library)
    if warning:
        stderr().print(warning, markup=False)
    return precision, measured
