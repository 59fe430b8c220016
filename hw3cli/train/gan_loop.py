"""The one GAN training loop. A variant differs only by its loss object (gan_losses.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from hw3cli.core.distributed import ALONE, World, average_gradients, batch_mean
from hw3cli.data.fashion_mnist import ImageSource
from hw3cli.data.mixtures import MixtureSource
from hw3cli.errors import check_finite
from hw3cli.models.gan import Discriminator, Generator
from hw3cli.train.optim import adam
from hw3cli.train.unroll import exact_g_loss, surrogate_g_loss


@dataclass(frozen=True)
class GanSettings:
    """What the loop needs, resolved from the command's options (no defaults of its own: configs.py has them)."""

    epochs: int
    batch_size: int
    optimizer: str  # adam (betas 0.5, 0.999), adam-gp (betas 0, 0.9: WGAN-GP's) or rmsprop
    lr: float  # G's
    d_lr: float  # D's (the 2-D mixtures train G faster than D)
    precision: str  # fp32, or bf16 autocast
    unroll: int  # K look-ahead D steps for the G step (0: plain GAN)
    unroll_mode: str  # surrogate or exact (see unroll.py)
    unroll_optimizer: str  # adam (D's own update, unrolled) or sgd, for the exact unroll
    unroll_lr: float  # SGD step of the exact unroll
    mismatch: bool = False  # conditional D also sees real images with a wrong label, as fakes
    class_loss: float = 0.0  # AC-GAN: weight of the class cross-entropy (D then has 1 + classes outputs)
    lr_decay: float = 0.0  # both learning rates fall linearly to 0 over this final fraction of the run (0: off)


def gan_optimizer(params, settings: GanSettings, lr: float) -> torch.optim.Optimizer:
    if settings.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return adam(params, lr=lr, betas=(0.0, 0.9) if settings.optimizer == "adam-gp" else (0.5, 0.999))


def train_gan(generator: Generator, discriminator: Discriminator | None, loss, data: ImageSource | MixtureSource,
              settings: GanSettings, rng: torch.Generator, device: torch.device,
              optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer | None] | None = None,
              start_epoch: int = 1, start_iteration: int = 0, world: World = ALONE) -> Iterator[dict]:
    """Yields {"event": "iteration", ...} after every generator step and {"event": "epoch", ...} after every
    epoch. `data` gives each epoch's batches (Fashion-MNIST images, or fresh samples of a 2-D mixture) on
    `device`; `rng` (on `device`) draws batches and noise.
    A resumed run passes its restored optimizers, rng and where it stopped. Under torchrun (`world`) every rank
    draws the same global batch and noise, keeps its part, and the gradients and recorded values are averaged
    over the ranks."""
    if optimizers is None:
        optimizers = (gan_optimizer(generator.parameters(), settings, settings.lr),
                      gan_optimizer(discriminator.parameters(), settings, settings.d_lr)
                      if discriminator is not None else None)
    opt_g, opt_d = optimizers
    conditional = generator.classes > 0
    g_params = list(generator.parameters())
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.precision == "bf16")
    iteration = start_iteration
    batches = data.items_per_epoch(settings.batch_size) // settings.batch_size

    def mine(*tensors: torch.Tensor | None) -> tuple:
        """This rank's part of each global-batch tensor (all of it for a single process)."""
        if world.size == 1:
            return tensors
        return tuple(t if t is None else t[world.part(len(t))] for t in tensors)

    def fresh(size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A random real batch and noise for an unrolled look-ahead step (unconditional models only)."""
        real = data.draw(size, rng)
        return mine(real, torch.randn(size, generator.noise_dim, device=device, generator=rng))

    for epoch in range(start_epoch, settings.epochs + 1):
        start, sums, count = time.perf_counter(), torch.zeros(4, device=device), 0
        for batch, (real, y) in enumerate(data.epoch(settings.batch_size, rng)):
            if settings.lr_decay:  # the last steps refine what G has found instead of wandering at full step size
                remaining = 1 - ((epoch - 1) * batches + batch) / (settings.epochs * batches)  # share still to run
                scale = min(1.0, remaining / settings.lr_decay)
                set_learning_rates(opt_g, settings.lr * scale)
                set_learning_rates(opt_d, settings.d_lr * scale)
            noise = torch.randn(real.shape[0], generator.noise_dim, device=device, generator=rng)
            global_batch = real.shape[0]
            draw = partial(fresh, global_batch)  # the global batch size, like every draw
            share = world.share(global_batch)
            average = partial(average_gradients, world, share=share)
            real, y, noise = mine(real, y, noise)
            cond = y if conditional else None
            if discriminator is None:
                # MSE: no discriminator. G minimises E (x - G(z))^2 against this random real batch.
                with autocast:
                    fake = generator(noise, cond)
                g_loss = loss.reconstruction(real, fake.float())
                g_mean = batch_mean(world, g_loss.detach(), share)
                check_finite(g_mean, f"epoch {epoch}, iteration {iteration + 1} (G)")
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                average(g_params)
                opt_g.step()
                d_mean = real_score = fake_score = torch.full((), float("nan"), device=device)
            else:
                # (1) D step: minimise loss.d_loss(D(x), D(G(z))); G's output is detached. Real and fake
                # go through D as one batch (one larger matrix product instead of two). With `mismatch`, real
                # images under a wrong label count as fakes too (the matching-aware D of Reed et al. 2016): a
                # realistic image of another class no longer passes, so G must draw the class it is asked for.
                inputs, labels = [real, None], [cond, cond]
                if settings.mismatch:
                    shift = torch.randint(1, generator.classes, (global_batch,), device=device, generator=rng)
                    inputs.append(real)
                    labels.append((y + mine(shift)[0]) % generator.classes)
                with autocast:
                    fake = generator(noise, cond)
                    inputs[1] = fake.detach()
                    both = discriminator(torch.cat(inputs), torch.cat(labels) if conditional else None).float()
                    if settings.class_loss:  # AC-GAN: D's first output scores real/fake; its class logits see no label
                        both, classes = both[:, 0], discriminator.class_logits(real).float()
                d_real, d_fake = both[: len(real)], both[len(real):]
                d_loss = loss.d_loss(d_real, d_fake)
                if settings.class_loss:  # AC-GAN: + w CE(D's class logits of the real images, their labels)
                    d_loss = d_loss + settings.class_loss * cross_entropy(classes, y)
                d_fake = d_fake[: len(real)]  # the generated images' scores (without the mismatched pairs)
                if loss.gradient_penalty:  # WGAN-GP: + lambda E (|grad D(x_hat)| - 1)^2 on random interpolates
                    mix = mine(torch.rand(global_batch, 1, device=device, generator=rng))[0]
                    d_loss = d_loss + loss.penalty(discriminator, real, fake.detach().float(), cond, mix)
                # The global batch's loss is checked (and recorded): every rank stops at the same step, or none does.
                d_mean = batch_mean(world, d_loss.detach(), share)
                check_finite(d_mean, f"epoch {epoch}, iteration {iteration + 1} (D)")
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                average(discriminator.parameters())
                opt_d.step()
                loss.after_d_step(discriminator)
                real_score, fake_score = loss.scores(d_real).mean(), loss.scores(d_fake).mean()
                if (batch + 1) % loss.critic_steps:
                    continue  # WGAN: several critic steps per generator step

                # (2) G step: minimise loss.g_loss(D(G(z))), with D as it is or, unrolled, as it will be K
                # steps from now. D's own weights need no gradient here.
                discriminator.requires_grad_(False)
                with autocast:
                    if settings.unroll == 0:
                        d_out = discriminator(fake, cond).float()
                        if settings.class_loss:  # AC-GAN: + w CE(D's class logits of G(z, y), y)
                            g_loss = loss.g_loss(d_out[:, 0]) + settings.class_loss * cross_entropy(
                                discriminator.class_logits(fake).float(), y)
                        else:
                            g_loss = loss.g_loss(d_out)
                    elif settings.unroll_mode == "surrogate":
                        g_loss = surrogate_g_loss(generator, discriminator, opt_d, loss, settings.unroll, draw, noise,
                                                  cond, average)
                    else:
                        g_loss = exact_g_loss(generator, discriminator, loss, settings.unroll, settings.unroll_lr,
                                              draw, noise, cond, opt_d if settings.unroll_optimizer == "adam" else None)
                g_mean = batch_mean(world, g_loss.detach(), share)
                check_finite(g_mean, f"epoch {epoch}, iteration {iteration + 1} (G)")
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward(inputs=g_params)  # G's weights only: not the unrolled D's starting point
                average(g_params)
                opt_g.step()
                discriminator.requires_grad_(True)
            iteration += 1
            scores = batch_mean(world, torch.stack([real_score.detach(), fake_score.detach()]), share)
            values = torch.stack([g_mean, d_mean, *scores])
            sums += values
            count += 1
            g, d, r, f = values.tolist()
            yield {"event": "iteration", "epoch": epoch, "iteration": iteration, "g_loss": g, "d_loss": d,
                   "real_score": r, "fake_score": f}
        seconds = time.perf_counter() - start
        g, d, r, f = (sums / max(count, 1)).tolist()
        images_seen = data.items_per_epoch(settings.batch_size)
        yield {"event": "epoch", "epoch": epoch, "g_loss": g, "d_loss": d, "real_score": r, "fake_score": f,
               "seconds": seconds, "images_per_second": images_seen / seconds}


def set_learning_rates(optimizer: torch.optim.Optimizer | None, lr: float) -> None:
    for group in optimizer.param_groups if optimizer is not None else ():
        group["lr"] = lr


@torch.no_grad()
def sample(generator: nn.Module, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images in [0, 1], shape (n, 28, 28), from fixed noise (and labels, for a conditional G); points (n, 2) for
    a generator of 2-D mixtures."""
    was_training = generator.training
    generator.eval()
    out = generator(noise, labels).float()
    generator.train(was_training)
    if generator.data_dim == 2:
        return out.cpu()
    return out.add(1).div(2).clamp(0, 1).reshape(-1, 28, 28).cpu()
