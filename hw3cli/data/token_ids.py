"""Whole-corpus tokenisation with numpy: the tokens of `text.tokenize`, found and numbered without making a
Python object per token (11.7 million of them in IMDB; allocating those strings was most of `preprocess`).

Reviews that are pure ASCII (about 91% of IMDB) are joined into one byte buffer, lower-cased, cleared of
`<br />` and of the ASCII characters in \\p{P} with bytes methods, and split at the bytes that `str.split()`
treats as white space. The other reviews go through `text.normalize` one by one and join the same kind of
buffer. In a buffer every token becomes a 64-bit key: its bytes and length when it has at most 7 bytes (exact),
a hash of its length and 8-byte blocks when longer; keys are numbered by an open-addressing hash table held in
numpy arrays. A token of 8 or more bytes shares a number with a different token only if its 64-bit hash collides
with that token's key (about 1 in 10^9 for the whole IMDB vocabulary). The tests check the tokens against
`text.tokenize` on crafted cases and real reviews.
"""

from __future__ import annotations

import re

import numpy as np
import regex

from hw3cli.data.text import normalize
from hw3cli.data.vocab import RESERVED, UNK, Vocabulary

# The ASCII characters that \p{P} removes, and the ASCII bytes str.split() breaks at.
ASCII_PUNCTUATION = bytes(c for c in range(128) if regex.fullmatch(r"\p{P}", chr(c)))
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[c for c in range(128) if chr(c).isspace()]] = True
_BREAK = re.compile(rb"<br[ \t]*/?>")  # the buffer is lower-cased already
_LOW_BYTES = np.array([0] + [(1 << (8 * k)) - 1 for k in range(1, 8)] + [(1 << 64) - 1], dtype=np.uint64)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: Fibonacci hashing
_SHIFT = np.uint64(29)


class TokenIndexer:
    """Numbers every distinct token it is shown, 0, 1, 2, ... in order of first sight: `encode` returns the ids
    (int32) of all tokens and the token count of every text; `words[id]` is the token."""

    def __init__(self, bits: int = 16):
        self.words: list[str] = []
        self._resize(bits)

    def _resize(self, bits: int) -> None:
        """A table of 2^bits slots, refilled with the keys seen so far."""
        old_keys, old_ids = (self._keys[self._used], self._ids[self._used]) if self.words else (None, None)
        self.bits, self._count = bits, 0
        self._keys = np.zeros(1 << bits, dtype=np.uint64)
        self._ids = np.zeros(1 << bits, dtype=np.int32)  # the token id held in each slot
        self._used = np.zeros(1 << bits, dtype=bool)
        if old_keys is not None:
            self._ids[self._find(old_keys, None, None, None)] = old_ids

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ascii_rows = np.fromiter(map(str.isascii, texts), dtype=bool, count=len(texts))
        groups = []
        for rows, is_ascii in ((np.flatnonzero(ascii_rows), True), (np.flatnonzero(~ascii_rows), False)):
            if not rows.size:
                continue
            chosen = [texts[i] for i in rows.tolist()]
            buffer = _ascii_buffer(chosen) if is_ascii else _unicode_buffer(chosen)
            ids, lengths = self._encode_buffer(buffer, len(chosen))
            groups.append((rows, ids, lengths))
        return _in_text_order(groups, len(texts))

    def _encode_buffer(self, buffer: bytes, lines: int) -> tuple[np.ndarray, np.ndarray]:
        """`buffer`: `lines` newline-separated lines of space-separated tokens."""
        padded = b"\n" + buffer + b"\n" + bytes(16)
        data = np.frombuffer(padded, dtype=np.uint8)[: len(buffer) + 2]
        token = ~_SPACE[data]
        starts = np.flatnonzero(token[1:] > token[:-1]) + 1
        ends = np.flatnonzero(token[:-1] > token[1:]) + 1
        newlines = np.flatnonzero(data == 10)
        lengths = np.diff(np.searchsorted(starts, newlines))
        assert len(lengths) == lines, (len(lengths), lines)
        keys = _token_keys(padded, starts, ends - starts)
        while True:
            try:
                slots = self._find(keys, padded, starts, ends)
                return self._ids[slots], lengths.astype(np.int64)
            except _TableFull:  # the keys placed so far stay; the rest are looked up again in a larger table
                self._resize(self.bits + 1)

    def _find(self, keys: np.ndarray, padded: bytes | None, starts, ends) -> np.ndarray:
        """The table slot of every key, claiming free slots for keys not seen before: linear probing, with all
        the keys of a round at once. A claimed slot gets the next token id and (given the buffer) its word."""
        mask = np.int64((1 << self.bits) - 1)
        with np.errstate(over="ignore"):
            slot = ((keys * _MIX) >> np.uint64(64 - self.bits)).astype(np.int64)
        found = slot.copy()  # right for every key at its home slot; the others are fixed below
        pending, key, at = None, keys, slot
        while True:
            free = ~self._used[at]
            if free.any():  # of several keys reaching one free slot, one is written; the others probe on
                self._keys[at[free]] = key[free]
                self._used[at[free]] = True
            miss = self._keys[at] != key
            new = free & ~miss
            if new.any():
                taken, first = np.unique(at[new], return_index=True)
                self._count += len(taken)
                if padded is not None:  # name the slots taken this round after a token now in them
                    where = np.flatnonzero(new)[first] if pending is None else pending[new][first]
                    self._ids[taken] = np.arange(len(self.words), len(self.words) + len(taken), dtype=np.int32)
                    self.words += [padded[starts[i]:ends[i]].decode("utf-8") for i in where.tolist()]
                if 2 * self._count > len(self._used):  # over half full: probing slows, and it must never fill
                    raise _TableFull
            if pending is None:
                pending = np.flatnonzero(miss)
            else:
                found[pending[~miss]] = at[~miss]
                pending = pending[miss]
            if not pending.size:
                return found
            key, at = keys[pending], (slot[pending] + 1) & mask
            slot[pending] = at

    def adopt(self, other: TokenIndexer) -> np.ndarray:
        """Give every token of `other` an id here (new ones at the end); returns other's id -> this id table."""
        index = {word: i for i, word in enumerate(self.words)}
        table = np.fromiter((index.get(word, -1) for word in other.words), dtype=np.int64, count=len(other.words))
        unseen = np.flatnonzero(table < 0)
        if unseen.size:  # tokens hold no white space: joined by spaces they are one line of exactly themselves
            line = " ".join(other.words[i] for i in unseen.tolist()).encode("utf-8")
            table[unseen] = self._encode_buffer(line, 1)[0]
        return table.astype(np.int32)

    def build(self, counts: np.ndarray, min_freq: int, max_size: int | None) -> tuple[Vocabulary, np.ndarray]:
        """The vocabulary from per-id training counts (frequency, then alphabetical), and the id -> vocabulary
        index table (UNK for every token left out)."""
        keep = np.flatnonzero(counts >= max(min_freq, 1))
        words = [self.words[i] for i in keep.tolist()]
        keep = keep[sorted(range(len(words)), key=words.__getitem__)]  # alphabetical, then by count (stable)
        keep = keep[np.argsort(-counts[keep], kind="stable")].tolist()
        if max_size is not None:
            keep = keep[: max(max_size - len(RESERVED), 0)]
        table = np.full(len(self.words), UNK, dtype=np.int32)
        table[np.asarray(keep, dtype=np.int64)] = np.arange(len(RESERVED), len(RESERVED) + len(keep), dtype=np.int32)
        vocab = Vocabulary(list(RESERVED) + [self.words[i] for i in keep], [0, 0] + [int(counts[i]) for i in keep],
                           min_freq, max_size)
        return vocab, table


class _TableFull(Exception):
    pass


def _ascii_buffer(texts: list[str]) -> bytes:
    joined = "\n".join(texts)
    if joined.count("\n") != max(len(texts) - 1, 0):  # a text with a line break of its own
        joined = "\n".join(t.replace("\n", " ") for t in texts)
    buffer = joined.encode("ascii").lower().replace(b"<br />", b" ")
    if b"<br" in buffer:
        buffer = _BREAK.sub(b" ", buffer)
    return buffer.translate(None, ASCII_PUNCTUATION)


def _unicode_buffer(texts: list[str]) -> bytes:
    return "\n".join(" ".join(normalize(t).split()) for t in texts).encode("utf-8")


def _token_keys(padded: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A uint64 per token. Up to 7 bytes: the bytes themselves (little-endian) with the length in the top byte,
    so distinct short tokens never share a key. From 8 bytes on: the length and every 8-byte block mixed into
    a hash."""
    # An unaligned view: element i is the 8 bytes from byte i on.
    blocks = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    keys = blocks[starts] & _LOW_BYTES[np.minimum(lengths, 8)]
    short = lengths < 8
    keys[short] |= lengths[short].astype(np.uint64) << np.uint64(56)
    longer, k = np.flatnonzero(~short), 1
    with np.errstate(over="ignore"):
        keys[longer] ^= lengths[longer].astype(np.uint64) * _MIX
        while longer.size:
            left = lengths[longer] - 8 * k  # bytes not mixed in yet (none, or negative, for the last round)
            block = blocks[starts[longer] + 8 * k] & _LOW_BYTES[np.clip(left, 0, 8)]
            mixed = keys[longer] * _MIX + block
            keys[longer] = mixed ^ (mixed >> _SHIFT)
            longer, k = longer[left > 0], k + 1
    return keys


def _in_text_order(groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]], count: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Interleave the groups' token runs back into the texts' original order."""
    lengths = np.zeros(count, dtype=np.int64)
    source_start = np.zeros(count, dtype=np.int64)
    offset = 0
    for rows, ids, group_lengths in groups:
        lengths[rows] = group_lengths
        source_start[rows] = offset + np.cumsum(group_lengths) - group_lengths
        offset += len(ids)
    flat = np.concatenate([ids for _, ids, _ in groups]) if groups else np.zeros(0, dtype=np.int32)
    total = int(lengths.sum())
    target_start = np.cumsum(lengths) - lengths
    index = np.repeat(source_start - target_start, lengths) + np.arange(total)
    return flat[index], lengths
