"""Binary-number strings to the adder's input sequences, and back."""

from __future__ import annotations

import torch

from hw3cli.errors import Hw3Error

MAX_BITS = 100_000  # the per-step table and the decimal conversion of longer numbers take minutes


def parse_binary(text: str, name: str = "number") -> str:
    """Validate a binary literal written most significant bit first; return it unchanged."""
    if text == "":
        raise Hw3Error(f"{name} is empty: give a binary number such as 100111")
    if len(text) > MAX_BITS:
        raise Hw3Error(f"{name} has {len(text):,} bits; at most {MAX_BITS:,} are accepted")
    bad = sorted(set(text) - {"0", "1"})
    if bad:
        raise Hw3Error(f"{name} '{text}' is not binary: it contains {', '.join(repr(c) for c in bad)}")
    return text


def adder_inputs(a: str, b: str) -> torch.Tensor:
    """Two binary strings (MSB first) to a (time, 2) tensor, LSB first, padded with one extra zero."""
    length = max(len(a), len(b)) + 1
    bits = torch.zeros(length, 2)
    for column, number in enumerate((a, b)):
        bits[: len(number), column] = torch.tensor([float(c) for c in reversed(number)])
    return bits


def bits_to_string(bits) -> str:
    """Output bits, least significant first, to a binary string most significant first (no leading zeros)."""
    text = "".join(str(int(bit)) for bit in reversed(list(bits))).lstrip("0")
    return text or "0"
