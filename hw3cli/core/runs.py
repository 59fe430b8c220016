"""Run folders: every run writes the config that made it and the metrics it measured."""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from hw3cli import __version__
from hw3cli.core.files import read_json, write_json


def config_record(experiment: str, config: Any) -> dict[str, Any]:
    """What `config.json` holds: the experiment, every option, the command line and the software."""
    fields = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return {
        "experiment": experiment,
        "config": _jsonable(fields),
        "command": ["hw3cli", *sys.argv[1:]] if sys.argv and sys.argv[0].endswith("hw3cli") else sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": {
            "hw3cli": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "host": {"machine": platform.machine(), "cpus": os.cpu_count()},
    }


def write_config(run_dir: str | os.PathLike, experiment: str, config: Any) -> Path:
    return write_json(Path(run_dir) / "config.json", config_record(experiment, config))


# Wall-clock measurements differ between two runs of the same command, so they live in timings.json and
# metrics.json holds only what the seed determines: two same-seed runs write byte-identical metrics.json files.
# The machine a run ran on belongs with its times: the same seed on another machine may time differently.
TIMING_KEYS = frozenset({"seconds", "total_seconds", "seconds_per_epoch", "images_per_second", "machine"})


def write_metrics(run_dir: str | os.PathLike, metrics: dict[str, Any]) -> Path:
    """metrics.json (deterministic) and timings.json (the wall-clock keys, same nesting)."""
    measured, timings = _split_timings(_jsonable(metrics))
    write_json(Path(run_dir) / "timings.json", timings or {})
    return write_json(Path(run_dir) / "metrics.json", measured)


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any]:
    """metrics.json with the timings folded back in (a run without timings.json reads as it is)."""
    metrics = read_json(Path(run_dir) / "metrics.json", "run metrics")
    timings = Path(run_dir) / "timings.json"
    if not isinstance(metrics, dict):
        from hw3cli.errors import Hw3Error

        raise Hw3Error(f"run metrics are not a JSON object: {Path(run_dir) / 'metrics.json'}")
    return _merge(metrics, read_json(timings, "run timings")) if timings.exists() else metrics


def _split_timings(value: Any) -> tuple[Any, Any]:
    if isinstance(value, dict):
        kept, timed = {}, {}
        for key, item in value.items():
            if key in TIMING_KEYS:
                timed[key] = item
                continue
            kept[key], sub = _split_timings(item)
            if sub:
                timed[key] = sub
        return kept, timed
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        parts = [_split_timings(v) for v in value]
        timed = [t if isinstance(t, dict) else {} for _, t in parts]
        return [k for k, _ in parts], timed if any(timed) else None
    return value, None


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in extra.items()}}
    if isinstance(base, list) and isinstance(extra, list) and len(base) == len(extra):
        return [_merge(b, e) for b, e in zip(base, extra)]
    return extra if base is None else base


def read_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    return read_json(Path(run_dir) / "config.json", "run config")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def check_run_folder(out: Path, experiment: str, run_files: tuple[str, ...], overwrite: bool = False) -> None:
    """Refuse an output folder that holds anything but a run of this same experiment, and a finished run of
    it unless `overwrite`. Called before any training, so a refusal costs nothing."""
    from hw3cli.errors import Hw3Error

    out = Path(out)
    check_writable(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise Hw3Error(f"--out {out} is a file, not a folder")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in run_files)
    if foreign:
        raise Hw3Error(f"--out {out} holds other files ({', '.join(foreign[:3])}); choose another folder")
    if (out / "config.json").exists():
        previous = read_json(out / "config.json", "run config").get("experiment")
        if previous != experiment:
            raise Hw3Error(f"--out {out} holds a {previous} run; choose another folder")
        if (out / "metrics.json").exists() and not overwrite:
            raise Hw3Error(f"--out {out} holds a finished {experiment} run; pass --overwrite to replace it")


MIN_FREE_BYTES = 100 * 2**20  # a run's checkpoints, progress file and figures: tens of MB at this tool's sizes


def check_writable(out: Path, min_free: int = MIN_FREE_BYTES) -> None:
    """Fail before any training when the run could not be saved: the folder that will hold `out` (and its
    `.partial` progress folder beside it) is read-only, or its disk is nearly full."""
    from hw3cli.errors import Hw3Error

    where = Path(out).absolute().parent
    while not where.exists():  # the folders still to be made will live in the nearest one that exists
        where = where.parent
    if not where.is_dir():
        raise Hw3Error(f"--out {out}: {where} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        raise Hw3Error(f"--out {out}: cannot write in {where} ({exc.strerror or exc})") from None
    free = shutil.disk_usage(where).free
    if free < min_free:
        raise Hw3Error(f"--out {out}: only {free / 2**20:.0f} MB free on the disk of {where}; a run needs at "
                       f"least {min_free / 2**20:.0f} MB")
