"""Checking the threshold adder against integer addition, and learning one by gradient descent."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from hw3cli.errors import check_finite
from hw3cli.models.adder import ThresholdAdder, bits_to_int, int_bits, step


@dataclass
class VerifyResult:
    checked: int
    mismatches: int
    examples: list[tuple[int, int, int]]  # (a, b, what the network said) for the first few mismatches

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


@torch.no_grad()
def verify_exhaustive(adder: ThresholdAdder, n_bits: int, chunk: int = 1 << 16) -> VerifyResult:
    """Every pair a, b < 2**n_bits, fed with n_bits + 1 steps, against a + b."""
    width = n_bits + 1
    count = 1 << n_bits
    total = count * count
    mismatches, examples = 0, []
    for start in range(0, total, chunk):
        pair = torch.arange(start, min(start + chunk, total), dtype=torch.int64)
        a, b = pair // count, pair % count
        x = torch.stack([int_bits(a, width), int_bits(b, width)], -1)
        said = bits_to_int(adder(x)[0])
        wrong = said != a + b
        mismatches += int(wrong.sum())
        for i in wrong.nonzero().flatten()[: 5 - len(examples)].tolist():
            examples.append((int(a[i]), int(b[i]), int(said[i])))
    return VerifyResult(total, mismatches, examples)


@torch.no_grad()
def verify_random(adder: ThresholdAdder, pairs: int, max_bits: int, seed: int) -> VerifyResult:
    """Random pairs of up to `max_bits` bits (each width drawn uniformly), checked with Python integers."""
    if pairs == 0:
        return VerifyResult(0, 0, [])
    rng = random.Random(seed)
    numbers = [(rng.getrandbits(rng.randint(1, max_bits)), rng.getrandbits(rng.randint(1, max_bits)))
               for _ in range(pairs)]
    width = max_bits + 1
    x = torch.tensor([[[(a >> t) & 1, (b >> t) & 1] for t in range(width)] for a, b in numbers],
                     dtype=torch.float32)
    y, _ = adder(x)
    mismatches, examples = 0, []
    for (a, b), bits in zip(numbers, y.tolist(), strict=True):
        said = _to_int(bits)
        if said != a + b:
            mismatches += 1
            if len(examples) < 5:
                examples.append((a, b, said))
    return VerifyResult(pairs, mismatches, examples)


def _to_int(bits) -> int:
    return sum(int(bit) << t for t, bit in enumerate(bits.tolist() if hasattr(bits, "tolist") else bits))


class SmoothAdder(nn.Module):
    """The same 3-unit network with sigmoid(steepness * a) in place of the step, so it can be trained."""

    def __init__(self, generator: torch.Generator):
        super().__init__()

        def init(*shape):
            return nn.Parameter(torch.randn(*shape, generator=generator))

        self.U, self.W, self.b_h = init(3, 2), init(3, 3), init(3)
        self.v, self.b_y, self.h0_logit = init(3), init(()), init(3)

    def forward(self, x: torch.Tensor, steepness: float) -> torch.Tensor:
        """Returns output logits (batch, time); the output sigmoid is left to the loss."""
        h = torch.sigmoid(steepness * self.h0_logit).expand(x.shape[0], 3)
        logits = []
        for t in range(x.shape[1]):
            h = torch.sigmoid(steepness * (x[:, t] @ self.U.T + h @ self.W.T + self.b_h))
            logits.append(steepness * (h @ self.v + self.b_y))
        return torch.stack(logits, 1)

    def harden(self) -> ThresholdAdder:
        """The step-function network with the same weights; h0 is the hardened initial state."""
        p = {k: v.detach().clone() for k, v in self.named_parameters()}
        return ThresholdAdder(p["U"], p["W"], p["b_h"], p["v"], p["b_y"], step(p["h0_logit"]))


def train_smooth_adder(
    model: SmoothAdder,
    generator: torch.Generator,
    steps: int = 2000,
    batch: int = 128,
    width: int = 8,
    lr: float = 0.1,
    max_steepness: float = 8.0,
) -> Iterator[dict]:
    """Adam on random `width`-bit additions; the sigmoid's steepness grows from 1 to `max_steepness`
    so the hidden units are pushed towards 0/1 and survive being hardened into steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    for i in range(steps):
        steepness = 1.0 + (max_steepness - 1.0) * i / max(steps - 1, 1)
        a = torch.randint(0, 1 << width, (batch,), generator=generator)
        b = torch.randint(0, 1 << width, (batch,), generator=generator)
        x = torch.stack([int_bits(a, width + 1), int_bits(b, width + 1)], -1)
        loss = loss_fn(model(x, steepness), int_bits(a + b, width + 1))
        check_finite(loss, f"step {i + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        yield {"step": i + 1, "loss": loss.item(), "steepness": steepness}
