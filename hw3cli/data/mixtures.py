"""The 2-D Gaussian mixtures of the mode-collapse literature, and how a generator's samples are scored on them.

ring: 8 modes evenly spaced on a circle of radius 2, std 0.02 (Metz et al. 2016, Srivastava et al. 2017).
grid: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05 (Srivastava et al. 2017).

Scoring as in VEEGAN (Srivastava et al. 2017, Table 1), over 2,500 samples: a sample is high-quality when it lies
within 3 standard deviations of its nearest mode; a mode is recovered when at least one high-quality sample is
nearest to it. The reverse KL is KL(q || uniform) of the histogram q of the high-quality samples over the modes
(0 when every mode holds as many; log M when one mode holds them all).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

SCORED_SAMPLES = 2500


@dataclass(frozen=True)
class Mixture:
    name: str
    modes: tuple[tuple[float, float], ...]  # the centres
    std: float  # of every component, in both coordinates

    def centres(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.tensor(self.modes, dtype=torch.float32, device=device)

    def sample(self, n: int, rng: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        """n points: a uniformly drawn mode each, plus Gaussian noise of `std`."""
        which = torch.randint(0, len(self.modes), (n,), generator=rng, device=device)
        return self.centres(device)[which] + self.std * torch.randn(n, 2, generator=rng, device=device)

    @property
    def spread(self) -> float:
        """The standard deviation of a coordinate, over both coordinates (the grid: 2.83; the ring: 1.41). Both
        mixtures are centred on the origin, so dividing by it alone (no shift) puts them at unit scale."""
        centres = self.centres()
        return math.sqrt(float(((centres - centres.mean(0)) ** 2).mean()) + self.std ** 2)

    @property
    def extent(self) -> float:
        """Half the side of a square around the origin that holds every mode with a margin (for figures)."""
        return max(abs(c) for mode in self.modes for c in mode) * 1.5


def ring() -> Mixture:
    # 2*pi*k/8 for k = 0..7: linspace(0, 2*pi, 8) would put its first and last modes on the same point.
    angles = [2 * math.pi * k / 8 for k in range(8)]
    return Mixture("ring", tuple((2 * math.cos(a), 2 * math.sin(a)) for a in angles), 0.02)


def grid() -> Mixture:
    return Mixture("grid", tuple((float(x), float(y)) for x in range(-4, 5, 2) for y in range(-4, 5, 2)), 0.05)


MIXTURES = {"ring": ring, "grid": grid}

# Published (modes recovered, high-quality fraction) over 2,500 samples, for the report and summaries to show
# beside ours. VEEGAN: Srivastava et al. 2017, Table 1; PacGAN: Lin et al. 2018 (a larger network); WGAN-GP: as
# reported in GDPP (Elfeki et al. 2019).
PUBLISHED = {
    "ring": {"GAN (VEEGAN)": (1.0, 0.993), "Unrolled GAN, k=5 (VEEGAN)": (7.6, 0.356), "VEEGAN": (8.0, 0.529),
             "GAN, larger nets (PacGAN)": (6.3, 0.982), "WGAN-GP (GDPP)": (6.8, 0.596)},
    "grid": {"GAN (VEEGAN)": (3.3, 0.005), "Unrolled GAN, k=5 (VEEGAN)": (23.6, 0.16), "VEEGAN": (24.6, 0.40),
             "WGAN-GP (GDPP)": (24.2, 0.287)},
}


def coverage(samples: torch.Tensor, mixture: Mixture) -> dict:
    """Modes recovered, the high-quality fraction and the reverse KL of the mode histogram (see the module doc)."""
    samples = samples.float().cpu()
    distance = torch.cdist(samples, mixture.centres())
    nearest_distance, nearest = distance.min(dim=1)
    good = nearest_distance <= 3 * mixture.std
    counts = torch.bincount(nearest[good], minlength=len(mixture.modes)).double()
    if counts.sum() > 0:
        q = counts / counts.sum()
        reverse_kl = float((q[q > 0] * (q[q > 0] * len(mixture.modes)).log()).sum())
    else:
        reverse_kl = math.log(len(mixture.modes))  # no high-quality sample: as far from uniform as one mode
    return {"modes": len(mixture.modes), "modes_recovered": int((counts > 0).sum()),
            "high_quality_fraction": float(good.double().mean()), "reverse_kl": reverse_kl,
            "samples": len(samples), "per_mode": [int(c) for c in counts]}


class MixtureSource:
    """Fresh samples from a mixture for the GAN loop (a data.sources.GanSource): an "epoch" is `batches` batches,
    and every batch is new (the mixture is infinite)."""

    sample_shape = (2,)
    classes: tuple[str, ...] = ()
    size = None
    density_samples = 20_000  # the final generator's density picture

    def __init__(self, mixture: Mixture, batches: int, device: torch.device):
        self.mixture, self.batches, self.device = mixture, batches, device

    def epoch(self, batch_size: int, rng: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.batches):
            yield self.draw(batch_size, rng), torch.zeros(batch_size, dtype=torch.long, device=self.device)

    def draw(self, size: int, rng: torch.Generator) -> torch.Tensor:
        return self.mixture.sample(size, rng, self.device)

    def items_per_epoch(self, batch_size: int) -> int:
        return self.batches * batch_size

    def scored_samples(self, grid: int) -> int:
        return SCORED_SAMPLES

    @staticmethod
    def to_samples(output: torch.Tensor) -> torch.Tensor:
        return output

    def score(self, final: torch.Tensor, over_training: dict[int, torch.Tensor]) -> dict:
        """The benchmark's scores, of the final samples and at every kept epoch."""
        return {"dataset": self.mixture.name, "mode_coverage": coverage(final, self.mixture),
                "coverage_over_training": {str(epoch): coverage(points, self.mixture)
                                           for epoch, points in over_training.items()}}
