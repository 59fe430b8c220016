"""Benchmark: does torchrun pay on this machine? The same `train-gan` run, in one run of this script, as
1 process x 1 thread, 1 process x N threads and N torchrun ranks x 1 thread (N = the CPUs this process may use, or
--ranks), each timed by the run's own timings.json (training loop only, not start-up).

Prints the machine first, then images per second and the ratios. Under torchrun every step averages G's and D's
gradients over the ranks (about 12 MB at the default sizes), so on a few CPU cores it may well not pay: the
expected use is GPUs and nodes, where each rank has a device of its own.

Usage: .venv/bin/python bench/distributed_bench.py [--epochs 1] [--limit 6000] [--batch 64] [--ranks N] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from hw3cli.core.hardware import describe, machine_record, usable_cpus


def train_gan(out: Path, args, threads: int, ranks: int) -> float:
    """images/s of one train-gan run, from its timings.json."""
    command = ["-m", "hw3cli", "train-gan", "--epochs", str(args.epochs), "--limit", str(args.limit),
               "--batch-size", str(args.batch), "--sample-every", "0", "--precision", "fp32", "--device", args.device,
               "--threads", str(threads), "--out", str(out)]
    launcher = [sys.executable] if ranks == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                    "--nproc-per-node", str(ranks)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([*launcher, *command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"train-gan failed ({' '.join(launcher[1:])}):\n{done.stderr[-2000:]}")
    return json.loads((out / "timings.json").read_text())["images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--ranks", type=int, default=0, help="0: the CPUs this process may use")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    ranks = args.ranks or usable_cpus()
    print(f"machine: {describe(machine_record(torch.device('cpu')))}")
    if ranks < 2:
        print(f"this process may use {ranks} CPU: nothing to split over ranks; pass --ranks 2 to measure anyway")
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = {
            "1 process x 1 thread": train_gan(Path(tmp) / "one", args, 1, 1),
            f"1 process x {ranks} threads": train_gan(Path(tmp) / "threads", args, ranks, 1),
            f"{ranks} ranks x 1 thread (torchrun, gloo)": train_gan(Path(tmp) / "ranks", args, 1, ranks),
        }
    base = rows["1 process x 1 thread"]
    print(f"train-gan, batch {args.batch}, {args.limit:,} images x {args.epochs} epoch(s), fp32, {args.device}:")
    for name, rate in rows.items():
        print(f"  {name:<36} {rate:>8,.0f} images/s  {rate / base:.2f}x")
    threads, split = rows[f"1 process x {ranks} threads"], rows[f"{ranks} ranks x 1 thread (torchrun, gloo)"]
    verdict = "pays" if split > threads else "does not pay"
    print(f"torchrun {verdict} here: {split / threads:.2f}x the single process with {ranks} threads")


if __name__ == "__main__":
    main()
