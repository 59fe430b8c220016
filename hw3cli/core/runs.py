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
from hw3cli.core.files import input_folder, read_json, write_json
from hw3cli.core.schema import RUN_CONFIG, check
from hw3cli.errors import Hw3Error


def config_record(experiment: str, config: Any) -> dict[str, Any]:
    """What `config.json` holds: the experiment, every option, the command line and the software."""
    fields = _flat(config) if dataclasses.is_dataclass(config) else dict(config)
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


def _flat(config: Any) -> dict[str, Any]:
    """A config's fields as one level: its nested option groups (run options, data source) merged in."""
    fields = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        fields.update(_flat(value) if dataclasses.is_dataclass(value) else {f.name: value})
    return fields


def write_config(run_dir: str | os.PathLike, experiment: str, config: Any, extra: dict | None = None) -> Path:
    """config.json; `extra` adds top-level records beside the options (e.g. the torchrun world)."""
    return write_json(Path(run_dir) / "config.json", {**config_record(experiment, config), **(extra or {})})


# Wall-clock measurements differ between two runs of the same command, so they live in timings.json and
# metrics.json holds only what the seed determines: two same-seed runs write byte-identical metrics.json files.
# The machine a run ran on (and the torchrun world it ran in) belongs with its times: the same seed on another
# machine may time differently.
TIMING_KEYS = frozenset({"seconds", "total_seconds", "seconds_per_epoch", "images_per_second", "machine", "world"})


def write_metrics(run_dir: str | os.PathLike, metrics: dict[str, Any]) -> Path:
    """metrics.json (deterministic) and timings.json (the wall-clock keys, same nesting)."""
    measured, timings = _split_timings(_jsonable(metrics))
    write_json(Path(run_dir) / "timings.json", timings or {})
    return write_json(Path(run_dir) / "metrics.json", measured)


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any]:
    """metrics.json with the timings folded back in (a run without timings.json reads as it is)."""
    metrics = check(read_json(Path(run_dir) / "metrics.json", "run metrics"), dict, Path(run_dir) / "metrics.json")
    timings = Path(run_dir) / "timings.json"
    if not os.path.lexists(timings):
        return metrics
    return _merge(metrics, check(read_json(timings, "run timings"), dict, timings))


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


def check_run_folder(out: Path, experiment: str, run_files: tuple[str, ...], overwrite: bool = False,
                     writer: bool = True) -> None:
    """Refuse an output folder that holds anything but a run of this same experiment, and a finished run of
    it unless `overwrite`. Called before any training, so a refusal costs nothing. Only the process that will
    write the run (`writer`: torchrun's rank 0) probes that it can."""
    out = Path(out)
    here = Path(os.path.realpath(Path.cwd()))
    if out.name in ("", ".", "..") or Path(os.path.realpath(out)) in (here, *here.parents):
        raise Hw3Error(f"--out {out} is the current folder or one above it; a run needs a folder of its own")
    if writer:
        check_writable(out)
    if not os.path.lexists(out):
        return
    input_folder(out, "--out")
    try:
        foreign = sorted(p.name for p in out.iterdir() if p.name not in run_files)
    except OSError as exc:
        raise Hw3Error(f"--out {out}: cannot list it ({exc.strerror or exc})") from None
    if foreign:
        raise Hw3Error(f"--out {out} holds other files ({', '.join(foreign[:3])}); choose another folder")
    if (out / "config.json").exists():
        previous = check(read_json(out / "config.json", "run config"), RUN_CONFIG, out / "config.json")["experiment"]
        if previous != experiment:
            raise Hw3Error(f"--out {out} holds a {previous} run; choose another folder")
        if (out / "metrics.json").exists() and not overwrite:
            raise Hw3Error(f"--out {out} holds a finished {experiment} run; pass --overwrite to replace it")


MIN_FREE_BYTES = 100 * 2**20  # a run's checkpoints, progress file and figures: tens of MB at this tool's sizes


def check_writable(out: Path, min_free: int = MIN_FREE_BYTES, what: str = "a run") -> None:
    """Fail before any training when the run could not be saved: the folder that will hold `out` (and its
    `.partial` progress folder beside it) is read-only, or its disk is nearly full."""
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
        raise Hw3Error(f"--out {out}: only {free / 2**20:,.0f} MB free on the disk of {where}; {what} needs at "
                       f"least {min_free / 2**20:,.0f} MB")
