"""One writer per run: a second process for the same --out stops at once, in one line naming the process that
holds the run; the lock dies with its process, so a killed run never blocks the next start or --resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import synthetic_fashion

ROOT = Path(__file__).resolve().parents[1]


def hw3cli(*args, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "hw3cli", *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def gan_args(data: Path, out: Path, epochs: int) -> list:
    return ["train-gan", "--data", data, "--out", out, "--epochs", epochs, "--g-hidden", "8,8,8", "--d-hidden",
            "8,8,8", "--samples", "4", "--threads", "1"]


def test_a_second_writer_of_the_same_run_exits_2_and_the_first_finishes(tmp_path):
    data, out = synthetic_fashion(tmp_path / "data"), tmp_path / "run"
    first = hw3cli(*gan_args(data, out, 600), "--seed", "4", cwd=tmp_path)
    wait_for(tmp_path / "run.partial" / "progress.safetensors", first)
    second = hw3cli(*gan_args(data, out, 600), "--seed", "5", cwd=tmp_path)
    _, err = second.communicate(timeout=300)
    assert first.poll() is None, "the first run ended before the second was refused: give it more epochs"
    assert second.returncode == 2
    assert err.strip().count("\n") == 0 and "being written by another process" in err and f"pid {first.pid}" in err
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err[-500:]
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 4
    assert not (tmp_path / "run.partial").exists()


def test_a_killed_run_blocks_nothing_and_resumes(tmp_path):
    data, out = synthetic_fashion(tmp_path / "data"), tmp_path / "run"
    args = gan_args(data, out, 400)
    killed = hw3cli(*args, cwd=tmp_path)
    wait_for(tmp_path / "run.partial" / "progress.safetensors", killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    resumed = hw3cli(*args, "--resume", cwd=tmp_path)
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-500:]
    assert len(json.loads((out / "metrics.json").read_text())["epochs"]) == 400


def test_a_refused_run_leaves_no_progress_folder(cli, tmp_path):
    out = tmp_path / "run"
    r = cli("train-gan", "--data", tmp_path / "missing", "--out", out, "--epochs", "1")
    assert r.code == 2 and not (tmp_path / "run.partial").exists() and not out.exists()
