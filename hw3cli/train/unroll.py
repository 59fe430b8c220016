"""Unrolled GAN generator objectives: G is trained against D as it will be K steps from now.

- surrogate (the assignment's scheme): a copy of D, with a copy of its optimizer state, takes K more steps on
  fresh batches; G's loss is taken against that copy. The real D and its optimizer never see those steps, and
  no gradient flows through them: G is simply trained against a stronger, look-ahead D.
- exact (Metz et al. 2016): D's parameters are unrolled through K update steps written functionally
  (torch.func.functional_call), keeping the graph, so G's gradient also flows through how D's update depends
  on G's samples: G anticipates D's reaction. The steps are D's own Adam update, from the moment estimates its
  optimizer holds (as Metz et al. unroll it), or plain SGD. Only for losses whose D step is differentiable
  (those whose class in gan_losses.py says exact_unroll).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """bf16 logits from autocast to float32 for the loss; float64 (tests, finite differences) stays float64."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class Lookahead:
    """The surrogate's copy of D and of D's optimizer, kept for the whole run: `reset()` copies D's weights and
    optimizer state (moments, step counts, learning rates) into it in place before each G step. A fresh deep copy
    per step gave the same numbers but cost 7-8 ms of new memory to fault in, about 6% of a K = 5 step."""

    def __init__(self, discriminator: nn.Module, optimizer: torch.optim.Optimizer):
        self.source, self.source_optimizer = discriminator, optimizer
        self.discriminator = copy.deepcopy(discriminator)
        self.optimizer = type(optimizer)(self.discriminator.parameters(), **optimizer.defaults)

    @torch.no_grad()
    def reset(self) -> None:
        pairs = zip(self.discriminator.state_dict().values(), self.source.state_dict().values(), strict=True)
        for copied, original in pairs:
            copied.copy_(original)
        for copied, original in zip(self.optimizer.param_groups, self.source_optimizer.param_groups, strict=True):
            copied.update({key: value for key, value in original.items() if key != "params"})
        states = self.optimizer.state
        for copied, original in zip(self.discriminator.parameters(), self.source.parameters(), strict=True):
            source, state = self.source_optimizer.state.get(original), states.get(copied)
            if not source:  # before D's first step: the copy starts afresh too
                states.pop(copied, None)
            elif state is not None and state.keys() == source.keys():
                for key, value in source.items():
                    if isinstance(value, torch.Tensor):
                        state[key].copy_(value)
                    else:
                        state[key] = copy.deepcopy(value)
            else:
                states[copied] = {key: value.clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)
                                  for key, value in source.items()}


def surrogate_g_loss(generator: nn.Module, lookahead: Lookahead, loss, steps: int,
                     draw: Callable[[], tuple[torch.Tensor, torch.Tensor]], noise: torch.Tensor,
                     cond: torch.Tensor | None = None,
                     average: Callable[[Iterable[nn.Parameter]], None] = lambda _: None) -> torch.Tensor:
    """`draw()` returns a fresh (real batch, noise) pair for each look-ahead step; under torchrun `average`
    averages the copy's gradients over the ranks, as the real D's are."""
    lookahead.reset()
    copy_of_d, look_opt = lookahead.discriminator, lookahead.optimizer
    copy_of_d.requires_grad_(True)
    for _ in range(steps):
        real, z = draw()
        with torch.no_grad():
            fake = generator(z, cond)
        d_real, d_fake = at_least_fp32(copy_of_d(*_both(real, fake, cond))).chunk(2)
        d_loss = loss.d_loss(d_real, d_fake)
        look_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        average(copy_of_d.parameters())
        look_opt.step()
        loss.after_d_step(copy_of_d)
        # Under bf16 autocast (this runs inside G's step's autocast region), the bf16 copy of each weight that
        # requires grad is cached for the whole region, and the cache does not notice in-place updates: without
        # clearing it, every look-ahead step would score its batches with D's weights from before the first one.
        torch.clear_autocast_cache()
    copy_of_d.requires_grad_(False)
    return loss.g_loss(at_least_fp32(copy_of_d(generator(noise, cond), cond)))


def exact_g_loss(generator: nn.Module, discriminator: nn.Module, loss, steps: int, lr: float,
                 draw: Callable[[], tuple[torch.Tensor, torch.Tensor]], noise: torch.Tensor,
                 cond: torch.Tensor | None = None, optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor:
    """G's loss against D after `steps` differentiable update steps from its current weights: D's own Adam update
    (`optimizer`: its learning rate, betas and moment estimates, as Metz et al. unroll it), or plain SGD of step
    `lr` when `optimizer` is None."""
    params = {name: p.detach().requires_grad_(True) for name, p in discriminator.named_parameters()}
    update = _sgd(lr) if optimizer is None else _adam(optimizer, discriminator)
    for _ in range(steps):
        real, z = draw()
        fake = generator(z, cond)  # not detached: D's update depends on G
        d_real, d_fake = at_least_fp32(functional_call(discriminator, params, _both(real, fake, cond))).chunk(2)
        grads = torch.autograd.grad(loss.d_loss(d_real, d_fake), list(params.values()), create_graph=True)
        params = update(params, grads)
    return loss.g_loss(at_least_fp32(functional_call(discriminator, params, (generator(noise, cond), cond))))


def _sgd(lr: float):
    def update(params: dict, grads: tuple) -> dict:
        # p - lr * g in one operation: one pass (and one saved tensor) fewer per weight, forward and backward
        return {name: torch.add(p, g, alpha=-lr) for (name, p), g in zip(params.items(), grads)}
    return update


def _adam(optimizer: torch.optim.Optimizer, discriminator: nn.Module):
    """torch.optim.Adam's update written with differentiable operations, starting from the moment estimates and
    step count D's optimizer holds now; the look-ahead steps never change that state."""
    group = optimizer.param_groups[0]
    plain = (type(optimizer) is torch.optim.Adam and len(optimizer.param_groups) == 1 and not group["weight_decay"]
             and not group["amsgrad"] and not group["maximize"])
    if not plain:  # what the update below writes out; anything else would be unrolled wrongly, silently
        raise ValueError("the Adam unroll needs D's optimizer to be plain Adam with one parameter group")
    lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
    moments = []
    for p in discriminator.parameters():
        state = optimizer.state.get(p, {})
        moments.append((state["exp_avg"], state["exp_avg_sq"], float(state["step"])) if state else
                       (torch.zeros_like(p), torch.zeros_like(p), 0.0))

    def update(params: dict, grads: tuple) -> dict:
        nonlocal moments
        new_params, new_moments = {}, []
        for (name, p), g, (m, v, t) in zip(params.items(), grads, moments):
            m, v, t = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g, t + 1
            # sqrt's gradient at 0 is infinite: a weight whose gradient was always exactly 0 (a dead unit) would
            # turn 0 * inf into NaN. Clamping at a tiny floor gives it a zero gradient instead.
            denom = v.clamp_min(1e-30).sqrt() / math.sqrt(1 - beta2 ** t) + eps
            new_params[name] = p - (lr / (1 - beta1 ** t)) * m / denom
            new_moments.append((m, v, t))
        moments = new_moments
        return new_params
    return update


def _both(real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor | None) -> tuple:
    """D's input for real and fake as one batch: one larger matrix product per layer instead of two, and one
    weight gradient instead of two to be summed."""
    return torch.cat([real, fake]), torch.cat([cond, cond]) if cond is not None else None
