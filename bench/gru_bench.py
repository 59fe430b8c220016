"""Benchmark: one GRU epoch of the plain loop against the loop as shipped, in one run.

Plain: fp32, every batch the full 400 steps (--no-bucket). Shipped: length bucketing (each batch skips the
columns that are padding in all its rows), fp32 and, separately, bf16 autocast where this CPU computes bf16 natively
(skipped with a line saying so elsewhere). Same seed, same model, same data. Prints the machine first.
Prints seconds per epoch, the speed ratio and the dev accuracy after the epoch for each.

Usage: .venv/bin/python bench/gru_bench.py [--data artifacts/imdb/data] [--epochs 1] [--threads 0]
"""

from __future__ import annotations

import argparse
import time

import torch

from hw3cli.core.hardware import describe, machine_record, why_cpu_bf16_emulated
from hw3cli.data.encoded_imdb import load_sentiment_data
from hw3cli.models.sentiment import GRUClassifier
from hw3cli.train.sentiment import SentimentSettings, evaluate, train_sentiment


def one(data, bucket: bool, precision: str, epochs: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = GRUClassifier(len(data.vocab))
    settings = SentimentSettings(epochs=epochs, batch_size=64, lr=2e-3, weight_decay=0.0, clip=1.0, patience=epochs,
                                 bucket=bucket, precision=precision)
    seconds = 0.0
    for record in train_sentiment(model, data.splits, settings, torch.Generator().manual_seed(0),
                                   torch.device("cpu")):
        if record["event"] == "epoch":
            seconds += record["seconds"]
    # The plain loop is scored the plain way (full 400 steps), the shipped one as it ships.
    dev = evaluate(model, data.splits["dev"], torch.device("cpu"), bucket=bucket, precision=precision)
    return seconds / epochs, dev["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="artifacts/imdb/data")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {describe(machine_record(torch.device('cpu')))}")
    data = load_sentiment_data(args.data)
    start = time.perf_counter()
    plain = one(data, False, "fp32", args.epochs)
    print(f"plain   (fp32, full 400 steps): {plain[0]:6.1f} s/epoch, dev accuracy {100 * plain[1]:.2f}%")
    variants = [("shipped (fp32, bucketing)", True, "fp32")]
    emulated = why_cpu_bf16_emulated()
    if emulated is None:
        variants.append(("shipped (bf16, bucketing)", True, "bf16"))
    else:
        print(f"shipped (bf16, bucketing): skipped: no native bf16 arithmetic here ({emulated}; emulated: "
              "many times slower)")
    for label, bucket, precision in variants:
        ours = one(data, bucket, precision, args.epochs)
        print(f"{label}: {ours[0]:6.1f} s/epoch, dev accuracy {100 * ours[1]:.2f}%, "
              f"speed ratio {plain[0] / ours[0]:.2f}x, accuracy {100 * (ours[1] - plain[1]):+.2f} points")
    elapsed = time.perf_counter() - start
    print(f"({args.epochs} epoch(s) each, {torch.get_num_threads()} threads, {elapsed:.0f} s in all)")


if __name__ == "__main__":
    main()
