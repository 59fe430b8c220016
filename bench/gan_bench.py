"""Benchmark: `train-gan`'s loop against the conventional torchvision + DataLoader loop, in one run.

Runs ../shared/bench/peer_gan_loop.py (same models, Adam, batch size) in a subprocess, then our training loop
on the same data in fp32 and, where this CPU computes bf16 natively, in bf16 autocast (elsewhere bf16 is emulated
and many times slower: it is skipped with a line saying so). Prints the machine first, then images per second, the
ratios, and the share of this machine's matmul peak (measured here, in the same run) that each training step reaches.
Both sides run with the same number of torch threads (default 1, as under `make -j`), and are timed after the same
warm-up: 1,000 steps by default, by when both loops' numbers are in the range of a real run (fresh weights meet
almost no subnormal numbers; a trained GAN's Adam moments hold about 1%), so that the ratio is that of a long run.

Usage: .venv/bin/python bench/gan_bench.py [--iters 300] [--warmup 1000] [--batch 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from hw3cli.configs import GanConfig
from hw3cli.core.hardware import describe, machine_record, why_cpu_bf16_emulated
from hw3cli.core.numerics import numerics
from hw3cli.data.fashion_mnist import ImageSource, load_fashion_mnist
from hw3cli.models.gan import Discriminator, Generator
from hw3cli.train.gan_loop import gan_training, make_optimizers
from hw3cli.train.gan_losses import Vanilla

PEER = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "peer_gan_loop.py"


def matmul_peak(dtype: torch.dtype, n: int = 1024, budget: float = 1.0) -> float:
    """Matmul FLOP/s of an n x n product, repeated for about `budget` seconds (at least twice)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    start = time.perf_counter()
    a @ b
    once = time.perf_counter() - start
    reps = max(2, int(budget / max(once, 1e-6)))
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start)


def flops_per_image(g: Generator, d: Discriminator) -> float:
    """Matmul FLOPs of one image through our step: G forward and backward (weights, and inputs past the first
    layer); D forward on real and fake, backward for weights and inputs past the first layer (D step), then D
    forward and backward for inputs only on the fake (G step)."""
    g_macs = [m.in_features * m.out_features for m in g.net if isinstance(m, torch.nn.Linear)]
    d_macs = [m.in_features * m.out_features for m in d.net if isinstance(m, torch.nn.Linear)]
    g_total = sum(g_macs) + sum(g_macs) + sum(g_macs[1:])  # forward, weight grads, input grads
    d_step = 2 * (sum(d_macs) + sum(d_macs) + sum(d_macs[1:]))  # real and fake
    g_step_through_d = sum(d_macs) + sum(d_macs)  # forward, input grads down to the image
    return 2.0 * (g_total + d_step + g_step_through_d)


def ours(data, iters: int, warmup: int, batch: int, precision: str) -> float:
    torch.manual_seed(0)
    g, d = Generator(), Discriminator()
    source = ImageSource(data.train_images, data.train_labels)
    loop = gan_training(generator=g, discriminator=d, loss=Vanilla(), source=source,
                        config=GanConfig(epochs=100, batch_size=batch).resolved(),
                        optimizers=make_optimizers(g, d, Vanilla.optimizer, 2e-4, 2e-4),
                        rng=torch.Generator().manual_seed(0), device=torch.device("cpu"), precision=precision)
    done, start = 0, time.perf_counter()  # restarted after `warmup` steps
    with numerics():  # what train-gan runs its loop under (subnormals flushed to zero)
        for record in loop:
            if record["event"] != "iteration":
                continue
            done += 1
            if done == warmup:
                start = time.perf_counter()
            if done == warmup + iters:
                break
    return iters * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=1000, help="steps before timing, on both sides")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    emulated = why_cpu_bf16_emulated()
    bf16 = emulated is None
    print(f"machine: {describe(machine_record(torch.device('cpu')))}")
    out = subprocess.run([sys.executable, str(PEER), "--iters", str(args.iters), "--batch", str(args.batch),
                          "--warmup", str(args.warmup), "--threads", str(args.threads)],
                         capture_output=True, text=True, check=True).stdout
    peer = float(re.search(r"images_per_second=([\d.]+)", out).group(1))
    data = load_fashion_mnist()
    peaks = {"fp32": matmul_peak(torch.float32)}
    if bf16:
        peaks["bf16"] = matmul_peak(torch.bfloat16)
    per_image = flops_per_image(Generator(), Discriminator())
    print("matmul peak here: " + ", ".join(f"{p} {v / 1e9:.0f} GFLOP/s" for p, v in peaks.items())
          + f"; {per_image / 1e6:.1f} MFLOP per image per training step")
    print(f"peer (torchvision + DataLoader, fp32): {peer:8,.0f} images/s  ({peer * per_image / peaks['fp32']:.0%} of "
          "fp32 peak, at our step's FLOPs)")
    if not bf16:
        print(f"train-gan bf16: skipped: no native bf16 arithmetic here ({emulated}; emulated bf16 is many times "
              "slower than fp32; --precision auto trains in fp32 here)")
    for precision, peak in peaks.items():
        rate = ours(data, args.iters, args.warmup, args.batch, precision)
        print(f"train-gan {precision}:                      {rate:8,.0f} images/s  ratio {rate / peer:.2f}x  "
              f"({rate * per_image / peak:.0%} of {precision} peak)")


if __name__ == "__main__":
    main()
