"""The word vocabulary: index 0 is padding, 1 is unknown, then words by frequency, ties alphabetical."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from itertools import chain, repeat
from json.encoder import encode_basestring
from pathlib import Path

import numpy as np

from hw3cli.core.files import JSON_LIMIT, read_input
from hw3cli.data.fast_tokenizer import eight_byte_blocks, first_bytes
from hw3cli.data.padding import pad_left
from hw3cli.data.tokenizer import SETTINGS, tokenize_many
from hw3cli.errors import Hw3Error

PAD, UNK = 0, 1
RESERVED = ("<pad>", "<unk>")


@dataclass
class Vocabulary:
    words: list[str]  # words[i] has index i; words[0] and words[1] are the reserved tokens
    counts: list[int]  # training-split frequency of each word (0 for the reserved tokens)
    min_freq: int
    max_size: int | None

    @functools.cached_property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

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
            # One C call per word (json's own encoder takes twice as long over the 100,000 [word, count] pairs).
            words = "[" + ",".join(map("[{},{}]".format, map(encode_basestring, self.words), self.counts)) + "]"
            self._json = header[:-2] + ',\n "words": ' + words + "\n}\n"
        return self._json

    def sha256(self) -> str:
        """The hash of the vocabulary file's bytes (as read, for a loaded vocabulary)."""
        if getattr(self, "_sha256", None) is None:
            self._sha256 = hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()
        return self._sha256

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        raw = read_input(path, "vocabulary", JSON_LIMIT)
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or data.get("format") != "hw3cli-vocab":
                raise ValueError("no hw3cli-vocab format marker")
            entries = data["words"]
            if not isinstance(entries, list) or not all(
                    isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and type(e[1]) is int and e[1] >= 0
                    for e in entries):
                raise ValueError("'words' is not a list of [word, count] pairs")
            words, counts = [w for w, _ in entries], [c for _, c in entries]
            if tuple(words[:2]) != RESERVED:
                raise ValueError("the reserved <pad>/<unk> entries are missing")
            if len(set(words)) != len(words):
                raise ValueError("a word is listed twice")
            min_freq, max_size = data["min_freq"], data["max_size"]
            if type(min_freq) is not int or min_freq < 1 or not (max_size is None or type(max_size) is int):
                raise ValueError("'min_freq' or 'max_size' is not a count")
            vocab = cls(words, counts, min_freq, max_size)
            vocab._sha256 = hashlib.sha256(raw).hexdigest()
            return vocab
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError, KeyError, TypeError) as exc:
            raise Hw3Error(f"{path} is not an hw3cli vocabulary ({exc})") from None

    def encode(self, texts: list[str], max_len: int, truncate: str = "head") -> np.ndarray:
        """Texts to a (len(texts), max_len) int32 matrix, left-padded with zeros."""
        tokens = tokenize_many([" ".join(t.splitlines()) for t in texts])
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        get = self.index.get
        flat = np.fromiter(map(get, chain.from_iterable(tokens), repeat(UNK)), dtype=np.int32,
                           count=int(lengths.sum()))
        return pad_left(flat, lengths, max_len, truncate)


def build_vocabulary(words: list[str] | np.ndarray, counts: np.ndarray, min_freq: int, max_size: int | None
                     ) -> tuple[Vocabulary, np.ndarray]:
    """The vocabulary of the words (a list, or an object array) with their training counts (by frequency, then
    alphabetical), and the table from a position in `words` to its vocabulary index (UNK for every word left
    out)."""
    words = np.asarray(words, dtype=object)
    keep = np.flatnonzero(counts >= max(min_freq, 1))
    kept = words[keep].tolist()
    # Sorting 100,000 strings is slow; their first 8 UTF-8 bytes as a big-endian number order them the same
    # way (UTF-8 bytes sort like code points), so only words that share those and their count get compared.
    prefixes = _utf8_prefixes(kept)
    order = np.lexsort((prefixes, -counts[keep]))
    tied = (prefixes[order[1:]] == prefixes[order[:-1]]) & (counts[keep[order[1:]]] == counts[keep[order[:-1]]])
    bounds = np.flatnonzero(np.diff(np.concatenate([[False], tied, [False]]).astype(np.int8)))
    for first, last in zip(bounds[0::2].tolist(), bounds[1::2].tolist()):  # order[first..last] tie
        order[first:last + 1] = sorted(order[first:last + 1].tolist(), key=kept.__getitem__)
    keep = keep[order]
    if max_size is not None:
        keep = keep[: max(max_size - len(RESERVED), 0)]
    table = np.full(len(words), UNK, dtype=np.int32)
    table[keep] = np.arange(len(RESERVED), len(RESERVED) + len(keep), dtype=np.int32)
    vocab = Vocabulary(list(RESERVED) + words[keep].tolist(), [0, 0] + counts[keep].tolist(), min_freq, max_size)
    return vocab, table


def _utf8_prefixes(words: list[str]) -> np.ndarray:
    """The first 8 bytes of each word's UTF-8, zero-padded, as a big-endian uint64."""
    if not words:
        return np.zeros(0, dtype=np.uint64)
    data = ("\n".join(words) + "\n").encode("utf-8") + bytes(8)  # words hold no newline
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return first_bytes(eight_byte_blocks(data), starts, ends - starts).byteswap()
