"""safetensors checkpoints that carry what is needed to rebuild their model (never pickle).

Two parts are written by hand on purpose, around the safetensors library (which does the loading):
- the writer: safetensors' own `save` orders the metadata differently from process to process, so the same
  weights would give different bytes; ours sorts every key, and writes the tensors' memory without a copy;
- the header check before loading: the file is opened once, through the one input path (core/files: no FIFO,
  device or folder), and its header is checked (dtypes, shapes and offsets tile the file exactly; the memory
  they need is free) before any tensor byte is read. `safe_open(path).metadata()` would open the path a second
  time by name and map it, after the checks rather than under them.
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load

from hw3cli import __version__
from hw3cli.core.files import atomic_write_bytes, open_input
from hw3cli.core.memory import require as require_memory
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
    metadata = _metadata(kind, model_args, extra)
    return atomic_write_bytes(path, safetensors_bytes(tensors, metadata))


_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
           torch.bool: "BOOL"}
_NUMPY_DTYPES = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.int64): "I64",
                 np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL"}


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> list[memoryview]:
    """The safetensors file of `tensors`, as buffers to write one after the other: the tensors' own memory
    where it can be (no copy of a large matrix), and the header with every key in sorted order, so that the
    same tensors give the same bytes (safetensors' own writer orders the metadata at random)."""
    cpu = {name: tensors[name].detach().to("cpu").contiguous() for name in sorted(tensors)}
    buffers = [memoryview(t.reshape(-1).view(torch.uint8).numpy()) if t.numel() else memoryview(b"")
               for t in cpu.values()]
    header, _ = _header({name: (_DTYPES[t.dtype], tuple(t.shape), len(data))
                         for (name, t), data in zip(cpu.items(), buffers)}, metadata)
    return [memoryview(header)] + buffers


def _header(layout: dict[str, tuple[str, tuple[int, ...], int]], metadata: dict[str, str]) -> tuple[bytes, dict]:
    """safetensors' 8-byte length and JSON header for tensors (dtype name, shape, bytes) laid out in name
    order, and each tensor's offset in the file."""
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))}
    offsets, offset = {}, 0
    for name in sorted(layout):
        dtype, shape, size = layout[name]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offsets[name], offset = offset, offset + size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the tensors start 8-byte aligned
    return len(text).to_bytes(8, "little") + text, {name: 8 + len(text) + at for name, at in offsets.items()}


class TensorFile:
    """A safetensors checkpoint filled in place, for tensors too big to build in memory and then copy into a
    file: the file is sized and its header written first, and `arrays` are numpy views mapped onto it, zero
    until filled (here, or in a process forked after this was made). A metadata value only known later gets
    a placeholder of its final length; `finish` writes the real ones, flushes and fsyncs the file. Write it
    inside an `atomic_folder`: until then it is only half a file."""

    def __init__(self, path: str | os.PathLike, layout: dict[str, tuple[np.dtype, tuple[int, ...]]], kind: str,
                 model_args: dict[str, Any] | None = None, extra: dict[str, Any] | None = None):
        self.path, self._kind, self._model_args, self._extra = Path(path), kind, model_args, dict(extra or {})
        self._layout = {name: (_NUMPY_DTYPES[np.dtype(dtype)], tuple(shape),
                               int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
                        for name, (dtype, shape) in layout.items()}
        header, offsets = _header(self._layout, _metadata(kind, model_args, extra))
        size = len(header) + sum(size for _, _, size in self._layout.values())
        try:
            self._file = open(self.path, "w+b")
            self._file.truncate(size)
            self._map = mmap.mmap(self._file.fileno(), size)
        except OSError as exc:
            raise Hw3Error(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._map[:len(header)] = header
        self.arrays = {name: np.frombuffer(self._map, np.dtype(dtype), int(np.prod(shape, dtype=np.int64)),
                                           offsets[name]).reshape(shape)
                       for name, (dtype, shape) in layout.items()}

    def finish(self, extra: dict[str, Any]) -> Path:
        """Write the metadata values that had placeholders (`extra`), flush and fsync."""
        header, _ = _header(self._layout, _metadata(self._kind, self._model_args, {**self._extra, **extra}))
        if len(header) != int.from_bytes(self._map[:8], "little") + 8:
            raise ValueError("a metadata value changed length after its placeholder was written")
        self._map[:len(header)] = header
        self.arrays = {}
        try:
            self._map.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise Hw3Error(f"cannot write {self.path}: {exc.strerror or exc}") from None
        with contextlib.suppress(BufferError):  # a caller still holding an array keeps the mapping open
            self._map.close()
        self._file.close()
        return self.path


def _metadata(kind: str, model_args: dict[str, Any] | None, extra: dict[str, Any] | None) -> dict[str, str]:
    metadata = {
        "format": FORMAT,
        "kind": kind,
        "model_args": json.dumps(model_args or {}, sort_keys=True),
        "hw3cli_version": __version__,
    }
    for key, value in (extra or {}).items():
        metadata[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return metadata


HEADER_LIMIT = 100 * 2**20  # safetensors' own limit on the JSON header
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def read_safetensors(path: str | os.PathLike, what: str = "checkpoint") -> tuple[dict[str, torch.Tensor], dict]:
    """A safetensors file read header first: the header's every tensor (dtype, shape, offsets) is checked against
    the file's size and the memory available before any tensor data is read. Returns (tensors, metadata)."""
    return _read(Path(path), what, tensors=True)


def read_metadata(path: str | os.PathLike, what: str = "checkpoint") -> dict[str, str]:
    """A safetensors file's metadata alone, from its header: no tensor is read."""
    return _read(Path(path), what, tensors=False)[1]


def _read(path: Path, what: str, tensors: bool) -> tuple[dict[str, torch.Tensor], dict]:
    with open_input(path, what) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            length = int.from_bytes(handle.read(8), "little") if size >= 8 else -1
            if not 0 < length <= min(HEADER_LIMIT, size - 8):
                raise ValueError("its header length does not fit the file")
            header = json.loads(handle.read(length).decode("utf-8"))
            if not isinstance(header, dict):
                raise ValueError("its header is not a JSON object")
            metadata = header.pop("__metadata__", {}) or {}
            if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
                raise ValueError("its metadata is not a table of strings")
            if not tensors:
                return {}, dict(metadata)
            end = _check_layout(header)
            if 8 + length + end != size:
                raise ValueError(f"its header describes {end:,} bytes of tensors, the file holds {size - 8 - length:,}")
            require_memory(end, f"{what} {path}")
            handle.seek(0)
            loaded = st_load(handle.read())
        except (SafetensorError, ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError, OverflowError,
                RecursionError) as exc:
            raise Hw3Error(f"{path} is not a readable safetensors {what} ({exc})") from None
        except OSError as exc:
            raise Hw3Error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return loaded, dict(metadata)


def _check_layout(header: dict) -> int:
    """Every tensor entry well formed and the entries tiling the data without gaps; returns the data's size."""
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or not isinstance(info.get("dtype"), str) or info["dtype"] not in _ITEMSIZE:
            raise ValueError(f"tensor {name!r} has no known dtype")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise ValueError(f"tensor {name!r} has a malformed shape")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise ValueError(f"tensor {name!r} has malformed offsets")
        if offsets[0] < 0 or offsets[1] - offsets[0] != math.prod(shape) * _ITEMSIZE[info["dtype"]]:
            raise ValueError(f"tensor {name!r}: its offsets do not match its shape")
        spans.append(tuple(offsets))
    end = 0
    for start, stop in sorted(spans):
        if start != end:
            raise ValueError("its tensors overlap or leave gaps")
        end = stop
    return end


def load_checkpoint(path: str | os.PathLike, kind: str | tuple[str, ...] | None = None):
    """Return (tensors, metadata) with `model_args` decoded; refuse files of another kind."""
    path = Path(path)
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise Hw3Error(f"{path} is not an hw3cli checkpoint (no hw3cli metadata)")
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds and metadata.get("kind") not in kinds:
        raise Hw3Error(
            f"{path} holds a '{metadata.get('kind')}' model, expected {' or '.join(repr(k) for k in kinds)}"
        )
    try:
        metadata["model_args"] = json.loads(metadata.get("model_args", "{}"))
    except (ValueError, RecursionError):  # ValueError: bad JSON, or an integer of over 4,300 digits
        raise Hw3Error(f"{path} has corrupt model arguments in its metadata") from None
    problem = _implausible(metadata["model_args"])
    if problem:
        raise Hw3Error(f"{path} has corrupt model arguments in its metadata ({problem})")
    return tensors, metadata


def _implausible(args: Any) -> str | None:
    """What is wrong with model arguments that no model of this tool has: building even a skeleton of a model
    with a million layers takes minutes, so they are refused before anything is built."""
    if not isinstance(args, dict):
        return "not a JSON object"
    for key, value in args.items():
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) > 64:
            return f"{key} lists {len(value)} layers"
        if any(isinstance(v, (list, dict)) for v in values):
            return f"{key} is nested"
        if key == "layers" and isinstance(value, int) and value > 64:
            return f"{value} layers"
        if any(isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 for v in values):
            return f"{key} is negative"
    return None


def load_model(path: str | os.PathLike, kind: str | tuple[str, ...],
               build: Callable[[str, dict], torch.nn.Module], what: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a model with `build(kind, model_args)` from its checkpoint's metadata and load its weights; a
    checkpoint whose arguments or tensors do not fit is a one-line error naming `what` was expected."""
    tensors, metadata = load_checkpoint(path, kind)
    try:
        # Built on the meta device first: arguments that do not match the file's tensors (or that ask for a model
        # of many GB) are refused before anything is allocated; the real model is then the file's own size.
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on zero-size layers: the error below says it all
            skeleton = build(metadata["kind"], metadata["model_args"])
        expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in tensors.items()}
        if expected != found:
            differ = sorted(set(expected) ^ set(found)) or sorted(k for k in expected if expected[k] != found[k])
            raise ValueError(f"its arguments and its tensors disagree on {', '.join(differ[:3])}")
        broken = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if broken:
            raise ValueError(f"{broken[0]} holds NaN or infinite weights")
        model = build(metadata["kind"], metadata["model_args"])
        model.load_state_dict(tensors)
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
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
