"""Benchmark: `hw3cli preprocess` against the straightforward per-token Python loop, in one run.

Both read the same files with the same reader and tokenizer; the peer then does what the assignment's
reference solution does (without its stop-word and stemming steps): count words review by review, and fill a
numpy matrix element by element, left-padded. Each side runs in its own process so its peak memory is its own.

Usage: .venv/bin/python bench/preprocess_bench.py [--source ../shared/data/imdb]
Prints the seconds and peak memory of each side and the speed ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def ours(source: str) -> dict:
    from hw3cli.experiments.preprocess import PreprocessConfig, run

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run(PreprocessConfig(source=Path(source), out_dir=Path(tmp) / "data"))
        return {"seconds": time.perf_counter() - start}


def peer(source: str, max_len: int = 400) -> dict:
    import numpy as np

    from hw3cli.data.imdb import read_corpus
    from hw3cli.data.text import tokenize

    start = time.perf_counter()
    corpus = read_corpus(source)
    counts: dict[str, int] = {}
    for text in corpus.train.texts:
        for word in tokenize(text):
            counts[word] = counts.get(word, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = {w: i + 2 for i, w in enumerate(words)}
    matrices = {}
    for name in ("train", "test"):
        texts = corpus.split(name).texts
        matrix = np.zeros((len(texts), max_len), dtype=np.int32)
        for i, text in enumerate(texts):
            tokens = tokenize(text)[:max_len]
            pad = max_len - len(tokens)
            for j, word in enumerate(tokens):
                matrix[i, pad + j] = vocab.get(word, 1)
        matrices[name] = matrix
    return {"seconds": time.perf_counter() - start}


def child(mode: str, source: str) -> None:
    result = (ours if mode == "ours" else peer)(source)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/imdb"))
    parser.add_argument("--child", choices=["ours", "peer"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source)
        return
    results = {}
    for mode in ("ours", "peer"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--source", args.source],
                             capture_output=True, text=True, check=True).stdout
        results[mode] = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
        print(f"{mode:5s}: {results[mode]['seconds']:6.2f} s, peak memory {results[mode]['peak_mb']:7.0f} MB "
              "(of which about 650 MB is importing torch)" if mode == "ours" else
              f"{mode:5s}: {results[mode]['seconds']:6.2f} s, peak memory {results[mode]['peak_mb']:7.0f} MB")
    print(f"speed ratio (peer / ours): {results['peer']['seconds'] / results['ours']['seconds']:.1f}x")


if __name__ == "__main__":
    main()
