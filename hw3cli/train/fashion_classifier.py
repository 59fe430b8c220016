"""Training the Fashion-MNIST classifier (D's architecture with 10 outputs): AdamW with a cosine schedule,
label smoothing, dropout, and random shifts and flips of each batch. Yields records; never prints."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from hw3cli.core.distributed import ALONE, World, batch_mean, for_ddp, total
from hw3cli.data.fashion_mnist import IMAGE_SHAPE, image_batches, to_unit_range
from hw3cli.errors import check_finite
from hw3cli.train.optim import adamw


@dataclass(frozen=True)
class ClassifierSettings:
    """What the loop needs, resolved from the command's options (no defaults of its own: configs.py has them)."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    label_smoothing: float
    shift: int  # random translation of up to this many pixels
    flip: bool  # random horizontal flips
    precision: str  # fp32, or bf16 autocast for the training steps (evaluation stays fp32)


def augment(x: torch.Tensor, shift: int, flip: bool, rng: torch.Generator) -> torch.Tensor:
    """Each image of a (B, 784) batch moved by its own random (dy, dx) within +-shift and, with `flip`,
    mirrored left-right with probability 1/2. Vacated pixels get the background value -1."""
    b, (height, width) = x.shape[0], IMAGE_SHAPE
    images = x.reshape(b, height, width)
    if shift:
        padded = nn.functional.pad(images, (shift, shift, shift, shift), value=-1.0)
        dy = torch.randint(0, 2 * shift + 1, (b, 1, 1), generator=rng, device=rng.device).to(x.device)
        dx = torch.randint(0, 2 * shift + 1, (b, 1, 1), generator=rng, device=rng.device).to(x.device)
        rows = torch.arange(height, device=x.device).view(1, height, 1) + dy
        cols = torch.arange(width, device=x.device).view(1, 1, width) + dx
        images = padded[torch.arange(b, device=x.device).view(b, 1, 1), rows, cols]
    if flip:
        mirror = torch.rand(b, 1, 1, generator=rng, device=rng.device).to(x.device) < 0.5
        images = torch.where(mirror, images.flip(-1), images)
    return images.reshape(b, height * width)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(to_unit_range(images[start:start + batch_size]))
        correct += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    return correct / max(len(images), 1)


@torch.no_grad()
def predict(model: nn.Module, images01: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities and penultimate features of images in [0, 1] (any shape with 784 pixels each), from
    a model with `features` and `head` (the classifier or the judge)."""
    model.eval()
    device = next(model.parameters()).device  # the outputs come back on the images' own device
    x = images01.reshape(len(images01), -1).float().to(device) * 2 - 1
    probs, feats = [], []
    for start in range(0, len(x), batch_size):
        f = model.features(x[start:start + batch_size])
        feats.append(f)
        probs.append(torch.softmax(model.head(f), 1))
    return torch.cat(probs).to(images01.device), torch.cat(feats).to(images01.device)


def adamw_with_cosine(model: nn.Module, settings: ClassifierSettings, train_images: int):
    """AdamW and its cosine schedule (to 0 over all the steps of all the epochs)."""
    optimizer = adamw(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * (train_images // settings.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    return optimizer, schedule


def train_fashion_classifier(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, val_images: torch.Tensor,
                           val_labels: torch.Tensor, settings: ClassifierSettings, rng: torch.Generator,
                           optimizer=None, schedule=None, start_epoch: int = 1, step: int = 0,
                           world: World = ALONE) -> Iterator[dict]:
    """Yields {"event": "batch", ...} per step and {"event": "epoch", ...} with the validation accuracy.
    A resumed run passes its restored optimizer and schedule and where it stopped. Under torchrun `model` is
    DistributedDataParallel: every rank augments the same global batch and trains on its part of it."""
    net = getattr(model, "module", model)
    if optimizer is None:
        optimizer, schedule = adamw_with_cosine(net, settings, len(images))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    for epoch in range(start_epoch, settings.epochs + 1):
        model.train()
        start, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        for x, y in image_batches(images, labels, settings.batch_size, rng):
            x = augment(x, settings.shift, settings.flip, rng)  # the whole global batch: the same random draws
            size, share = len(y), world.share(len(y))
            if world.size > 1:
                x, y = x[world.part(size)], y[world.part(size)]
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=settings.precision == "bf16"):
                logits = model(x).float()
            loss = loss_fn(logits, y)
            batch_loss = batch_mean(world, loss.detach(), share)  # the global batch's, under torchrun
            check_finite(batch_loss, f"epoch {epoch}, step {step + 1}")  # so every rank stops at the same step
            optimizer.zero_grad(set_to_none=True)
            for_ddp(world, loss, share).backward()
            optimizer.step()
            schedule.step()
            step += 1
            batch_loss = batch_loss.item()
            loss_sum += batch_loss * size
            correct += int(total(world, (logits.argmax(1) == y).sum()))
            seen += size
            yield {"event": "batch", "epoch": epoch, "step": step, "loss": batch_loss}
        yield {"event": "epoch", "epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
               "val_accuracy": accuracy(net, val_images, val_labels), "seconds": time.perf_counter() - start,
               "step": step}
