"""safetensors checkpoints that carry what is needed to rebuild their model (never pickle)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from hw3cli import __version__
from hw3cli.core.files import atomic_write_bytes
from hw3cli.errors import Hw3Error

FORMAT = "hw3cli"


def save_checkpoint(
    path: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    kind: str,
    model_args: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save tensors atomically; `kind` names the model and `model_args` rebuild it."""
    metadata = {
        "format": FORMAT,
        "kind": kind,
        "model_args": json.dumps(model_args or {}, sort_keys=True),
        "hw3cli_version": __version__,
    }
    for key, value in (extra or {}).items():
        metadata[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    return atomic_write_bytes(path, st_save(cpu, metadata=metadata))


def load_checkpoint(path: str | os.PathLike, kind: str | tuple[str, ...] | None = None):
    """Return (tensors, metadata) with `model_args` decoded; refuse files of another kind."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Hw3Error(f"checkpoint not found: {path}") from None
    except OSError as exc:
        raise Hw3Error(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    try:
        tensors = st_load(data)
        metadata = _read_metadata(data)
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Hw3Error(f"{path} is not a readable safetensors checkpoint ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise Hw3Error(f"{path} is not an hw3cli checkpoint (no hw3cli metadata)")
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds and metadata.get("kind") not in kinds:
        raise Hw3Error(
            f"{path} holds a '{metadata.get('kind')}' model, expected {' or '.join(repr(k) for k in kinds)}"
        )
    try:
        metadata["model_args"] = json.loads(metadata.get("model_args", "{}"))
    except json.JSONDecodeError:
        raise Hw3Error(f"{path} has corrupt model arguments in its metadata") from None
    return tensors, metadata


def load_model(path: str | os.PathLike, kind: str | tuple[str, ...],
               build: Callable[[str, dict], torch.nn.Module], what: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a model with `build(kind, model_args)` from its checkpoint's metadata and load its weights; a
    checkpoint whose arguments or tensors do not fit is a one-line error naming `what` was expected."""
    tensors, metadata = load_checkpoint(path, kind)
    try:
        model = build(metadata["kind"], metadata["model_args"])
        model.load_state_dict(tensors)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise Hw3Error(f"{path} does not rebuild a {what} ({exc})") from None
    return model, metadata


def optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state as flat tensors for safetensors, plus the JSON-able rest (param groups, scalars)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                           rest: dict) -> None:
    """Inverse of `optimizer_tensors`."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for name, value in rest["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": rest["param_groups"]})


def _read_metadata(data: bytes) -> dict[str, str]:
    # safetensors' header: 8-byte little-endian length, then a JSON object.
    if len(data) < 8:
        raise ValueError("file too short")
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size].decode("utf-8"))
    return dict(header.get("__metadata__", {}))
