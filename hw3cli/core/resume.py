"""Resumable training state: one safetensors file, written atomically after every epoch, holding the
weights, optimizer states, random-number-generator states and a JSON record of everything else."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from hw3cli.core.checkpoint import (
    load_checkpoint,
    load_optimizer_tensors,
    optimizer_tensors,
    read_metadata,
    save_checkpoint,
)
from hw3cli.core.files import rewritable
from hw3cli.core.schema import problem_of
from hw3cli.errors import Hw3Error

# Options that may differ between a run and its resumption.
RESUME_IGNORES = ("resume", "overwrite", "threads", "deterministic", "detect_anomaly", "precision", "matmul")


def state_file(run_dir: Path) -> Path:
    """Where a run's resumable state lives while it trains: beside the run folder, removed once the run is in place."""
    return run_dir.with_name(run_dir.name + ".partial") / "progress.safetensors"


def saved_record(path: Path) -> dict:
    """The JSON record a progress file holds (the options it was started with under "config", the precision it ran
    in), or {} where there is none or it cannot be read (load_state then says what is wrong with it)."""
    if not path.is_file():
        return {}
    try:
        record = json.loads(read_metadata(path, "progress file")["state"])
    except (Hw3Error, KeyError, ValueError, RecursionError):
        return {}
    finally:
        rewritable(path)  # read, and still the run's own to write
    return record if isinstance(record, dict) and isinstance(record.get("config"), dict) else {}


def _shown(value: object) -> str:
    """A saved or given option's value for a message: as JSON, its middle cut out where long (a progress file may
    hold anything; two paths differ at their ends); None is an option left at its default."""
    if value is None:
        return "default"
    try:
        text = value if isinstance(value, str) else json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 40 else f"{text[:18]}...{text[-19:]}"


def _device_of(modules: dict[str, nn.Module]) -> torch.device:
    """Where the tracked models live (the first one's first weight; CPU when there is none)."""
    return next((p.device for m in modules.values() for p in m.parameters()), torch.device("cpu"))


def save_state(path: Path, kind: str, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  generators: dict[str, torch.Generator], state: dict,
                  extra: dict[str, torch.Tensor] | None = None) -> None:
    tensors = {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}
    optimizer_rest = {}
    for name, optimizer in optimizers.items():
        flat, optimizer_rest[name] = optimizer_tensors(f"optimizer.{name}", optimizer)
        tensors.update(flat)
    tensors.update({f"rng.{name}": g.get_state() for name, g in generators.items()})
    tensors["rng.torch"] = torch.get_rng_state()  # dropout draws from torch's global generator
    device = _device_of(modules)
    if device.type == "cuda":  # ... or, for a model on a GPU, from that GPU's
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    tensors.update({f"extra.{k}": v for k, v in (extra or {}).items()})
    record = {**state, "optimizers": optimizer_rest}
    save_checkpoint(path, tensors, kind, extra={"state": json.dumps(record)})


def load_state(path: Path, kind: str, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  generators: dict[str, torch.Generator], config: dict, ignore: tuple[str, ...], schema: dict,
                  same: dict | None = None) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore everything `save_state` saved; refuse progress made with other options, or whose record does not
    fit `schema`, or whose values differ from `same` (e.g. the precision `auto` resolved to). Returns the JSON
    record and the extra tensors."""
    tensors, meta = load_checkpoint(path, kind)
    rewritable(path)  # the resumed run saves its progress there again
    unusable = f"--resume: {path} is not a usable progress file"
    try:
        state = json.loads(meta["state"])
        if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
            raise ValueError("its state is not a JSON object with the run's config")
    except (KeyError, ValueError, RecursionError) as exc:
        raise Hw3Error(f"{unusable} ({exc}); delete {path.parent} to start over") from None
    problem = problem_of(state, {**schema, "optimizers": dict}, "")
    if problem:
        raise Hw3Error(f"{unusable} ({problem}); delete {path.parent} to start over")
    saved = state["config"]
    changed = sorted(f"{k} ({_shown(saved.get(k))}, now {_shown(config.get(k))})" for k in set(saved) | set(config)
                     if k not in ignore and saved.get(k) != config.get(k))
    changed += sorted(f"{k} ({_shown(state[k])}, now {_shown(v)})" for k, v in (same or {}).items()
                      if k in state and state[k] != v)
    if changed:
        # Under torchrun the batch is split over the ranks: another world size would continue with other numbers.
        where = " and as many torchrun processes" if any(k.startswith("world_size") for k in changed) else ""
        raise Hw3Error(f"--resume: the interrupted run used other values of {', '.join(changed)}; "
                       f"resume with the same options{where}")

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

    try:  # a progress file we wrote, but damaged or cut: every part is checked as it is restored
        for name, module in modules.items():
            module.load_state_dict(part(name))
        for name, optimizer in optimizers.items():
            rest = state["optimizers"][name]
            # Progress is saved after a finished epoch, when every optimizer has state: without it, it would
            # silently start over.
            if not any(k.startswith(f"optimizer.{name}.") for k in tensors):
                raise KeyError(f"the {name} optimizer's state tensors are missing")
            load_optimizer_tensors(optimizer, f"optimizer.{name}", tensors, rest)
        for name, g in generators.items():
            g.set_state(tensors[f"rng.{name}"])
        torch.set_rng_state(tensors["rng.torch"])
        device = _device_of(modules)
        if "rng.cuda" in tensors and device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise Hw3Error(f"{unusable} ({' '.join(str(exc).split())[:200]}); delete {path.parent} to start over") from None
    return state, part("extra")
