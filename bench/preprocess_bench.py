"""Benchmark: `hw3cli preprocess` against the straightforward per-token Python loop, in one run.

Both read the same files with the same reader and tokenizer; the peer then does what the assignment's
reference solution does (without its stop-word and stemming steps): count words review by review, and fill a
numpy matrix element by element, left-padded. Ours also writes its four output files (with fsync); the peer
writes nothing. Each run is a fresh process, so imports and caches are equal; each side runs --repeat times
and the medians are compared. One more run of ours measures its memory: the proportional set size (shared
pages split between the processes that share them) of it and its helper process together, sampled every
20 ms on Linux; elsewhere the peak resident size of the main process.

Usage: .venv/bin/python bench/preprocess_bench.py [--source ../shared/data/imdb] [--repeat 5]
Prints every time, the medians, the speed ratio and the peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def ours(source: str) -> float:
    from hw3cli.configs import PreprocessConfig
    from hw3cli.experiments.preprocess import run

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run(PreprocessConfig(source=Path(source), out_dir=Path(tmp) / "data"))
        return time.perf_counter() - start


def peer(source: str, max_len: int = 400) -> float:
    import numpy as np

    from hw3cli.data.imdb import read_corpus
    from hw3cli.data.tokenizer import tokenize

    start = time.perf_counter()
    corpus = read_corpus(source)
    texts = {name: corpus.split(name).texts for name in ("train", "test")}  # decoded once
    counts: dict[str, int] = {}
    for text in texts["train"]:
        for word in tokenize(text):
            counts[word] = counts.get(word, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = {w: i + 2 for i, w in enumerate(words)}
    for name in ("train", "test"):
        matrix = np.zeros((len(texts[name]), max_len), dtype=np.int32)
        for i, text in enumerate(texts[name]):
            tokens = tokenize(text)[:max_len]
            pad = max_len - len(tokens)
            for j, word in enumerate(tokens):
                matrix[i, pad + j] = vocab.get(word, 1)
    return time.perf_counter() - start


def _pss_mb(pid: int) -> float:
    """The proportional set size of a process and its descendants."""
    total = 0.0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            total += next(int(line.split()[1]) for line in handle if line.startswith("Pss:")) / 1024
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                total += sum(_pss_mb(int(child)) for child in handle.read().split())
    except (OSError, StopIteration):
        pass  # a process that ended between two reads
    return total


def child(mode: str, source: str, memory: bool) -> None:
    peak = [0.0]
    if memory and os.path.exists("/proc/self/smaps_rollup"):
        done = threading.Event()

        def sample():
            while not done.wait(0.02):
                peak[0] = max(peak[0], _pss_mb(os.getpid()))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        seconds = (ours if mode == "ours" else peer)(source)
        done.set()
        sampler.join()
        kind = "PSS, helper included"
    else:
        seconds = (ours if mode == "ours" else peer)(source)
        peak[0] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kind = "peak RSS"
    print("RESULT " + json.dumps({"seconds": seconds, "peak_mb": peak[0], "kind": kind}))


def measure(mode: str, source: str, memory: bool = False) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--source", source] +
                         (["--memory"] if memory else []), capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/imdb"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", choices=["ours", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source, args.memory)
        return
    from hw3cli.core.hardware import cpu_model, usable_cpus

    print(f"machine: {cpu_model()}, {usable_cpus()} usable CPUs (ours uses two processes, the peer one)")
    medians = {}
    for mode in ("ours", "peer"):
        times = [measure(mode, args.source)["seconds"] for _ in range(args.repeat)]
        medians[mode] = statistics.median(times)
        print(f"{mode:5s}: median {medians[mode]:5.2f} s  ({', '.join(f'{t:.2f}' for t in times)})")
    print(f"speed ratio (peer / ours, medians): {medians['peer'] / medians['ours']:.1f}x")
    memory = measure("ours", args.source, memory=True)
    print(f"ours : peak memory {memory['peak_mb']:.0f} MB ({memory['kind']}; importing torch is about 650 MB of it)")


if __name__ == "__main__":
    main()
