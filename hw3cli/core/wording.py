"""Words for numbers in what the tool prints and writes: '1 epoch', not '1 epochs'."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 epoch', '30 epochs', '5,000 samples'; `plural` where adding an s is wrong ('classes')."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
