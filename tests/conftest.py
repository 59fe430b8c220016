from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from hw3cli.cli import main

# The tests train tiny models: one thread is faster for them than two threads handing off tiny matrices. The
# commands' default thread count (--threads 0) follows OMP_NUM_THREADS when it is set.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HW3CLI_SHARED", ROOT.parent / "shared"))


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """Run `hw3cli ARGS...` in-process from a temp working directory; return exit code, stdout, stderr."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def assert_usage_error(result: Result, *words: str) -> None:
    """Exit code 2, exactly one line on stderr naming the problem, and no traceback."""
    assert result.code == 2, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def interrupt_after_epoch(loop, epoch: int, sig: int = signal.SIGINT):
    """`loop` (a training generator) that sends `sig` to this process once it has yielded epoch `epoch`: what
    Ctrl-C (SIGINT) or a scheduler's SIGTERM does mid-run."""

    def interrupted(*args, **kwargs):
        for record in loop(*args, **kwargs):
            yield record
            if record["event"] == "epoch" and record["epoch"] == epoch:
                os.kill(os.getpid(), sig)

    return interrupted
