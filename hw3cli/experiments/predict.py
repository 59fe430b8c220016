"""`hw3cli predict`: a trained sentiment run classifies reviews, one per line, from a file or standard input."""

from __future__ import annotations

import sys

import torch

from hw3cli.configs import PredictConfig
from hw3cli.core.device import resolve_device
from hw3cli.core.files import read_input
from hw3cli.core.memory import available_bytes, size_text
from hw3cli.errors import Hw3Error
from hw3cli.models.sentiment import load_sentiment_run
from hw3cli.train.sentiment import predict_probabilities


def run(config: PredictConfig) -> int:
    if config.batch_size < 1:
        raise Hw3Error(f"--batch-size must be at least 1, got {config.batch_size}")
    model, vocab, meta = load_sentiment_run(config.model_dir)
    device = resolve_device(config.device)
    # Bytes, decoded leniently, from a file or standard input alike: a review is text whatever its encoding.
    limit = max(2**26, int(0.1 * available_bytes()))  # encoding takes about 10 bytes per byte of text
    if config.source == "-":
        raw = sys.stdin.buffer.read(limit + 1)
        if len(raw) > limit:
            raise Hw3Error(f"standard input holds more than {size_text(limit)} of reviews; split it into parts")
    else:
        raw = read_input(config.source, "review file", limit)
    lines = raw.decode("utf-8", errors="replace").splitlines()
    if not lines:
        raise Hw3Error(f"no reviews to classify in {config.source if config.source != '-' else 'standard input'}")
    ids = torch.from_numpy(vocab.encode(lines, meta["max_len"], meta["truncate"]))
    lengths = (ids != 0).sum(1)
    probs = predict_probabilities(model.to(device), ids, lengths, device, meta["bucket"], config.batch_size)
    # A line with no word at all gets no probability: the model would only be reading padding.
    sys.stdout.write("".join(f"{p:.4f}\t{'positive' if p >= 0.5 else 'negative'}\n" if n else "-\tno words\n"
                             for p, n in zip(probs.tolist(), lengths.tolist())))
    return 0
