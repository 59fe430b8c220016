"""The GAN variants: one class each, registered by name in LOSSES. A class says everything that makes its variant:
its losses, whether D is a critic (unbounded scores) and what its score plots say, its optimizer and learning
rate, its critic steps, its clipping or penalty, and whether the exact unroll can differentiate its D step. The
`--loss` choices, make_loss, the unroll checks, the run titles and the plot labels all read it from here; the
training loop is shared (gan_loop.py).

Each loss sees logits (the discriminator before its sigmoid, or the WGAN critic's raw value) and returns the
quantity to minimise; `scores` says what is logged as the "real score" and "fake score".

A new variant is one class below with @register, and its tests. This module imports torch only where a loss is
computed: the command line reads the registry for its `--loss` choices, and its --help must not wait for torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class OptimizerRecipe:
    """How a variant's G and D are optimised: Adam with these betas, or RMSprop; `lr` None takes the data set's
    Adam defaults (2e-4 on Fashion-MNIST; G 1e-3 and D 1e-4 on the 2-D mixtures)."""

    name: str  # adam or rmsprop
    lr: float | None = None
    betas: tuple[float, float] = (0.5, 0.999)

    def describe(self) -> str:
        return "RMSprop" if self.name == "rmsprop" else f"Adam (betas {self.betas[0]:g}, {self.betas[1]:g})"


LOSSES: dict[str, type[GanLoss]] = {}


def register(cls: type[GanLoss]) -> type[GanLoss]:
    LOSSES[cls.name] = cls
    return cls


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    from torch.nn.functional import binary_cross_entropy_with_logits

    return binary_cross_entropy_with_logits(logits, logits.new_full(logits.shape, target))


@dataclass(frozen=True)
class GanLoss:
    """What every variant declares; the defaults are the vanilla GAN's."""

    name: ClassVar[str]
    help: ClassVar[str]  # one line for --help
    uses_discriminator: ClassVar[bool] = True
    critic: ClassVar[bool] = False  # D's output is an unbounded critic value, not a probability's logit
    exact_unroll: ClassVar[bool] = True  # D's step is differentiable: G's gradient can flow through K of them
    optimizer: ClassVar[OptimizerRecipe] = OptimizerRecipe("adam")
    default_critic_steps: ClassVar[int] = 1
    gradient_penalty: ClassVar[float] = 0.0  # lambda of WGAN-GP's penalty (0: none)
    note: ClassVar[str] = ""  # what a run's summary adds about the variant

    critic_steps: int = 1  # D steps per G step

    @classmethod
    def from_options(cls, *, clip: float, critic_steps: int | None) -> GanLoss:
        return cls(critic_steps=critic_steps or cls.default_critic_steps)

    @property
    def score_label(self) -> str:
        """The y-axis of the run's score plot."""
        return "mean critic value" if self.critic else "mean D output (probability of real)"

    @classmethod
    def variant(cls, clip: float) -> str:
        """The variant's name for run folders and summaries."""
        return cls.name

    def details(self) -> str:
        """What run titles add after the variant's name (e.g. WGAN's clip)."""
        return ""

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        return logits if self.critic else logits.sigmoid()

    def after_d_step(self, discriminator: nn.Module) -> None:
        """What follows each D step (WGAN: the weight clipping)."""


@register
@dataclass(frozen=True)
class Vanilla(GanLoss):
    """D: -E log D(x) - E log(1 - D(G(z))).  G: -E log D(G(z)) (the non-saturating form)."""

    name: ClassVar[str] = "vanilla"
    help: ClassVar[str] = "vanilla: D -log D(x) - log(1-D(G(z))), G -log D(G(z))"

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return _bce(real, 1.0) + _bce(fake, 0.0)

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return _bce(fake, 1.0)


@register
@dataclass(frozen=True)
class MeanSquared(GanLoss):
    """No discriminator: G minimises E (x - G(z))^2 against a random real batch. With z and x independent,
    the minimiser is G(z) = E[x] for every z: the mean image, so the samples collapse onto one blurry average."""

    name: ClassVar[str] = "mse"
    help: ClassVar[str] = "mse: no D, G minimises (x - G(z))^2"
    uses_discriminator: ClassVar[bool] = False
    exact_unroll: ClassVar[bool] = False
    note: ClassVar[str] = (" With no discriminator, the best G under E(x - G(z))^2, with z independent of x, outputs "
                           "the mean image for every z: the samples collapse onto one blurry average.")

    @classmethod
    def from_options(cls, *, clip: float, critic_steps: int | None) -> GanLoss:
        return cls()  # no D: one G step a batch, whatever --critic-steps says

    def reconstruction(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return ((real - fake) ** 2).mean()


@register
@dataclass(frozen=True)
class Wasserstein(GanLoss):
    """Critic: -E D(x) + E D(G(z)), then every weight clipped to [-clip, clip].  G: -E D(G(z))."""

    name: ClassVar[str] = "wgan"
    help: ClassVar[str] = "wgan: critic with weights clipped to [-clip, clip], RMSprop 5e-5, 5 critic steps"
    critic: ClassVar[bool] = True
    exact_unroll: ClassVar[bool] = False  # the clipping is not a differentiable step
    optimizer: ClassVar[OptimizerRecipe] = OptimizerRecipe("rmsprop", 5e-5)  # the WGAN paper's
    default_critic_steps: ClassVar[int] = 5

    clip: float = 0.01
    critic_steps: int = 5

    @classmethod
    def from_options(cls, *, clip: float, critic_steps: int | None) -> GanLoss:
        return cls(clip=clip, critic_steps=critic_steps or cls.default_critic_steps)

    @classmethod
    def variant(cls, clip: float) -> str:
        return f"{cls.name}-clip{clip:g}"

    def details(self) -> str:
        return f", clip {self.clip:g}"

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.mean() - real.mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.mean()

    def after_d_step(self, discriminator: nn.Module) -> None:
        for p in discriminator.parameters():
            p.data.clamp_(-self.clip, self.clip)


@register
@dataclass(frozen=True)
class LeastSquares(Vanilla):
    """D: E (D(x) - 1)^2 + E D(G(z))^2.  G: E (D(G(z)) - 1)^2, with D(.) the sigmoid output of the
    assignment's discriminator."""

    name: ClassVar[str] = "lsgan"
    help: ClassVar[str] = "lsgan: least squares on D's sigmoid output"

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return ((real.sigmoid() - 1) ** 2).mean() + (fake.sigmoid() ** 2).mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        return ((fake.sigmoid() - 1) ** 2).mean()


@register
@dataclass(frozen=True)
class WassersteinGP(GanLoss):
    """Critic: -E D(x) + E D(G(z)) + lambda E (|grad D(x_hat)|_2 - 1)^2, x_hat a random interpolate of a real and
    a fake sample (Gulrajani et al. 2017), and no clipping.  G: -E D(G(z))."""

    name: ClassVar[str] = "wgan-gp"
    help: ClassVar[str] = "wgan-gp: critic with a gradient penalty of 10, Adam 1e-4 (betas 0, 0.9), 5 critic steps"
    critic: ClassVar[bool] = True
    exact_unroll: ClassVar[bool] = False  # the penalty's double backward is not unrolled
    optimizer: ClassVar[OptimizerRecipe] = OptimizerRecipe("adam", 1e-4, (0.0, 0.9))  # its paper's
    default_critic_steps: ClassVar[int] = 5
    gradient_penalty: ClassVar[float] = 10.0

    critic_steps: int = 5

    d_loss = Wasserstein.d_loss
    g_loss = Wasserstein.g_loss

    def penalty(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor | None,
                mix: torch.Tensor) -> torch.Tensor:
        """lambda E (|grad D(x_hat)| - 1)^2 with x_hat = mix * real + (1 - mix) * fake, mix ~ U(0, 1) per sample."""
        from torch.autograd import grad as gradient

        x_hat = (mix * real + (1 - mix) * fake).requires_grad_(True)
        (grad,) = gradient(critic(x_hat, cond).float().sum(), x_hat, create_graph=True)
        return self.gradient_penalty * ((grad.norm(dim=1) - 1) ** 2).mean()


EXACT_LOSSES = tuple(name for name, cls in LOSSES.items() if cls.exact_unroll)


def make_loss(name: str, clip: float = 0.01, critic_steps: int | None = None) -> GanLoss:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}")
    return LOSSES[name].from_options(clip=clip, critic_steps=critic_steps)
