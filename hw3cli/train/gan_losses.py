"""How D and G are scored: one small object per GAN variant; the training loop is shared.

Each loss sees logits (the discriminator before its sigmoid, or the WGAN critic's raw value) and returns the
quantity to minimise. `scores` says what is logged as the "real score" and "fake score".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """bf16 logits from autocast to float32 for the loss; float64 (tests, finite differences) stays float64."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


@dataclass(frozen=True)
class Vanilla:
    """D: -E log D(x) - E log(1 - D(G(z))).  G: -E log D(G(z)) (the non-saturating form)."""

    name: str = "vanilla"
    uses_discriminator: bool = True
    critic_steps: int = 1
    gradient_penalty: float = 0.0  # lambda of WGAN-GP's penalty (0: none)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return bce(fake, torch.ones_like(fake))

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def after_d_step(self, discriminator: nn.Module) -> None:
        pass


@dataclass(frozen=True)
class LeastSquares(Vanilla):
    """D: E (D(x) - 1)^2 + E D(G(z))^2.  G: E (D(G(z)) - 1)^2, with D(.) the sigmoid output of the
    assignment's discriminator."""

    name: str = "lsgan"

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return ((torch.sigmoid(real) - 1) ** 2).mean() + (torch.sigmoid(fake) ** 2).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return ((torch.sigmoid(fake) - 1) ** 2).mean()


@dataclass(frozen=True)
class Wasserstein:
    """Critic: -E D(x) + E D(G(z)), then every weight clipped to [-clip, clip].  G: -E D(G(z))."""

    clip: float = 0.01
    critic_steps: int = 5
    name: str = "wgan"
    uses_discriminator: bool = True
    gradient_penalty: float = 0.0

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.mean() - real.mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        return logits

    @torch.no_grad()
    def after_d_step(self, discriminator: nn.Module) -> None:
        for p in discriminator.parameters():
            p.clamp_(-self.clip, self.clip)


@dataclass(frozen=True)
class WassersteinGP(Wasserstein):
    """Critic: -E D(x) + E D(G(z)) + lambda E (|grad D(x_hat)|_2 - 1)^2, x_hat a random interpolate of a real and
    a fake sample (Gulrajani et al. 2017), and no clipping.  G: -E D(G(z))."""

    name: str = "wgan-gp"
    gradient_penalty: float = 10.0  # lambda

    def penalty(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor | None,
                mix: torch.Tensor) -> torch.Tensor:
        """lambda E (|grad D(x_hat)| - 1)^2 with x_hat = mix * real + (1 - mix) * fake, mix ~ U(0, 1) per sample."""
        x_hat = (mix * real + (1 - mix) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat, cond).float().sum(), x_hat, create_graph=True)
        return self.gradient_penalty * ((grad.norm(dim=1) - 1) ** 2).mean()

    def after_d_step(self, discriminator: nn.Module) -> None:
        pass


@dataclass(frozen=True)
class MeanSquared:
    """No discriminator: G minimises E (x - G(z))^2 against a random real batch. With z and x independent,
    the minimiser is G(z) = E[x] for every z: the mean image, so the samples collapse onto one blurry average."""

    name: str = "mse"
    uses_discriminator: bool = False
    critic_steps: int = 1

    def reconstruction(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return ((real - fake) ** 2).mean()


LOSSES = ("vanilla", "mse", "wgan", "lsgan", "wgan-gp")


def make_loss(name: str, clip: float = 0.01, critic_steps: int | None = None):
    if name == "vanilla":
        return Vanilla(critic_steps=critic_steps or 1)
    if name == "lsgan":
        return LeastSquares(critic_steps=critic_steps or 1)
    if name == "wgan":
        return Wasserstein(clip=clip, critic_steps=critic_steps or 5)
    if name == "wgan-gp":
        return WassersteinGP(critic_steps=critic_steps or 5)
    if name == "mse":
        return MeanSquared()
    raise ValueError(f"unknown loss {name!r}")
