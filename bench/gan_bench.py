"""Benchmark: `train-gan`'s loop against the conventional torchvision + DataLoader loop, in one run, and against
what this machine's best library computes.

First the machine: the fp32 rate of every library in reach for matrix products (torch's own, MKL on x86; oneDNN
through torch; the OpenBLAS numpy calls, and the kernel it chose for this CPU), at the products of one training step
and at n = 1024, side by side, and bf16 where the CPU computes it natively. Then
../shared/bench/peer_gan_loop.py (same models, Adam, batch size) in a subprocess, then our training loop on the
same data in fp32 under each library (`--matmul`) and, where this CPU computes bf16 natively, in bf16 autocast
(elsewhere bf16 is emulated and many times slower: it is skipped with a line saying so). Each line gives images per
second, the ratio to the peer and the share of the best library's rate at the step's own products that the whole
step reaches. `--matmul auto`'s choice here is named. Where bf16 is native, `--precision auto`'s probe (the GAN's
dense layers in each precision) is set beside the whole step in each precision, at batch 10 and the bench's batch:
at small batches bf16's casts cost more than its products gain. Last, the surrogate unrolled GAN's step (K = 5)
in each precision.

Both sides run with the same number of threads (default 1, as under `make -j`; OpenBLAS's too), and are timed after
the same warm-up: 1,000 steps by default, by when both loops' numbers are in the range of a real run (fresh weights
meet almost no subnormal numbers; a trained GAN's Adam moments hold about 1%), so that the ratio is that of a long
run. `--default-blas-kernel` adds one line: OpenBLAS's rate with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, in a
subprocess of its own (the tool itself leaves them as they are).

`--device cuda` times the step on a GPU instead, in fp32 and (where native) bf16, at the bench's batch and at 1,024,
beside the CPU peer of the same run.

Usage: .venv/bin/python bench/gan_bench.py [--iters 300] [--warmup 1000] [--batch 64] [--threads 1]
                                           [--default-blas-kernel] [--precision-batches 10] [--unroll-iters 60]
                                           [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from hw3cli.configs import GanConfig
from hw3cli.core import matmul, precision
from hw3cli.core.device import resolve_device
from hw3cli.core.hardware import describe, machine_record, native_bf16, why_cpu_bf16_emulated
from hw3cli.core.numerics import numerics
from hw3cli.data.fashion_mnist import ImageSource, find_folder, load_fashion_mnist
from hw3cli.errors import Hw3Error
from hw3cli.models.gan import Discriminator, Generator
from hw3cli.train.gan_loop import gan_training, make_optimizers
from hw3cli.train.gan_losses import Vanilla

CPU = torch.device("cpu")
SHARED = Path(os.environ.get("HW3CLI_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
PEER = SHARED / "bench" / "peer_gan_loop.py"


Shape = tuple[int, int, int]


def step_products(g: Generator, d: Discriminator, batch: int) -> list[Shape]:
    """(m, k, n) of every matrix product (m x k by k x n) of one training step: G forward and backward (weights, and
    inputs past the first layer); D forward on real and fake and backward for weights and inputs past the first
    layer (D step); then D forward and backward for inputs only, down to the image (G step)."""
    def layers(model):
        return [(m.in_features, m.out_features) for m in model.net if isinstance(m, torch.nn.Linear)]

    def trained(sizes):  # forward, weight gradient, input gradient past the first layer
        return [p for i, (fan_in, fan_out) in enumerate(sizes)
                for p in [(batch, fan_in, fan_out), (fan_out, batch, fan_in), *([(batch, fan_out, fan_in)] * (i > 0))]]

    through_d = [(batch, fan_in, fan_out) for fan_in, fan_out in layers(d)] + \
                [(batch, fan_out, fan_in) for fan_in, fan_out in layers(d)]
    return trained(layers(g)) + 2 * trained(layers(d)) + through_d


def flops(shapes: list[Shape]) -> float:
    return float(sum(2 * m * k * n for m, k, n in shapes))


def library_rate(library: str, shapes: list[Shape], dtype: torch.dtype = torch.float32, budget: float = 0.05) -> float:
    """FLOP/s of `library` over these products: each the fastest of repeats over about `budget` seconds."""
    product = matmul.PRODUCTS.get(library, torch.mm)
    gen, took = torch.Generator().manual_seed(0), 0.0
    for m, k, n in dict.fromkeys(shapes):
        a, b = torch.randn(m, k, generator=gen, dtype=dtype), torch.randn(k, n, generator=gen, dtype=dtype)
        took += shapes.count((m, k, n)) * matmul.fastest_time(product, a, b, budget)
    return flops(shapes) / took


def machine_rates(step: list[Shape], bf16: bool) -> dict[tuple[str, str], tuple[float, float]]:
    """(library, precision) -> (rate at the step's products, rate at n = 1024)."""
    square = [(1024, 1024, 1024)]
    rates = {}
    for library in matmul.LIBRARIES:
        if matmul.unavailable(library):
            continue
        with matmul.products(library):  # OpenBLAS with the threads torch has
            rates[(library, "fp32")] = (library_rate(library, step), library_rate(library, square, budget=0.5))
    if bf16:  # numpy has no bf16: torch's (oneDNN's on x86)
        rates[("torch", "bf16")] = (library_rate("torch", step, torch.bfloat16),
                                    library_rate("torch", square, torch.bfloat16, budget=0.5))
    return rates


def ours(data, iters: int, warmup: int, batch: int, precision: str, device: torch.device = CPU,
         unroll: int | None = None) -> float:
    torch.manual_seed(0)
    g, d = Generator().to(device), Discriminator().to(device)
    source = ImageSource.of(data, 0, device)
    loop = gan_training(generator=g, discriminator=d, loss=Vanilla(), source=source,
                        config=GanConfig(epochs=100, batch_size=batch, unroll=unroll).resolved(),
                        optimizers=make_optimizers(g, d, Vanilla.optimizer, 2e-4, 2e-4),
                        rng=torch.Generator(device).manual_seed(0), device=device, precision=precision)
    done, start = 0, time.perf_counter()  # restarted after `warmup` steps
    with numerics():  # what train-gan runs its loop under (subnormals flushed to zero)
        for record in loop:
            if record["event"] != "iteration":
                continue
            done += 1
            if done in (warmup, warmup + iters) and device.type == "cuda":
                torch.cuda.synchronize(device)  # the GPU's queue emptied: its steps, not their launches, timed
            if done == warmup:
                start = time.perf_counter()
            if done == warmup + iters:
                break
    return iters * batch / (time.perf_counter() - start)


def on_gpu(data, args, device: torch.device) -> None:
    """The step on a GPU, in fp32 and (where native) bf16, at the bench's batch and at 1,024 (a GPU only fills up
    with more rows); the CPU peer, in the same run, for scale."""
    print(f"machine: {describe(machine_record(device))}")
    peer = run_peer(args) if PEER.is_file() else None
    print(f"peer (torchvision + DataLoader, fp32, on the CPU, {args.threads} thread(s)): " +
          (f"{peer:8,.0f} images/s" if peer else f"not run: no {PEER} here"))
    kinds = ["fp32", "bf16"] if native_bf16(device) else ["fp32"]
    for batch in sorted({args.batch, 1024}):
        for kind in kinds:
            rate = ours(data, args.iters, args.warmup, batch, kind, device)
            print(f"train-gan {kind} on {device}, batch {batch:5}: {rate:10,.0f} images/s" +
                  (f"  ({rate / peer:.1f}x the CPU peer)" if peer else ""))


def run_peer(args) -> float:
    out = subprocess.run([sys.executable, str(PEER), "--iters", str(args.iters), "--batch", str(args.batch),
                          "--warmup", str(args.warmup), "--threads", str(args.threads),
                          "--data", str(find_folder(args.data))],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"images_per_second=([\d.]+)", out).group(1))


def precision_lines(data, batches: list[int], library: str, iters: int, warmup: int) -> None:
    """`--precision auto`'s probe at the GAN's layers for each batch, beside the whole step in fp32 and bf16."""
    print(f"--precision auto: its probe of the GAN's layers, and the step in each precision (fp32 on {library}):")
    for batch in batches:
        probed = precision.probe(GanConfig(batch_size=batch).dense_products, library)
        with matmul.products(library):
            fp32 = ours(data, iters, warmup, batch, "fp32")
        bf16 = ours(data, iters, warmup, batch, "bf16")
        print(f"  batch {batch:3}: probe fp32 {probed['fp32']:6.2f} ms, bf16 {probed['bf16']:6.2f} ms -> "
              f"{precision.choose(probed)}; step fp32 {fp32:6,.0f} images/s, bf16 {bf16:6,.0f} "
              f"(bf16 {bf16 / fp32:.2f}x as fast)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=1000, help="steps before timing, on both sides")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch (and OpenBLAS) threads for both sides")
    parser.add_argument("--default-blas-kernel", action="store_true",
                        help="also OpenBLAS's rate with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (a subprocess)")
    parser.add_argument("--precision-batches", default="10", help="batches for --precision auto's lines, besides "
                        "--batch (comma-separated)")
    parser.add_argument("--unroll-iters", type=int, default=60, help="steps timed (after as many) for the "
                        "surrogate unrolled GAN's line, where bf16 is native")
    parser.add_argument("--data", type=Path, default=None, help="Fashion-MNIST's folder (default: where train-gan "
                        "looks)")
    parser.add_argument("--device", default="cpu", help="cpu, or a GPU (cuda, cuda:N): the step there, fp32 and bf16")
    parser.add_argument("--rates-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rates_only:
        step = step_products(Generator(), Discriminator(), args.batch)
        with matmul.products("openblas"):
            print(f"{matmul.blas_kernel()}: {library_rate('openblas', step) / 1e9:.0f} GFLOP/s at the step's products, "
                  f"{library_rate('openblas', [(1024, 1024, 1024)], budget=0.5) / 1e9:.0f} at n = 1024")
        return
    try:
        device = resolve_device(args.device, args.threads)
        if device.type not in ("cpu", "cuda"):
            raise Hw3Error(f"--device {args.device}: the bench runs on the CPU or a CUDA GPU")
        data = load_fashion_mnist(args.data)
        if not PEER.is_file() and device.type == "cpu":
            raise Hw3Error(f"the peer loop is not at {PEER} (HW3CLI_SHARED names the folder that holds bench/)")
    except Hw3Error as exc:
        parser.error(str(exc))
    if device.type == "cuda":
        on_gpu(data, args, device)
        return
    step = step_products(Generator(), Discriminator(), args.batch)
    emulated = why_cpu_bf16_emulated()
    bf16 = emulated is None
    print(f"machine: {describe(machine_record(torch.device('cpu')))}; numpy's BLAS: {matmul.blas_kernel()}")
    rates = machine_rates(step, bf16)
    best = {p: max(v[0] for (_, q), v in rates.items() if q == p) for p in ("fp32", "bf16") if (p == "fp32" or bf16)}
    per_image = flops(step) / args.batch
    print(f"matrix products, GFLOP/s ({per_image / 1e6:.1f} MFLOP per image per training step):")
    print(f"  {'library':10} {'precision':9} {'step products':>13} {'n = 1024':>9}")
    for (library, kind), (at_step, square) in rates.items():
        print(f"  {library:10} {kind:9} "
              f"{at_step / 1e9:13.0f} {square / 1e9:9.0f}")
    if args.default_blas_kernel:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        out = subprocess.run([sys.executable, __file__, "--rates-only", "--threads", str(args.threads)], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        where = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ)
        print(f"  openblas with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset ({where or 'neither is set here'}): {out}")
    auto = matmul.choose(matmul.probe())
    print(f"--matmul auto here: {auto}")
    peer = run_peer(args)
    print(f"peer (torchvision + DataLoader, fp32):  {peer:8,.0f} images/s               "
          f"({peer * per_image / best['fp32']:.0%} of the best fp32 rate at the step's products)")
    if not bf16:
        print(f"train-gan bf16: skipped: no native bf16 arithmetic here ({emulated}; emulated bf16 is many times "
              "slower than fp32; --precision auto trains in fp32 here)")
    runs = [(library, "fp32") for library, p in rates if p == "fp32"] + ([("torch", "bf16")] if bf16 else [])
    for library, kind in runs:
        with matmul.products(library):
            rate = ours(data, args.iters, args.warmup, args.batch, kind)
        name = f"train-gan {kind}, --matmul {library}:"
        print(f"{name:40} {rate:8,.0f} images/s  ratio {rate / peer:.2f}x  "
              f"({rate * per_image / best[kind]:.0%} of the best {kind} rate at the step's products)")
    if bf16:
        batches = sorted({*(int(b) for b in args.precision_batches.split(",") if b), args.batch})
        precision_lines(data, batches, auto, args.iters, args.warmup)
        with matmul.products(auto):
            fp32 = ours(data, args.unroll_iters, args.unroll_iters, args.batch, "fp32", unroll=5)
        bf16_rate = ours(data, args.unroll_iters, args.unroll_iters, args.batch, "bf16", unroll=5)
        print(f"the surrogate unrolled GAN (--unroll 5), batch {args.batch}: fp32 {fp32:6,.0f} images/s, bf16 "
              f"{bf16_rate:6,.0f} (bf16 {bf16_rate / fp32:.2f}x as fast)")


if __name__ == "__main__":
    main()
