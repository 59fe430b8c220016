"""`--deterministic` and `--detect-anomaly`: PyTorch's switches for bit-reproducible kernels and for finding
the operation that produced a NaN, set for the length of one training run and restored afterwards, with the
subnormal numbers of CPU arithmetic flushed to zero for as long."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from hw3cli.errors import Hw3Error, TrainingDiverged


@contextlib.contextmanager
def numerics(deterministic: bool = False, detect_anomaly: bool = False) -> Iterator[None]:
    """Without `deterministic` runs are still seeded, and on CPU already repeat exactly; the switch matters on
    GPUs, where some kernels (cuDNN autotuning, atomics in scatter/index_add) are otherwise free to vary.

    Subnormal numbers (below fp32's 1.2e-38) are flushed to zero: Adam's second moments hold squared gradients, and
    about 1% of a GAN's fall that low after a few hundred steps, where an x86 core takes a slow microcode assist for
    every instruction that meets one. Two epochs of a fp32 `train-gan` ran 1.21-1.23x as fast with them flushed,
    with a byte-identical metrics.json (a 2-core Xeon with AMX). The switch is the calling thread's: all of torch's
    arithmetic at one thread (every job under `make -j`); with more, torch's worker threads keep the state they were
    started with. It also governs Python's own float arithmetic on this thread, hence restored afterwards."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"), subnormals_flushed())
    torch.set_flush_denormal(True)  # a no-op (returning False) on a CPU that cannot
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
        torch.set_flush_denormal(before[4])


def subnormals_flushed() -> bool:
    """Whether this thread's float arithmetic now flushes subnormal numbers to zero."""
    return torch.tensor(1e-39, dtype=torch.float32).mul(1.0).item() == 0.0
