"""Fixed-length rows: every review becomes exactly max_len indices, zeros on the LEFT (so the last step of a
sequence model is the last word), longer reviews cut at the head or the tail."""

from __future__ import annotations

import numpy as np

from hw3cli.errors import Hw3Error


def pad_left(flat: np.ndarray, lengths: np.ndarray, max_len: int, truncate: str = "head",
             starts: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Rows of `flat` into a (rows, max_len) int32 matrix: shorter rows padded with zeros on the LEFT, longer
    rows cut to their first (`head`) or last (`tail`) max_len tokens. Row r is flat[starts[r]:][:lengths[r]];
    `starts` defaults to the rows lying back to back; `out`, when given, is a zero matrix to fill. One slice
    copy per row: cheaper than index arrays the size of the corpus."""
    if truncate not in ("head", "tail"):
        raise Hw3Error(f"--truncate must be head or tail, not '{truncate}'")
    lengths = np.asarray(lengths, dtype=np.int64)
    if starts is None:
        starts = np.cumsum(lengths) - lengths
    kept = np.minimum(lengths, max_len)
    first = starts + lengths - kept if truncate == "tail" else starts
    matrix = np.zeros((len(lengths), max_len), dtype=np.int32) if out is None else out
    for row, (start, k) in enumerate(zip(first.tolist(), kept.tolist())):
        if k:
            matrix[row, max_len - k:] = flat[start:start + k]
    return matrix
