"""Problem 0: a 2-input, 3-hidden-unit, 1-output RNN of hard-threshold units that adds binary numbers.

    h_t = step(U x_t + W h_{t-1} + b_h),   y_t = step(v . h_t + b_y),   step(a) = 1 if a > 0 else 0

Hand-set weights: every hidden unit sees the bit sum s_t = x1 + x2 + carry, where the carry is the
previous step's "s >= 2" unit. Unit 1 fires for s >= 1, unit 2 for s >= 2 (the carry), unit 3 for s = 3,
so h1 - h2 + h3 = s mod 2 is the sum bit.
"""

from __future__ import annotations

import torch
from torch import nn

PARAM_NAMES = ("U", "W", "b_h", "v", "b_y", "h0")
SHAPES = {"U": (3, 2), "W": (3, 3), "b_h": (3,), "v": (3,), "b_y": (), "h0": (3,)}


def step(a: torch.Tensor) -> torch.Tensor:
    return (a > 0).to(a.dtype)


class ThresholdAdder(nn.Module):
    """The hard-threshold RNN; `forward` returns the output bits and the hidden states per step."""

    def __init__(self, U, W, b_h, v, b_y, h0):
        super().__init__()
        for name, value in zip(PARAM_NAMES, (U, W, b_h, v, b_y, h0), strict=True):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32).clone())

    @classmethod
    def hand_set(cls) -> ThresholdAdder:
        return cls(
            U=[[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
            W=[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
            b_h=[-0.5, -1.5, -2.5],
            v=[1.0, -1.0, 1.0],
            b_y=-0.5,
            h0=[0.0, 0.0, 0.0],
        )

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> ThresholdAdder:
        """The adder from its six tensors; ValueError names one that is missing, of another shape or not finite."""
        for name, shape in SHAPES.items():
            value = tensors.get(name)
            if value is None:
                raise ValueError(f"it lacks the tensor {name}")
            if tuple(value.shape) not in ((shape, (1,)) if shape == () else (shape,)) or not value.is_floating_point():
                raise ValueError(f"{name} should be a float tensor of shape {shape}, found {value.dtype} "
                                 f"{tuple(value.shape)}")
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{name} holds NaN or infinite values")
        return cls(**{name: tensors[name].reshape(SHAPES[name]) for name in PARAM_NAMES})

    def tensors(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in PARAM_NAMES}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (batch, time, 2) bits, least significant first. Returns y (batch, time), h (batch, time, 3)."""
        # The input part of every step at once, laid out time-major so each step reads contiguous memory.
        drive = (x @ self.U.T + self.b_h).transpose(0, 1).contiguous()
        hidden = torch.empty_like(drive)
        h = self.h0.expand(x.shape[0], 3)
        recurrent = self.W.T.contiguous()
        for t in range(drive.shape[0]):
            h = step(torch.addmm(drive[t], h, recurrent))
            hidden[t] = h
        y = step(hidden @ self.v + self.b_y)
        return y.T, hidden.transpose(0, 1)


def int_bits(values: torch.Tensor, width: int) -> torch.Tensor:
    """Integers (any shape) to float bits, least significant first, in a new last dimension."""
    shifts = torch.arange(width, device=values.device)
    return ((values.unsqueeze(-1) >> shifts) & 1).float()


def bits_to_int(bits: torch.Tensor) -> torch.Tensor:
    """Inverse of `int_bits` for widths below 63."""
    weights = 2 ** torch.arange(bits.shape[-1], device=bits.device, dtype=torch.int64)
    return (bits.long() * weights).sum(-1)
