"""The fast path, fenced in this module (used by `preprocess`'s corpus encoding and `Vocabulary.encode`): the
tokens of `tokenizer.tokenize`, found and numbered without making a Python object per token (IMDB has 11.7
million of them).

A block of reviews (UTF-8, one per line) is cleaned in three passes over its bytes: HTML breaks become spaces
(`<br />` by `bytes.replace`, its rarer spellings by a regex); every run of non-white-space that holds a
non-ASCII byte (about 6 in 10,000 bytes of IMDB) goes through `tokenizer.normalize`; one `bytes.translate` then
lower-cases, deletes the ASCII punctuation and turns ASCII white space into spaces. This equals `tokenize` on
every line because white space bounds everything that matters: an HTML break is ASCII, so the byte regex finds
exactly the breaks that the str regex finds; lower-casing (whose only context rule, the final sigma, stops at
white space), \\p{P} and the split act on each such run alone; and a run bounded by ASCII white space decodes to
the same characters, invalid bytes included, as the whole line does.

In the cleaned buffer every token becomes a 64-bit key: its bytes and length when it has at most 7 bytes
(exact), a hash of its length and 8-byte blocks, top bit set, when longer (two long tokens share a key with
odds of about 1 in 10^10 for the whole IMDB vocabulary). `KeyIndex` numbers the distinct keys in sorted order
and finds them with a hash table held in numpy arrays. The tests compare the tokens with `tokenizer.tokenize`.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

import numpy as np
import regex

from hw3cli.data.tokenizer import normalize

# The ASCII characters that \p{P} removes, and the ASCII bytes that str.split() breaks at.
ASCII_PUNCTUATION = bytes(c for c in range(128) if regex.fullmatch(r"\p{P}", chr(c)))
ASCII_SPACE = bytes(c for c in range(128) if chr(c).isspace())
_CLEAN = bytes.maketrans(bytes(range(65, 91)) + ASCII_SPACE.replace(b"\n", b""),
                         bytes(range(97, 123)) + b" " * (len(ASCII_SPACE) - 1))
_BREAK = re.compile(rb"<[bB][rR][ \t]*/?>")
_PAD = 16  # zero bytes after a buffer, so 8-byte reads at any token stay inside it
_HASHED = np.uint64(1 << 63)
_LENGTH_ON_TOP = np.array([n << 56 for n in range(8)] + [0], dtype=np.uint64)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: Fibonacci hashing
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)  # splitmix64's finaliser


def clean_lines(data: bytes) -> tuple[bytes, int]:
    """`data`: texts, each ended by a newline. Returns a buffer of the same lines, each holding its `tokenize`
    tokens separated by runs of spaces, with one more newline in front and _PAD zero bytes after; and how many
    lines are not valid UTF-8 (read, as `tokenize` sees them, with U+FFFD for the bad bytes)."""
    # Vertical tabs for the common spelling: white space that the regex cannot take as part of a break, so the
    # regex pass finds only the breaks the one-pass str regex finds ("<br <br />>" keeps its "<br" and ">").
    # As many as the break has bytes: bytes.replace is twice as fast when the length stays.
    data = data.replace(b"<br />", b"\x0b" * 6)
    if b"<" in data:  # the regex only when it can match: a search for one byte is a memchr
        data = _BREAK.sub(b" ", data)
    data, invalid = _normalize_non_ascii(data)
    return data.translate(_CLEAN, ASCII_PUNCTUATION), invalid


def _normalize_non_ascii(data: bytes) -> tuple[bytes, int]:
    """"\n" + `data` + _PAD zero bytes, where every run of bytes between spaces or newlines that holds a
    non-ASCII byte went through `tokenizer.normalize` (other ASCII white space inside a run is fine: normalize
    splits there too); and how many lines had bytes that are not UTF-8."""
    high = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) >= 0x80).tolist()
    pieces, invalid, done, i = [b"\n"], set(), 0, 0
    while i < len(high):
        at = high[i]
        line = data.rfind(b"\n", 0, at)
        start = max(data.rfind(b" ", 0, at), line) + 1
        end = min(_find(data, b" ", at), _find(data, b"\n", at))
        try:
            text = data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            text = data[start:end].decode("utf-8", errors="replace")
            invalid.add(line)
        pieces += [data[done:start], " ".join(normalize(text).split()).encode("utf-8")]
        done, i = end, bisect.bisect_left(high, end, i)
    return b"".join(pieces + [data[done:], bytes(_PAD)]), len(invalid)


def _find(data: bytes, sub: bytes, start: int) -> int:
    at = data.find(sub, start)
    return len(data) if at < 0 else at


@dataclass
class Tokens:
    """The tokens of a block of lines: a key per token, the distinct keys, how many tokens each line has, and
    where the long tokens (8 bytes or more, whose keys are hashes) lie in the cleaned parts."""

    parts: list[bytes]  # clean_lines of the block, a part at a time
    keys: list[np.ndarray]  # uint64, one per token, a part at a time
    distinct: np.ndarray  # the distinct keys, sorted
    per_line: np.ndarray  # int64 token count of each line
    invalid_lines: int  # lines that are not valid UTF-8
    long_tokens: np.ndarray  # int64 positions in `keys` of the long tokens
    long_spans: np.ndarray  # (long tokens, 3) int64: part, start and end byte offsets

    @classmethod
    def of(cls, data: bytes) -> Tokens:
        """The tokens of `data` (lines, each ended by a newline), cleaned and cut up a megabyte of lines at a
        time: the arrays of a megabyte stay in cache, and the allocator hands the same memory back for the
        next part instead of fresh pages."""
        found: dict[str, list] = {name: [] for name in ("keys", "distinct", "per_line", "long_tokens", "long_spans")}
        parts, count, invalid, first = [], 0, 0, 0
        while first < len(data):
            end = _find(data, b"\n", first + _PART) + 1
            part, bad = clean_lines(data[first:end])
            invalid += bad
            keys, per_line, long, spans = _part_tokens(part)
            found["keys"].append(keys)
            found["distinct"].append(distinct(keys))
            found["per_line"].append(per_line)
            found["long_tokens"].append(long + count)
            found["long_spans"].append(np.column_stack([np.full(len(long), len(parts)), spans]))
            parts.append(part)
            count, first = count + len(keys), end
        joined = {name: np.concatenate(found[name]) if parts else np.zeros(0, np.int64)
                  for name in ("distinct", "per_line", "long_tokens", "long_spans")}
        return cls(parts, found["keys"], distinct(joined["distinct"].astype(np.uint64)), joined["per_line"], invalid,
                   joined["long_tokens"], joined["long_spans"].reshape(-1, 3))

    def __len__(self) -> int:
        return sum(len(keys) for keys in self.keys)


_PART = 1 << 20


def distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (np.unique without its slower paths)."""
    keys = np.sort(keys)
    first = np.ones(len(keys), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return keys[first]


def _part_tokens(clean: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keys, tokens per line, and the positions and (start, end) spans of the long tokens of a cleaned part."""
    data = np.frombuffer(clean, dtype=np.uint8)[: len(clean) - _PAD]
    blocks = eight_byte_blocks(clean)
    in_token = (data != 32) & (data != 10)
    edges = np.flatnonzero(in_token[1:] != in_token[:-1])  # a start, its end, the next start, ...
    edges += 1
    starts, ends = edges[0::2], edges[1::2]
    keys, long = _token_keys(blocks, starts, ends)
    per_line = np.diff(np.searchsorted(starts, np.flatnonzero(data == 10)))
    return keys, per_line, long, np.column_stack([starts[long], ends[long]])


def eight_byte_blocks(buffer: bytes) -> np.ndarray:
    """An unaligned little-endian uint64 view: element i is the 8 bytes from byte i on."""
    return np.ndarray((len(buffer) - 7,), dtype="<u8", buffer=buffer, strides=(1,))


def first_bytes(blocks: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The first min(length, 8) bytes from each start (of `eight_byte_blocks`), the other bytes zero."""
    return blocks[starts] & _LOW_BYTES.take(lengths, mode="clip")


_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1], dtype=np.uint64)  # by length


def _token_keys(blocks: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A uint64 per token, and which tokens are long. Up to 7 bytes: the bytes themselves (little-endian) with
    the length in the top byte. From 8 bytes on: a hash of the length, the first and last 8 bytes and every
    8-byte block between, top bit set."""
    lengths = ends - starts
    keys = first_bytes(blocks, starts, lengths)  # the whole key of a short token, with its length on top
    keys |= _LENGTH_ON_TOP.take(lengths, mode="clip")
    long = np.flatnonzero(lengths >= 8)
    if long.size:
        first, last, n = starts[long], ends[long] - 8, lengths[long]
        hashed = _mix(_mix(n.astype(np.uint64) * _MIX ^ blocks[first]) ^ blocks[last])
        middle = np.flatnonzero(n > 16)  # blocks at first + 8, first + 16, ... before the last one
        step = 8
        while middle.size:
            hashed[middle] = _mix(hashed[middle] ^ blocks[first[middle] + step])
            step += 8
            middle = middle[n[middle] > step + 8]
        keys[long] = hashed | _HASHED
    return keys, long


def _mix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


class KeyIndex:
    """The distinct keys of a block's tokens, numbered in sorted order, and (when asked for) their words.
    `ranks` is the number of every token; `find` gives the number of any key (-1 for keys not among them)
    through an open-addressing hash table held in numpy arrays."""

    def __init__(self, tokens: Tokens):
        self.keys = tokens.distinct
        self.bits = max(4, (4 * len(self.keys)).bit_length())  # at most a quarter full: few probes
        self._slot_keys = np.zeros(1 << self.bits, dtype=np.uint64)
        self._slot_ids = np.full(1 << self.bits, -1, dtype=np.int32)
        self._insert()
        self.ranks = np.empty(len(tokens), dtype=np.int32)
        first = 0
        for keys in tokens.keys:  # a part at a time: its arrays stay in cache
            self.ranks[first:first + len(keys)] = self.find(keys)
            first += len(keys)
        self._tokens = tokens

    def __len__(self) -> int:
        return len(self.keys)

    def _home(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys * _MIX) >> np.uint64(64 - self.bits)).view(np.int64)

    def _insert(self) -> None:
        """Linear probing, all keys of a round at once: of several keys reaching one free slot, one stays."""
        mask = (1 << self.bits) - 1
        pending, slot = np.arange(len(self.keys), dtype=np.int32), self._home(self.keys)
        while pending.size:
            at = slot[pending]
            free = self._slot_ids[at] < 0
            self._slot_ids[at[free]] = pending[free]
            placed = self._slot_ids[at] == pending
            self._slot_keys[at[placed]] = self.keys[pending[placed]]
            pending = pending[~placed]
            slot[pending] = (slot[pending] + 1) & mask

    def find(self, keys: np.ndarray) -> np.ndarray:
        mask = (1 << self.bits) - 1
        slot = self._home(keys)
        ids = self._slot_ids[slot]
        pending = np.flatnonzero((self._slot_keys[slot] != keys) & (ids >= 0))
        while pending.size:  # not at home: probe on until the key or an empty slot
            at = (slot[pending] + 1) & mask
            slot[pending] = at
            ids[pending] = self._slot_ids[at]
            pending = pending[(self._slot_keys[at] != keys[pending]) & (ids[pending] >= 0)]
        return ids

    @functools.cached_property
    def words(self) -> list[str]:
        """The word of each key. Short keys spell theirs; a long key's is read at one of its tokens. Either way
        the bytes of the words are gathered into one buffer, a space after each, and decoded at once."""
        tokens, short = self._tokens, int(np.searchsorted(self.keys, _HASHED))  # sorted: short keys come first
        spelled = np.full((short, 8), 32, dtype=np.uint8)  # 0xFF never occurs in UTF-8: it marks unused bytes
        spelled[:, :7] = self.keys[:short].view(np.uint8).reshape(-1, 8)[:, :7]
        spelled[:, :7][np.arange(7) >= (self.keys[:short] >> np.uint64(56)).astype(np.int64)[:, None]] = 0xFF
        words = spelled.tobytes().translate(None, b"\xff").decode("utf-8").split(" ")[:-1]
        long = np.empty(len(self.keys) - short, dtype=object)
        span = np.zeros((len(long), 3), dtype=np.int64)
        span[self.ranks[tokens.long_tokens] - short] = tokens.long_spans  # any one token of the key will do
        for k, part in enumerate(tokens.parts):
            here = np.flatnonzero(span[:, 0] == k)
            starts, lengths = span[here, 1], span[here, 2] - span[here, 1] + 1  # + 1: the space after
            offsets = np.cumsum(lengths) - lengths
            gathered = np.frombuffer(part, dtype=np.uint8)[np.arange(int(lengths.sum())) +
                                                           np.repeat(starts - offsets, lengths)]
            gathered[offsets + lengths - 1] = 32
            long[here] = np.array(gathered.tobytes().decode("utf-8").split(" ")[:-1], dtype=object)
        return words + long.tolist()
