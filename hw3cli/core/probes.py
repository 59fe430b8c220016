"""Choices a short probe decides once per machine (`--matmul auto`, `--precision auto`), kept in a JSON file of the
cache folder so that one machine keeps making the same numbers. Runs started together (`make -j`) probe one at a
time and the later ones take the first one's choice. A cache that cannot be read or written costs a probe, never
the run."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from hw3cli.core.files import read_json, rewritable, write_json
from hw3cli.errors import Hw3Error


def cached_choice(path: Path, key: str, valid: Callable[[object], bool],
                  decide: Callable[[], tuple[str, dict]]) -> tuple[str, object]:
    """The (choice, what was measured) `path` holds for `key` where `valid` accepts the choice; else `decide()`'s,
    written beside the other keys' entries."""
    entry = _read(path).get(key)  # a cached choice needs no lock (writes are atomic renames)
    if isinstance(entry, dict) and valid(entry.get("choice")):
        return entry["choice"], entry.get("measured")
    with _lock(path):
        entries = _read(path)
        entry = entries.get(key)
        if isinstance(entry, dict) and valid(entry.get("choice")):
            return entry["choice"], entry.get("measured")
        choice, measured = decide()
        with contextlib.suppress(Hw3Error, OSError):
            write_json(path, {**entries, key: {"choice": choice, "measured": measured}})
    return choice, measured


def fastest_time(work: Callable[[], object], seconds: float) -> float:
    """The fastest of repeated calls of `work` over about `seconds` (at least one)."""
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds or best == float("inf"):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best


def fastest_times(works: Mapping[object, Callable[[], object]], seconds: float, rounds: int = 3) -> dict:
    """Each work's fastest of repeated calls over about `seconds` for it, the works taking turns over `rounds`
    rounds: a moment when the machine is busy or still cold then slows every candidate, not only the one measured
    in it (a choice made from it is cached for good)."""
    best = dict.fromkeys(works, float("inf"))
    for _ in range(rounds):
        for key, work in works.items():
            best[key] = min(best[key], fastest_time(work, seconds / rounds))
    return best


def _read(path: Path) -> dict:
    try:
        entries = read_json(path, f"{path.stem} cache") if path.is_file() else {}
    except (Hw3Error, OSError):
        entries = {}
    rewritable(path)  # read, and this command's to write again: a new key joins the others
    return entries if isinstance(entries, dict) else {}


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a")
    except OSError:  # a read-only cache: every run probes for itself
        yield
        return
    with handle:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
