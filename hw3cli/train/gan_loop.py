"""The one GAN training loop. A variant differs only by its loss object (gan_losses.py), a data set only by its
source (data/sources.py); the loop reads both, and the run's options (configs.GanConfig), and nothing else."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from functools import partial

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from hw3cli.configs import GanConfig
from hw3cli.core.distributed import ALONE, World, average_gradients, batch_mean
from hw3cli.data.fashion_mnist import ImageSource
from hw3cli.data.sources import GanSource
from hw3cli.errors import check_finite
from hw3cli.models.gan import Discriminator, Generator
from hw3cli.train.gan_losses import GanLoss, OptimizerRecipe
from hw3cli.train.optim import adam
from hw3cli.train.unroll import Lookahead, exact_g_loss, surrogate_g_loss


@dataclass
class HistoryRecord:
    """Every generator step's numbers, column by column, as the loop's iteration records give them: what the
    progress file keeps and metrics.json's "iterations" holds (NaN, a loss MSE has not, written as null)."""

    iteration: list[int] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    real_score: list[float] = field(default_factory=list)
    fake_score: list[float] = field(default_factory=list)

    @classmethod
    def from_state(cls, state: dict) -> HistoryRecord:
        """The history a progress file holds (PROGRESS), or an empty one."""
        return cls(**state["history"]) if "history" in state else cls()

    def append(self, record: dict) -> None:
        for f in fields(self):
            getattr(self, f.name).append(record[f.name])

    def as_state(self) -> dict[str, list]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def rounded(self) -> dict[str, list]:
        """metrics.json's form: 6 decimals, null for NaN."""
        return {name: values if name == "iteration" else [round(v, 6) if v == v else None for v in values]
                for name, values in self.as_state().items()}


# The progress file's record (what --resume reads back), checked on loading.
PROGRESS = {"epoch": int, "epochs": [dict], "history": {f.name: list for f in fields(HistoryRecord)}}


@dataclass(frozen=True)
class GanOptimizers:
    """G's and D's optimizers (D's None for a loss without D) and the learning rates they start from."""

    g: torch.optim.Optimizer
    d: torch.optim.Optimizer | None
    g_lr: float
    d_lr: float

    def scale(self, factor: float) -> None:
        """Both learning rates at `factor` times their starting values."""
        for optimizer, lr in ((self.g, self.g_lr), (self.d, self.d_lr)):
            for group in optimizer.param_groups if optimizer is not None else ():
                group["lr"] = lr * factor


def make_optimizers(generator: nn.Module, discriminator: nn.Module | None, recipe: OptimizerRecipe, g_lr: float,
                    d_lr: float) -> GanOptimizers:
    """The one place G's and D's optimizers are built: the variant's recipe at the run's learning rates."""
    def build(params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        if recipe.name == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        return adam(params, lr=lr, betas=recipe.betas)

    return GanOptimizers(build(generator.parameters(), g_lr),
                         build(discriminator.parameters(), d_lr) if discriminator is not None else None, g_lr, d_lr)


def learning_rate_scale(step: int, steps: int, decay: float) -> float:
    """--lr-decay: 1 until the final `decay` fraction of the run's `steps`, then linearly down towards 0, so that
    the last steps refine what G has found instead of wandering at full step size."""
    return min(1.0, (1 - step / steps) / decay)


@dataclass(frozen=True)
class Share:
    """A global batch of `size` under torchrun: every rank draws all of it and keeps its part; losses and
    gradients are averaged over the ranks (a single process keeps everything and averages nothing)."""

    world: World
    size: int

    def mine(self, *tensors: torch.Tensor | None) -> tuple:
        if self.world.size == 1:
            return tensors
        return tuple(t if t is None else t[self.world.part(len(t))] for t in tensors)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        return batch_mean(self.world, values, self.world.share(self.size))

    def average(self, params: Iterable[nn.Parameter]) -> None:
        average_gradients(self.world, params, share=self.world.share(self.size))


def gan_training(*, generator: Generator, discriminator: Discriminator | None, loss: GanLoss, source: GanSource,
                 config: GanConfig, optimizers: GanOptimizers, rng: torch.Generator, device: torch.device,
                 precision: str, average: torch.optim.swa_utils.AveragedModel | None = None, start_epoch: int = 1,
                 start_iteration: int = 0, world: World = ALONE) -> Iterator[dict]:
    """Yields {"event": "iteration", ...} after every generator step and {"event": "epoch", ...} after every epoch.
    `config` gives the budget and the variant's options (its dataset's sizes resolved); `rng` (on `device`) draws
    batches and noise; `average` (--ema) follows G's weights after every G step. A resumed run passes its restored
    optimizers, rng and where it stopped."""
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    batches = source.items_per_epoch(config.batch_size) // config.batch_size
    lookahead = Lookahead(discriminator, optimizers.d) if config.unroll and config.unroll_mode == "surrogate" else None
    iteration = start_iteration
    for epoch in range(start_epoch, config.epochs + 1):
        start, sums, count = time.perf_counter(), torch.zeros(4, device=device), 0
        for batch, (real, labels) in enumerate(source.epoch(config.batch_size, rng)):
            if config.lr_decay:
                step = (epoch - 1) * batches + batch
                optimizers.scale(learning_rate_scale(step, config.epochs * batches, config.lr_decay))
            noise = torch.randn(real.shape[0], generator.noise_dim, device=device, generator=rng)
            share = Share(world, real.shape[0])
            real, labels, noise = share.mine(real, labels, noise)
            where = f"epoch {epoch}, iteration {iteration + 1}"
            if discriminator is None:  # MSE: no D to step
                fake = None
                d_mean = real_score = fake_score = torch.full((), float("nan"), device=device)
            else:
                d_mean, real_score, fake_score, fake = d_step(
                    generator=generator, discriminator=discriminator, loss=loss, optimizer=optimizers.d,
                    config=config, real=real, labels=labels, noise=noise, share=share, rng=rng, autocast=autocast,
                    where=where)
                if (batch + 1) % loss.critic_steps:
                    continue  # WGAN: several critic steps per generator step
            g_mean = g_step(generator=generator, discriminator=discriminator, loss=loss, optimizers=optimizers,
                            config=config, real=real, labels=labels, noise=noise, fake=fake, share=share,
                            draw=partial(fresh, source, generator, share, rng), lookahead=lookahead,
                            autocast=autocast, where=where)
            if average is not None:
                average.update_parameters(generator)
            iteration += 1
            values = torch.stack([g_mean, d_mean, *share.mean(torch.stack([real_score.detach(),
                                                                            fake_score.detach()]))])
            sums += values
            count += 1
            g, d, r, f = values.tolist()
            yield {"event": "iteration", "epoch": epoch, "iteration": iteration, "g_loss": g, "d_loss": d,
                   "real_score": r, "fake_score": f}
        seconds = time.perf_counter() - start
        g, d, r, f = (sums / max(count, 1)).tolist()
        yield {"event": "epoch", "epoch": epoch, "g_loss": g, "d_loss": d, "real_score": r, "fake_score": f,
               "seconds": seconds, "images_per_second": source.items_per_epoch(config.batch_size) / seconds}


def fresh(source: GanSource, generator: Generator, share: Share, rng: torch.Generator) -> tuple:
    """A random real batch and noise of the global batch's size, this rank's part: an unrolled look-ahead step's."""
    real = source.draw(share.size, rng)
    return share.mine(real, torch.randn(share.size, generator.noise_dim, device=real.device, generator=rng))


def d_step(*, generator: Generator, discriminator: Discriminator, loss: GanLoss, optimizer: torch.optim.Optimizer,
           config: GanConfig, real: torch.Tensor, labels: torch.Tensor, noise: torch.Tensor, share: Share,
           rng: torch.Generator, autocast, where: str) -> tuple[torch.Tensor, ...]:
    """Minimise loss.d_loss(D(x), D(G(z))) with G's output detached. Returns D's global-batch loss, the mean real
    and fake scores, and G(z), which the G step reuses."""
    conditional = generator.classes > 0
    cond = labels if conditional else None
    # Real and fake go through D as one batch (one larger matrix product instead of two). With --mismatch, real
    # images under a wrong label count as fakes too (the matching-aware D of Reed et al. 2016): a realistic image
    # of another class no longer passes, so G must draw the class it is asked for.
    inputs, shown = [real, None], [cond, cond]
    if config.mismatch:
        shift = torch.randint(1, generator.classes, (share.size,), device=real.device, generator=rng)
        inputs.append(real)
        shown.append((labels + share.mine(shift)[0]) % generator.classes)
    with autocast:
        fake = generator(noise, cond)
        inputs[1] = fake.detach()
        both = discriminator(torch.cat(inputs), torch.cat(shown) if conditional else None).float()
        if config.class_loss:  # AC-GAN: D's first output scores real/fake; its class logits see no label
            both, classes = both[:, 0], discriminator.class_logits(real).float()
    d_real, d_fake = both[: len(real)], both[len(real):]
    d_loss = loss.d_loss(d_real, d_fake)
    if config.class_loss:  # AC-GAN: + w CE(D's class logits of the real images, their labels)
        d_loss = d_loss + config.class_loss * cross_entropy(classes, labels)
    d_fake = d_fake[: len(real)]  # the generated images' scores (without the mismatched pairs)
    if loss.gradient_penalty:  # WGAN-GP: + lambda E (|grad D(x_hat)| - 1)^2 on random interpolates
        mix = share.mine(torch.rand(share.size, 1, device=real.device, generator=rng))[0]
        d_loss = d_loss + loss.penalty(discriminator, real, fake.detach().float(), cond, mix)
    # The global batch's loss is checked (and recorded): every rank stops at the same step, or none does.
    d_mean = share.mean(d_loss.detach())
    check_finite(d_mean, f"{where} (D)")
    optimizer.zero_grad(set_to_none=True)
    d_loss.backward()
    share.average(discriminator.parameters())
    optimizer.step()
    loss.after_d_step(discriminator)
    return d_mean, loss.scores(d_real).mean(), loss.scores(d_fake).mean(), fake


def g_step(*, generator: Generator, discriminator: Discriminator | None, loss: GanLoss, optimizers: GanOptimizers,
           config: GanConfig, real: torch.Tensor, labels: torch.Tensor, noise: torch.Tensor, fake: torch.Tensor | None,
           share: Share, draw: Callable[[], tuple], lookahead: Lookahead | None, autocast,
           where: str) -> torch.Tensor:
    """Minimise G's objective: loss.g_loss(D(G(z))) with D as it is or, unrolled, as it will be K steps from now
    (the surrogate's copy of D: `lookahead`); with no D (MSE), E (x - G(z))^2 against the real batch. Returns G's
    global-batch loss."""
    cond = labels if generator.classes > 0 else None
    g_params = list(generator.parameters())
    if discriminator is not None:
        discriminator.requires_grad_(False)  # D's own weights need no gradient here
    with autocast:
        if discriminator is None:
            g_loss = loss.reconstruction(real, generator(noise, cond).float())
        elif not config.unroll:
            d_out = discriminator(fake, cond).float()
            if config.class_loss:  # AC-GAN: + w CE(D's class logits of G(z, y), y)
                g_loss = loss.g_loss(d_out[:, 0]) + config.class_loss * cross_entropy(
                    discriminator.class_logits(fake).float(), labels)
            else:
                g_loss = loss.g_loss(d_out)
        elif config.unroll_mode == "surrogate":
            g_loss = surrogate_g_loss(generator, lookahead, loss, config.unroll, draw, noise, cond, share.average)
        else:
            g_loss = exact_g_loss(generator, discriminator, loss, config.unroll, config.unroll_lr, draw, noise, cond,
                                  optimizers.d if config.unroll_optimizer == "adam" else None)
    g_mean = share.mean(g_loss.detach())
    check_finite(g_mean, f"{where} (G)")
    optimizers.g.zero_grad(set_to_none=True)
    g_loss.backward(inputs=g_params)  # G's weights only: not the unrolled D's starting point
    share.average(g_params)
    optimizers.g.step()
    if discriminator is not None:
        discriminator.requires_grad_(True)
    return g_mean


@torch.no_grad()
def sample(generator: nn.Module, noise: torch.Tensor, labels: torch.Tensor | None = None,
           source: GanSource | None = None) -> torch.Tensor:
    """Samples from fixed noise (and labels, for a conditional G), on the CPU, shaped as `source` shapes them
    (default: Fashion-MNIST's images in [0, 1])."""
    was_training = generator.training
    generator.eval()
    out = generator(noise, labels).float()
    generator.train(was_training)
    return (source or ImageSource).to_samples(out).cpu()
