"""`--precision auto` on a CPU with native bf16: fp32 where bf16 would make the run's dense layers slower.

bf16 autocast casts each weight to bf16 at every forward and each weight's gradient back to fp32: a cost that
grows with the layer and not with the batch, while bf16's faster products gain with the batch. On an Intel Xeon with
AMX, the Fashion-MNIST GAN's steps ran 1.6x faster in bf16 at its batch of 64, and 1.5x slower at the MSE GAN's
batch of 10. So a probe times the run's own dense products (forward, input gradient, weight gradient) in fp32, on
the library `--matmul` computes them with, and under bf16 autocast; fp32 is chosen where bf16 is clearly slower.
The choice is cached per machine and layer shapes (probes.py), so one machine keeps making the same numbers.
"""

from __future__ import annotations

import torch

from hw3cli.core import matmul
from hw3cli.core.probes import cached_choice, fastest_time
from hw3cli.data.sources import CACHE_DIR

# (rows, fan_in, fan_out) of each dense layer's product in one training step
Shapes = tuple[tuple[int, int, int], ...]

# fp32 replaces bf16 only where bf16 is at least this much slower: a probe beside other busy processes (make -j on
# every core, or more) finds bf16's gain smaller than it is (at batch 64 on the Xeon: 1.04-1.29x against 1.5x on
# quiet cores), not a loss, in the runs measured; so where bf16 is not clearly slower it stays.
SLOWER_BY = 1.10
PROBE_SECONDS = 0.05  # per precision
# Layers larger than this (numbers in their inputs, weights and gradients) take bf16 unprobed: its gain grows with
# the layer, and a probe of them would cost seconds and memory.
MOST_PROBED = 2**24
CACHE_FILE = CACHE_DIR / "precision.json"


def probe(shapes: Shapes, library: str, seconds: float = PROBE_SECONDS) -> dict[str, float]:
    """Milliseconds for one forward and backward pass through every layer of `shapes`, in fp32 (products on
    `library`) and under bf16 autocast, each the fastest of repeats over about `seconds`."""
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):  # the layers' initial weights draw nothing from the run's generator
        layers = [(torch.randn(rows, fan_in, generator=gen).requires_grad_(), matmul.Dense(fan_in, fan_out),
                   torch.randn(rows, fan_out, generator=gen)) for rows, fan_in, fan_out in shapes]

    def one_pass(bf16: bool) -> None:
        for x, layer, grad in layers:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = layer(x)
            out.backward(grad.to(out.dtype))
            x.grad = layer.weight.grad = layer.bias.grad = None

    with matmul.products(library):
        for bf16 in (False, True):  # the first pass also sets up each library's kernels: not timed
            one_pass(bf16)
        return {"fp32": round(fastest_time(lambda: one_pass(False), seconds) * 1e3, 4),
                "bf16": round(fastest_time(lambda: one_pass(True), seconds) * 1e3, 4)}


def choose(measured: dict[str, float]) -> str:
    return "fp32" if measured["bf16"] >= SLOWER_BY * measured["fp32"] else "bf16"


def size(shapes: Shapes) -> int:
    return sum(rows * (fan_in + fan_out) + fan_in * fan_out for rows, fan_in, fan_out in shapes)


def faster(shapes: Shapes, library: str) -> str:
    """'fp32' where bf16 trains `shapes` clearly slower here, else 'bf16' (so for layers too large to probe)."""
    if not shapes or size(shapes) > MOST_PROBED or any(min(s) < 1 for s in shapes):
        return "bf16"

    def decide() -> tuple[str, dict]:
        measured = probe(shapes, library)
        return choose(measured), measured

    key = "|".join([matmul.machine_key(), f"matmul={library}", ";".join("x".join(map(str, s)) for s in shapes)])
    return cached_choice(CACHE_FILE, key, lambda c: c in ("fp32", "bf16"), decide)
