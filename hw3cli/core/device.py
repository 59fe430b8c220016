"""`--device auto|cpu|cuda|mps` to a torch.device, failing clearly when the device is absent."""

from __future__ import annotations

import torch

from hw3cli.core.hardware import default_threads
from hw3cli.errors import Hw3Error

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str, threads: int = 0) -> torch.device:
    """The device to train on; also sets torch's CPU threads: `threads`, or with 0 the CPUs this process may
    really use (hardware.default_threads: affinity and cgroup quota, or OMP_NUM_THREADS)."""
    threads = threads or default_threads()
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    name = name.lower()
    if name not in DEVICES and not name.startswith("cuda:"):
        raise Hw3Error(f"unknown device '{name}': choose one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise Hw3Error(f"--device {name} was asked for, but torch sees no CUDA device")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise Hw3Error(f"--device {name} was asked for, but torch sees {torch.cuda.device_count()} CUDA device(s), "
                       f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise Hw3Error("--device mps was asked for, but MPS is not available")
    return torch.device(name)
