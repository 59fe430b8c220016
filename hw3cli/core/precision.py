"""`--precision auto` on a CPU with native bf16: fp32 where bf16 would make the run's dense layers slower.

bf16 autocast casts each weight to bf16 at every forward and each weight's gradient back to fp32: a cost that
grows with the layer and not with the batch, while bf16's faster products gain with the batch. On an Intel Xeon with
AMX, the Fashion-MNIST GAN's step ran 1.25x as fast in bf16 at its batch of 64, and 0.67x as fast at a batch of 10
(bench/gan_bench.py). So a probe times the run's own dense products (forward, input gradient, weight gradient) in
fp32, on the library `--matmul` computes them with, and under bf16 autocast; fp32 is chosen where bf16 is clearly
slower. The choice is cached per machine and layer shapes (probes.py), so one machine keeps making the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hw3cli.core import matmul
from hw3cli.core.hardware import resolve_precision
from hw3cli.core.probes import cached_choice, fastest_times

# (rows, fan_in, fan_out) of each dense layer's product in one training step
Shapes = tuple[tuple[int, int, int], ...]

# fp32 replaces bf16 only where bf16 is at least this much slower: a probe beside other busy processes (make -j on
# every core, or more) finds bf16's gain smaller than it is (at batch 64 on the Xeon: 1.04-1.29x against 1.5x on
# quiet cores), not a loss, in the runs measured; so where bf16 is not clearly slower it stays.
SLOWER_BY = 1.10
PROBE_SECONDS = 0.05  # per precision
# Layers larger than these (numbers in their inputs, weights and gradients; floating-point operations of a pass) take
# bf16 unprobed: its gain grows with the layer, and a probe of them would cost seconds and memory.
MOST_PROBED = 2**24
MOST_FLOPS = 4e9


def decide(requested: str, device: torch.device, bf16_keeps_quality: bool, shapes: Shapes,
           library: Callable[[], str]) -> tuple[str, str | None, dict | None]:
    """The precision a run trains in, a warning where bf16 was asked for on a device that emulates it, and what the
    probe measured where one decided: the hardware's answer (hardware.resolve_precision), then on a CPU, fp32 where
    `auto`'s bf16 would make the run's dense layers (`shapes`) clearly slower than fp32 on `library()` (asked only
    then)."""
    chosen, warning = resolve_precision(requested, device, bf16_keeps_quality)
    measured = None
    if requested == "auto" and chosen == "bf16" and device.type == "cpu" and probed(shapes):
        chosen, measured = faster(shapes, library())
    return chosen, warning, measured


def probe(shapes: Shapes, library: str, seconds: float = PROBE_SECONDS) -> dict[str, float]:
    """Milliseconds for one forward and backward pass through every layer of `shapes`, in fp32 (products on
    `library`) and under bf16 autocast, each the fastest of repeats over about `seconds`, the two taking turns."""
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
        took = fastest_times({"fp32": lambda: one_pass(False), "bf16": lambda: one_pass(True)}, seconds)
    return {name: round(took[name] * 1e3, 4) for name in took}


def choose(measured: dict[str, float]) -> str:
    return "fp32" if measured["bf16"] >= SLOWER_BY * measured["fp32"] else "bf16"


def probed(shapes: Shapes) -> bool:
    """Whether the probe weighs these layers (some, none empty, none too large)."""
    return bool(shapes) and all(min(s) >= 1 for s in shapes) and size(shapes) <= MOST_PROBED and \
        flops(shapes) <= MOST_FLOPS


def size(shapes: Shapes) -> int:
    return sum(rows * (fan_in + fan_out) + fan_in * fan_out for rows, fan_in, fan_out in shapes)


def flops(shapes: Shapes) -> float:
    return sum(6.0 * rows * fan_in * fan_out for rows, fan_in, fan_out in shapes)


def cache_file():
    from hw3cli.data.sources import CACHE_DIR

    return CACHE_DIR / "precision.json"


def faster(shapes: Shapes, library: str) -> tuple[str, dict | None]:
    """(choice, what the probe measured): 'fp32' where bf16 trains `shapes` clearly slower here, else 'bf16'; so
    also, with nothing measured, for layers too large to probe and where the probe itself fails (it must never cost
    the run)."""
    if not probed(shapes):
        return "bf16", None

    def measure() -> tuple[str, dict]:
        measured = probe(shapes, library)
        return choose(measured), measured

    key = "|".join([matmul.machine_key(), f"matmul={library}", ";".join("x".join(map(str, s)) for s in shapes)])
    try:
        choice, measured = cached_choice(cache_file(), key, lambda c: c in ("fp32", "bf16"), measure)
    except (RuntimeError, MemoryError):  # a library that cannot run the probe's layers: not cached
        return "bf16", None
    timed = isinstance(measured, dict) and all(isinstance(measured.get(p), (int, float)) and measured[p] > 0
                                               for p in ("fp32", "bf16"))
    return choice, {p: float(measured[p]) for p in ("fp32", "bf16")} if timed else None
