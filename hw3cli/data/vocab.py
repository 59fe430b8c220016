"""The word vocabulary: index 0 is padding, 1 is unknown, then words by frequency, ties alphabetical."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from hw3cli.data.text import SETTINGS, tokenize_many
from hw3cli.errors import Hw3Error

PAD, UNK = 0, 1
RESERVED = ("<pad>", "<unk>")


@dataclass
class Vocabulary:
    words: list[str]  # words[i] has index i; words[0] and words[1] are the reserved tokens
    counts: list[int]  # training-split frequency of each word (0 for the reserved tokens)
    min_freq: int
    max_size: int | None

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def to_json(self) -> str:
        """The vocabulary file: settings first, then one [word, count] pair per entry in index order."""
        if getattr(self, "_json", None) is None:
            header = json.dumps({
                "format": "hw3cli-vocab",
                "tokenizer": SETTINGS,
                "pad_index": PAD,
                "unk_index": UNK,
                "min_freq": self.min_freq,
                "max_size": self.max_size,
                "size": len(self.words),
            }, ensure_ascii=False, indent=1)
            # json's C encoder (no indent) for the 100k entries; the pure-Python indenting one takes a second.
            words = json.dumps(list(zip(self.words, self.counts)), ensure_ascii=False, separators=(",", ":"))
            self._json = header[:-2] + ',\n "words": ' + words + "\n}\n"
        return self._json

    def sha256(self) -> str:
        """The hash of the vocabulary file's bytes (as read, for a loaded vocabulary)."""
        if getattr(self, "_sha256", None) is None:
            self._sha256 = hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()
        return self._sha256

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        try:
            raw = Path(path).read_bytes()
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or data.get("format") != "hw3cli-vocab":
                raise ValueError("no hw3cli-vocab format marker")
            words = [w for w, _ in data["words"]]
            counts = [int(c) for _, c in data["words"]]
            if tuple(words[:2]) != RESERVED:
                raise ValueError("the reserved <pad>/<unk> entries are missing")
            vocab = cls(words, counts, int(data["min_freq"]), data["max_size"])
            vocab._sha256 = hashlib.sha256(raw).hexdigest()
            return vocab
        except FileNotFoundError:
            raise Hw3Error(f"vocabulary not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            raise Hw3Error(f"{path} is not an hw3cli vocabulary ({exc})") from None

    def encode(self, texts: list[str], max_len: int, truncate: str = "head") -> np.ndarray:
        """Texts to a (len(texts), max_len) int32 matrix, left-padded with zeros."""
        tokens = tokenize_many([" ".join(t.splitlines()) for t in texts])
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        get = self.index.get
        flat = np.fromiter(map(get, chain.from_iterable(tokens), repeat(UNK)), dtype=np.int32,
                           count=int(lengths.sum()))
        return pad_left(flat, lengths, max_len, truncate)


def pad_left(flat: np.ndarray, lengths: np.ndarray, max_len: int, truncate: str = "head",
             starts: np.ndarray | None = None) -> np.ndarray:
    """Rows of `flat` into a (rows, max_len) int32 matrix: shorter rows padded with zeros on the LEFT, longer
    rows cut to their first (`head`) or last (`tail`) max_len tokens. Row r is flat[starts[r]:][:lengths[r]];
    `starts` defaults to the rows lying back to back. One slice copy per row: cheaper than index arrays the
    size of the corpus."""
    if truncate not in ("head", "tail"):
        raise Hw3Error(f"--truncate must be head or tail, not '{truncate}'")
    lengths = np.asarray(lengths, dtype=np.int64)
    if starts is None:
        starts = np.cumsum(lengths) - lengths
    kept = np.minimum(lengths, max_len)
    first = starts + lengths - kept if truncate == "tail" else starts
    matrix = np.zeros((len(lengths), max_len), dtype=np.int32)
    for row, (start, k) in enumerate(zip(first.tolist(), kept.tolist())):
        if k:
            matrix[row, max_len - k:] = flat[start:start + k]
    return matrix
