"""The one training loop for the sentiment classifiers: Adam on BCE-with-logits, gradient clipping, a dev
evaluation each epoch, the best-by-dev weights kept, early stopping. It yields records and never prints."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from hw3cli.core.distributed import ALONE, World, batch_mean, for_ddp, from_leader
from hw3cli.errors import check_finite
from hw3cli.train.optim import adam


@dataclass(frozen=True)
class SentimentSettings:
    """What the loop needs, resolved from the command's options (no defaults of its own: configs.py has them)."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    clip: float
    patience: int
    bucket: bool
    precision: str  # fp32, or bf16 autocast


def batches(ids: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor, batch_size: int,
            generator: torch.Generator | None, bucket: bool) -> Iterator[tuple[torch.Tensor, ...]]:
    """(index, ids, labels) mini-batches in a seeded random order (length order when `generator` is None).

    With `bucket`, reviews are sorted by length inside pools of 50 batches so each batch holds reviews of
    similar length, and each batch drops the leading columns that are padding in every one of its rows: the
    GRU then starts at the batch's longest review instead of running over hundreds of padding steps."""
    order = torch.randperm(len(labels), generator=generator) if generator is not None else torch.arange(len(labels))
    max_len = ids.shape[1]
    kept = lengths.clamp(max=max_len)
    groups = []
    if bucket:
        pool = batch_size * 50
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[torch.argsort(kept[chunk], stable=True)]
            groups += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        if generator is not None:
            groups = [groups[i] for i in torch.randperm(len(groups), generator=generator).tolist()]
    else:
        groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for index in groups:
        batch = ids[index]
        if bucket:
            batch = batch[:, max_len - max(int(kept[index].max()), 1):]
        yield index, batch, labels[index]


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.no_grad()
def evaluate(model: nn.Module, split: dict[str, torch.Tensor], device: torch.device, batch_size: int = 256,
             bucket: bool = True, precision: str = "fp32") -> dict[str, float]:
    """Accuracy and mean BCE loss on a split."""
    model.eval()
    correct, loss_sum, count = 0, 0.0, 0
    for _, ids, labels in batches(split["ids"], split["labels"], split["lengths"], batch_size, None, bucket):
        ids, target = ids.to(device).long(), labels.to(device).float()
        with _autocast(device, precision):
            logits = model(ids).float()
        loss_sum += nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="sum").item()
        correct += int(((logits > 0).float() == target).sum())
        count += len(target)
    return {"accuracy": correct / max(count, 1), "loss": loss_sum / max(count, 1)}


def sentiment_optimizer(model: nn.Module, settings: SentimentSettings) -> torch.optim.Optimizer:
    return adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)


def train_sentiment(model: nn.Module, splits: dict[str, dict[str, torch.Tensor]], settings: SentimentSettings,
                     generator: torch.Generator, device: torch.device, optimizer: torch.optim.Optimizer | None = None,
                     start_epoch: int = 1, best: float = -1.0, stale: int = 0, step: int = 0,
                     world: World = ALONE) -> Iterator[dict]:
    """Yields {"event": "batch", ...} after every step and {"event": "epoch", ...} after every dev
    evaluation; an epoch record whose `improved` is true carries `state`, a copy of the best weights.
    A resumed run passes its restored optimizer and where it stopped (epoch, best dev accuracy, stale epochs).
    Under torchrun `model` is DistributedDataParallel and each rank trains on its part of every global batch;
    every rank evaluates the whole dev split, so all take the same early-stopping decisions."""
    net = getattr(model, "module", model)  # the model itself, for its weights and for evaluation
    optimizer = optimizer or sentiment_optimizer(net, settings)
    train = splits["train"]
    if stale >= settings.patience:
        return
    for epoch in range(start_epoch, settings.epochs + 1):
        model.train()
        start, loss_sum, seen = time.perf_counter(), 0.0, 0
        for _, ids, labels in batches(train["ids"], train["labels"], train["lengths"], settings.batch_size,
                                   generator, settings.bucket):
            size, share = len(labels), world.share(len(labels))
            if world.size > 1:
                ids, labels = ids[world.part(size)], labels[world.part(size)]
            ids, target = ids.to(device).long(), labels.to(device).float()
            with _autocast(device, settings.precision):
                logits = model(ids).float()
            loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
            batch_loss = batch_mean(world, loss.detach(), share)  # the global batch's, under torchrun
            check_finite(batch_loss, f"epoch {epoch}, step {step + 1}")  # so every rank stops at the same step
            optimizer.zero_grad(set_to_none=True)
            for_ddp(world, loss, share).backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.clip)
            optimizer.step()
            step += 1
            batch_loss = batch_loss.item()
            loss_sum += batch_loss * size
            seen += size
            yield {"event": "batch", "epoch": epoch, "step": step, "loss": batch_loss, "seen": seen}
        seconds = time.perf_counter() - start
        # Rank 0's evaluation decides for every rank, so their early stopping cannot drift apart.
        dev = from_leader(world, evaluate(net, splits["dev"], device, bucket=settings.bucket,
                                          precision=settings.precision))
        improved = dev["accuracy"] > best
        record = {"event": "epoch", "epoch": epoch, "train_loss": loss_sum / max(seen, 1),
                  "dev_accuracy": dev["accuracy"], "dev_loss": dev["loss"], "seconds": seconds,
                  "improved": improved}
        if improved:
            best, stale = dev["accuracy"], 0
            record["state"] = copy.deepcopy(net.state_dict())
        else:
            stale += 1
        record.update(best_accuracy=best, stale=stale, step=step)
        yield record
        if stale >= settings.patience:
            return


@torch.no_grad()
def predict_probabilities(model: nn.Module, ids: torch.Tensor, lengths: torch.Tensor, device: torch.device,
                          bucket: bool = True, batch_size: int = 256, precision: str = "fp32") -> torch.Tensor:
    """P(positive) for every row of `ids`, in the order given, batched exactly as `evaluate` batches."""
    model.eval()
    out = torch.empty(len(ids))
    for index, batch, _ in batches(ids, torch.zeros(len(ids)), lengths, batch_size, None, bucket):
        with _autocast(device, precision):
            out[index] = torch.sigmoid(model(batch.to(device).long()).float()).cpu()
    return out
