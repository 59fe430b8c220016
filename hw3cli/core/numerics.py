"""`--deterministic` and `--detect-anomaly`: PyTorch's switches for bit-reproducible kernels and for finding
the operation that produced a NaN, set for the length of one training run and restored afterwards."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from hw3cli.errors import Hw3Error, TrainingDiverged


@contextlib.contextmanager
def numerics(deterministic: bool = False, detect_anomaly: bool = False) -> Iterator[None]:
    """Without `deterministic` runs are still seeded, and on CPU already repeat exactly; the switch matters on
    GPUs, where some kernels (cuDNN autotuning, atomics in scatter/index_add) are otherwise free to vary."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's requirement for repeatable GEMMs
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        with torch.autograd.set_detect_anomaly(detect_anomaly):
            yield
    except RuntimeError as exc:
        message = " ".join(str(exc).split())
        if detect_anomaly and "returned nan values" in message:
            # Anomaly mode has already warned with the forward call's traceback; name the backward op here.
            raise TrainingDiverged(f"training diverged: {message.split('. ')[0]} (--detect-anomaly; the forward "
                                   "call that made it is printed above)") from None
        if deterministic and "deterministic" in message:
            raise Hw3Error(f"--deterministic: {message.split('. ')[0]}; run without --deterministic on this "
                           "device") from None
        raise
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[1], before[2]
        if before[3] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
