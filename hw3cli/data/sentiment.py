"""IMDB reviews to fixed-length index matrices (what `preprocess` writes), and loading them back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hw3cli.core.checkpoint import load_checkpoint
from hw3cli.data.imdb import RawCorpus
from hw3cli.data.token_ids import TokenIndexer
from hw3cli.data.vocab import UNK, Vocabulary, pad_left
from hw3cli.errors import Hw3Error

DATA_KIND = "imdb-preprocessed"
SPLIT_NAMES = ("train", "dev", "test")
CHUNK = 4096  # reviews tokenised at a time


@dataclass(frozen=True)
class EncodeOptions:
    max_len: int = 400
    truncate: str = "head"
    min_freq: int = 1
    max_vocab: int | None = None
    dev_fraction: float = 0.2
    seed: int = 0


@dataclass
class EncodedSplit:
    ids: np.ndarray  # (reviews, max_len) int32, left-padded with 0
    labels: np.ndarray  # (reviews,) uint8, 1 positive
    lengths: np.ndarray  # (reviews,) int32, tokens in the review before truncation


def dev_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded, stratified choice of round(fraction * n) reviews of each label for the dev split."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in (0, 1):
        where = np.flatnonzero(labels == label)
        mask[rng.permutation(where)[: int(round(fraction * len(where)))]] = True
    return mask


def encode_corpus(corpus: RawCorpus, options: EncodeOptions) -> tuple[Vocabulary, dict[str, EncodedSplit], dict]:
    """Tokenise every review once; build the vocabulary from the train split minus dev (so neither dev nor
    test leaks into it); return the three splits as left-padded matrices, and statistics."""
    # The two files are tokenised side by side, each with its own indexer (numpy's work runs outside the GIL),
    # then the test file's ids are renumbered into the train file's.
    with ThreadPoolExecutor(2) as pool:
        (indexer, flat_train, lengths_train), (test_indexer, flat_test, lengths_test) = pool.map(
            _tokenize_split, (corpus.train.texts, corpus.test.texts))
    flat = {"train": flat_train, "test": indexer.adopt(test_indexer)[flat_test]}
    lengths = {"train": lengths_train, "test": lengths_test}
    labels = {name: np.asarray(corpus.split(name).labels, dtype=np.uint8) for name in ("train", "test")}
    starts = {name: np.cumsum(n) - n for name, n in lengths.items()}

    in_dev = dev_mask(labels["train"], options.dev_fraction, options.seed)
    dev_rows = np.flatnonzero(in_dev).tolist()
    dev_tokens = [flat["train"][starts["train"][r]:][: lengths["train"][r]] for r in dev_rows]
    counts = np.bincount(flat["train"], minlength=len(indexer.words))
    counts -= np.bincount(np.concatenate(dev_tokens) if dev_tokens else np.zeros(0, np.int32),
                          minlength=len(indexer.words))
    vocab, table = indexer.build(counts, options.min_freq, options.max_vocab)

    ids = {name: table[tokens] for name, tokens in flat.items()}
    splits = {}
    for name, source, rows in (("train", "train", ~in_dev), ("dev", "train", in_dev), ("test", "test", None)):
        lens, first, labs = lengths[source], starts[source], labels[source]
        if rows is not None:  # this part's reviews of the train file
            lens, first, labs = lens[rows], first[rows], labs[rows]
        splits[name] = EncodedSplit(pad_left(ids[source], lens, options.max_len, options.truncate, first), labs,
                                    lens.astype(np.int32))
    test_ids = ids["test"]
    stats = {
        "form": corpus.form,
        "checksums": corpus.checksums,
        "invalid_utf8_reviews": corpus.invalid_utf8,
        "vocabulary_size": len(vocab),
        "unknown_token_rate_test": float((test_ids == UNK).mean()) if len(test_ids) else 0.0,
        "splits": {name: _split_stats(split, options.max_len) for name, split in splits.items()},
    }
    return vocab, splits, stats


def _tokenize_split(texts: list[str]) -> tuple[TokenIndexer, np.ndarray, np.ndarray]:
    """Token ids (of a new indexer) and token counts of `texts`, in chunks, so the byte buffers and their
    per-byte arrays stay small."""
    indexer = TokenIndexer()
    parts = [indexer.encode(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)]
    if not parts:
        return indexer, np.zeros(0, np.int32), np.zeros(0, np.int64)
    return indexer, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _split_stats(split: EncodedSplit, max_len: int) -> dict:
    lengths = split.lengths
    percentiles = {f"p{q}": float(np.percentile(lengths, q)) if len(lengths) else 0.0 for q in (5, 25, 50, 75, 95)}
    return {
        "reviews": int(len(lengths)),
        "positive": int(split.labels.sum()),
        "negative": int(len(lengths) - split.labels.sum()),
        "length_percentiles": percentiles,
        "length_max": int(lengths.max()) if len(lengths) else 0,
        "length_mean": float(lengths.mean()) if len(lengths) else 0.0,
        "share_truncated": float((lengths > max_len).mean()) if len(lengths) else 0.0,
        "empty_reviews": int((lengths == 0).sum()),
    }


@dataclass
class SentimentData:
    vocab: Vocabulary
    vocab_sha256: str
    max_len: int
    truncate: str
    splits: dict[str, dict[str, torch.Tensor]]  # split -> {"ids", "labels", "lengths"}


def load_sentiment_data(folder: str | Path) -> SentimentData:
    """Read a `preprocess` output folder back; refuse anything else."""
    folder = Path(folder)
    if not (folder / "data.safetensors").is_file():
        raise Hw3Error(f"{folder} is not preprocess output (no data.safetensors); run hw3cli preprocess first")
    tensors, meta = load_checkpoint(folder / "data.safetensors", DATA_KIND)
    vocab = Vocabulary.load(folder / "vocab.json")
    if vocab.sha256() != meta.get("vocab_sha256"):
        raise Hw3Error(f"{folder}/vocab.json does not belong to {folder}/data.safetensors (hash differs)")
    splits = {}
    for name in SPLIT_NAMES:
        try:
            splits[name] = {key: tensors[f"{name}_{key}"] for key in ("ids", "labels", "lengths")}
        except KeyError:
            raise Hw3Error(f"{folder}/data.safetensors lacks the {name} split") from None
    args = meta["model_args"]
    return SentimentData(vocab, meta["vocab_sha256"], int(args["max_len"]), args["truncate"], splits)
