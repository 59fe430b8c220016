"""Resumable training progress: one safetensors file, written atomically after every epoch, holding the
weights, optimizer states, random-number-generator states and a JSON record of everything else."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from hw3cli.core.checkpoint import load_checkpoint, load_optimizer_tensors, optimizer_tensors, save_checkpoint
from hw3cli.errors import Hw3Error

# Options that may differ between a run and its resumption.
RESUME_IGNORES = ("resume", "overwrite", "threads", "deterministic", "detect_anomaly")


def progress_file(run_dir: Path) -> Path:
    """Where a run's progress lives while it trains: beside the run folder, removed once the run is in place."""
    return run_dir.with_name(run_dir.name + ".partial") / "progress.safetensors"


def save_progress(path: Path, kind: str, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  generators: dict[str, torch.Generator], state: dict,
                  extra: dict[str, torch.Tensor] | None = None) -> None:
    tensors = {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}
    optimizer_rest = {}
    for name, optimizer in optimizers.items():
        flat, optimizer_rest[name] = optimizer_tensors(f"optimizer.{name}", optimizer)
        tensors.update(flat)
    tensors.update({f"rng.{name}": g.get_state() for name, g in generators.items()})
    tensors["rng.torch"] = torch.get_rng_state()  # dropout draws from torch's global generator
    tensors.update({f"extra.{k}": v for k, v in (extra or {}).items()})
    record = {**state, "optimizers": optimizer_rest}
    save_checkpoint(path, tensors, kind, extra={"state": json.dumps(record)})


def load_progress(path: Path, kind: str, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                  generators: dict[str, torch.Generator], config: dict, ignore: tuple[str, ...]
                  ) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore everything `save_progress` saved; refuse progress made with other options. Returns the JSON
    record and the extra tensors."""
    tensors, meta = load_checkpoint(path, kind)
    try:
        state = json.loads(meta["state"])
        if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
            raise ValueError("its state is not a JSON object with the run's config")
    except (KeyError, ValueError) as exc:
        raise Hw3Error(f"--resume: {path} is not a usable progress file ({exc}); delete {path.parent} to start "
                       "over") from None
    saved = state["config"]
    changed = sorted(k for k in set(saved) | set(config) if k not in ignore and saved.get(k) != config.get(k))
    if changed:
        raise Hw3Error(f"--resume: the interrupted run used other values of {', '.join(changed)}; "
                       "resume with the same options")

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

    try:  # a progress file we wrote, but damaged or cut: every part is checked as it is restored
        for name, module in modules.items():
            module.load_state_dict(part(name))
        for name, optimizer in optimizers.items():
            load_optimizer_tensors(optimizer, f"optimizer.{name}", tensors, state["optimizers"][name])
        for name, g in generators.items():
            g.set_state(tensors[f"rng.{name}"])
        torch.set_rng_state(tensors["rng.torch"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise Hw3Error(f"--resume: {path} is not a usable progress file ({' '.join(str(exc).split())[:200]}); "
                       f"delete {path.parent} to start over") from None
    return state, part("extra")
