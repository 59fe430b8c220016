"""Run folders: every run writes the config that made it and the metrics it measured."""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
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


def write_metrics(run_dir: str | os.PathLike, metrics: dict[str, Any]) -> Path:
    return write_json(Path(run_dir) / "metrics.json", _jsonable(metrics))


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
