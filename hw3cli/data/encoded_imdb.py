"""The IMDB corpus encoded: reviews to fixed-length index matrices, the vocabulary from the training split
(what `preprocess` writes, with the fast tokenizer and helper processes), and loading them back, checked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hw3cli.core.checkpoint import load_checkpoint
from hw3cli.core.files import input_folder
from hw3cli.core.helper import Helper
from hw3cli.data.fast_tokenizer import KeyIndex, Tokens, distinct
from hw3cli.data.imdb import RawCorpus, ReviewBlock
from hw3cli.data.padding import pad_left
from hw3cli.data.vocab import UNK, Vocabulary, build_vocabulary
from hw3cli.errors import Hw3Error

DATA_KIND = "imdb-preprocessed"
SPLIT_NAMES = ("train", "dev", "test")


@dataclass(frozen=True)
class EncodeOptions:
    max_len: int = 400
    truncate: str = "head"
    min_freq: int = 1
    max_vocab: int | None = None
    dev_fraction: float = 0.2
    seed: int = 0


def dev_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded, stratified choice of round(fraction * n) reviews of each label for the dev split."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in (0, 1):
        where = np.flatnonzero(labels == label)
        mask[rng.permutation(where)[: _dev_count(len(where), fraction)]] = True
    return mask


def _dev_count(reviews: int, fraction: float) -> int:
    return int(round(fraction * reviews))


def data_layout(corpus: RawCorpus, options: EncodeOptions) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    """The arrays `encode_corpus` fills: {split}_ids (reviews, max_len) int32, {split}_labels uint8 and
    {split}_lengths int32 (tokens before truncation) for the train, dev and test splits."""
    labels = {name: np.bincount(corpus.split(name).labels, minlength=2) for name in ("train", "test")}
    dev = sum(_dev_count(int(n), options.dev_fraction) for n in labels["train"])
    rows = {"train": int(labels["train"].sum()) - dev, "dev": dev, "test": int(labels["test"].sum())}
    layout = {}
    for name, n in rows.items():
        layout |= {f"{name}_ids": (np.int32, (n, options.max_len)), f"{name}_labels": (np.uint8, (n,)),
                   f"{name}_lengths": (np.int32, (n,))}
    return layout


def encode_corpus(corpus: RawCorpus, options: EncodeOptions, out: dict[str, np.ndarray]
                  ) -> tuple[Vocabulary, dict]:
    """Tokenise every review once; build the vocabulary from the train split minus dev (so neither dev nor
    test leaks into it); fill `out`, zero arrays of `data_layout`, with the left-padded splits; return the
    vocabulary and statistics. A forked helper writes into `out` too: its arrays must lie in memory the helper
    shares, such as `TensorFile.arrays` (mapped onto the output file) or views of an `mmap.mmap(-1, n)`."""
    labels = {name: np.asarray(corpus.split(name).labels, dtype=np.uint8) for name in ("train", "test")}
    in_dev = dev_mask(labels["train"], options.dev_fraction, options.seed)
    jobs = _plan(corpus, in_dev)
    # Half the blocks here, half in a helper process; they meet once to agree on the vocabulary.
    with Helper(_helper_work, jobs[1::2], out, options) as helper:
        mine = [_block_words(job) for job in jobs[0::2]]
        words = [None] * len(jobs)
        words[0::2], words[1::2] = [w for w, _ in mine], helper.recv()
        vocab, tables = _vocabulary(jobs, words, options)
        helper.send(tables[1::2])
        vocab.sha256()  # the vocabulary file's text and hash (cached), made while the helper is busy filling
        for job, (block_words, ranks), table in zip(jobs[0::2], mine, tables[0::2]):
            _fill(job, block_words, ranks, table, out, options)
        helper.recv()  # its rows are filled

    for job, block_words in zip(jobs, words):
        for name, reviews, first in job.targets:
            part = block_words.per_line if reviews is None else block_words.per_line[reviews]
            out[f"{name}_lengths"][first:first + len(part)] = part
    out["train_labels"][:] = labels["train"][~in_dev]
    out["dev_labels"][:] = labels["train"][in_dev]
    out["test_labels"][:] = labels["test"]
    test = [(w.counts, t) for job, w, t in zip(jobs, words, tables) if job.split == "test"]
    test_tokens = sum(int(counts.sum()) for counts, _ in test)
    stats = {
        "form": corpus.form,
        "checksums": corpus.checksums,
        "invalid_utf8_reviews": corpus.invalid_utf8 + sum(w.invalid_lines for w in words),
        "vocabulary_size": len(vocab),
        "unknown_token_rate_test": sum(int(c[t == UNK].sum()) for c, t in test) / test_tokens if test_tokens else 0.0,
        "splits": {name: _split_stats(out[f"{name}_labels"], out[f"{name}_lengths"], options.max_len)
                   for name in SPLIT_NAMES},
    }
    return vocab, stats


@dataclass
class _Job:
    """One block of reviews and where its rows go."""

    split: str  # "train" or "test"
    block: ReviewBlock
    dev: np.ndarray | None  # train blocks: which of the block's reviews are held out as dev
    targets: list[tuple[str, np.ndarray | None, int]]  # (matrix, which of the block's reviews or all, first row)


@dataclass
class _BlockWords:
    """What the vocabulary needs of a block: its distinct token keys, their words (train blocks) and their
    counts outside the dev reviews; and how many tokens each review has."""

    keys: np.ndarray
    words: list[str]
    counts: np.ndarray
    per_line: np.ndarray
    invalid_lines: int  # reviews whose bytes are not valid UTF-8


def _plan(corpus: RawCorpus, in_dev: np.ndarray) -> list[_Job]:
    jobs, rows, seen = [], {"train": 0, "dev": 0, "test": 0}, 0
    for split in ("train", "test"):
        for block in corpus.split(split).blocks:
            if split == "test":
                jobs.append(_Job(split, block, None, [("test", None, rows["test"])]))
                rows["test"] += block.count
                continue
            dev = in_dev[seen:seen + block.count]
            seen += block.count
            jobs.append(_Job(split, block, dev, [("train", ~dev, rows["train"]), ("dev", dev, rows["dev"])]))
            rows["train"] += int((~dev).sum())
            rows["dev"] += int(dev.sum())
    return jobs


def _block_words(job: _Job) -> tuple[_BlockWords, np.ndarray]:
    """The block's words (a test block's are never needed), and the number (in its own key order) of each of
    its tokens."""
    tokens = Tokens.of(job.block.data)
    index = KeyIndex(tokens)
    ranks = index.ranks
    counted = ranks if job.dev is None else ranks[~np.repeat(job.dev, tokens.per_line)]
    words = index.words if job.split == "train" else []
    counts = np.bincount(counted, minlength=len(index))
    return _BlockWords(index.keys, words, counts, tokens.per_line, tokens.invalid_lines), ranks


def _vocabulary(jobs: list[_Job], words: list[_BlockWords], options: EncodeOptions
                ) -> tuple[Vocabulary, list[np.ndarray]]:
    """The vocabulary of the train blocks, and for every block the table from its key order to vocabulary
    indices (UNK for keys it leaves out or never saw)."""
    train = [w for job, w in zip(jobs, words) if job.split == "train"]
    keys = distinct(np.concatenate([w.keys for w in train] + [np.zeros(0, np.uint64)]))
    counts, names = np.zeros(len(keys), dtype=np.int64), np.empty(len(keys), dtype=object)
    for w in train:
        at = np.searchsorted(keys, w.keys)
        counts[at] += w.counts
        names[at] = np.array(w.words, dtype=object)
    vocab, table = build_vocabulary(names, counts, options.min_freq, options.max_vocab)
    table = np.append(table, np.int32(UNK))  # past the end: a key the train blocks never had
    tables = []
    for w in words:
        at = np.searchsorted(keys, w.keys)
        at[keys[np.minimum(at, len(keys) - 1)] != w.keys if len(keys) else slice(None)] = len(keys)
        tables.append(table[at])
    return vocab, tables


def _fill(job: _Job, words: _BlockWords, ranks: np.ndarray, table: np.ndarray, arrays: dict[str, np.ndarray],
          options: EncodeOptions) -> None:
    ids = table[ranks]
    starts = np.cumsum(words.per_line) - words.per_line
    for name, reviews, first in job.targets:
        lengths, begin = (words.per_line, starts) if reviews is None else (words.per_line[reviews], starts[reviews])
        pad_left(ids, lengths, options.max_len, options.truncate, begin,
                 out=arrays[f"{name}_ids"][first:first + len(lengths)])


def _helper_work(channel, jobs: list[_Job], arrays: dict[str, np.ndarray], options: EncodeOptions) -> None:
    done = [_block_words(job) for job in jobs]
    channel.send([words for words, _ in done])
    tables = channel.recv()
    for job, (words, ranks), table in zip(jobs, done, tables):
        _fill(job, words, ranks, table, arrays, options)
    channel.send(None)


def _split_stats(labels: np.ndarray, lengths: np.ndarray, max_len: int) -> dict:
    percentiles = {f"p{q}": float(np.percentile(lengths, q)) if len(lengths) else 0.0 for q in (5, 25, 50, 75, 95)}
    return {
        "reviews": int(len(lengths)),
        "positive": int(labels.sum()),
        "negative": int(len(lengths) - labels.sum()),
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
    """Read a `preprocess` output folder back, checked against what preprocess writes: every split's ids a
    (reviews, max_len) integer matrix of vocabulary indices, labels 0 or 1 with both present in training,
    lengths that fit; the metadata's max_len and truncate. Anything else is refused, naming the file and field."""
    folder = input_folder(folder, "preprocessed data folder")
    path = folder / "data.safetensors"
    if not path.exists():
        raise Hw3Error(f"{folder} is not preprocess output (no data.safetensors); run hw3cli preprocess first")
    tensors, meta = load_checkpoint(path, DATA_KIND)
    vocab = Vocabulary.load(folder / "vocab.json")
    if vocab.sha256() != meta.get("vocab_sha256"):
        raise Hw3Error(f"{folder}/vocab.json does not belong to {folder}/data.safetensors (hash differs)")
    args = meta["model_args"]
    max_len, truncate = args.get("max_len"), args.get("truncate")
    if type(max_len) is not int or max_len < 1 or truncate not in ("head", "tail"):
        raise Hw3Error(f"{path}: its metadata's max_len ({max_len!r}) or truncate ({truncate!r}) is not valid")
    splits = {}
    for name in SPLIT_NAMES:
        try:
            ids, labels, lengths = (tensors[f"{name}_{key}"] for key in ("ids", "labels", "lengths"))
        except KeyError:
            raise Hw3Error(f"{path} lacks the {name} split") from None
        problem = _split_problem(ids, labels, lengths, max_len, len(vocab), name == "train")
        if problem:
            raise Hw3Error(f"{path}: {name} split: {problem}")
        splits[name] = {"ids": ids, "labels": labels, "lengths": lengths}
    return SentimentData(vocab, meta["vocab_sha256"], max_len, truncate, splits)


_INTEGER = (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)


def _split_problem(ids, labels, lengths, max_len: int, vocab_size: int, training: bool) -> str | None:
    if ids.dtype not in _INTEGER or ids.dim() != 2 or ids.shape[1] != max_len:
        return f"ids should be a (reviews, {max_len}) integer matrix, found {ids.dtype} {tuple(ids.shape)}"
    n = ids.shape[0]
    if n == 0:  # an accuracy over no reviews would read as 0%
        return "it holds no reviews"
    for name, t in (("labels", labels), ("lengths", lengths)):
        if t.dtype not in _INTEGER or t.dim() != 1 or t.shape[0] != n:
            return f"{name} should be {n} integers, found {t.dtype} {tuple(t.shape)}"
    if n and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        return f"ids hold indices outside the vocabulary's 0-{vocab_size - 1}"
    if n and (int(labels.min()) < 0 or int(labels.max()) > 1):
        return "labels hold values other than 0 and 1"
    if n and int(lengths.min()) < 0:
        return "lengths are negative"
    if training and (n == 0 or int(labels.min()) == int(labels.max())):
        return "training needs reviews of both labels"
    return None
