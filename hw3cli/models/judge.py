"""The judge: a small CNN trained from scratch on Fashion-MNIST's training images, to grade generated samples.

The assignment's classifier is fine-tuned from the vanilla GAN's discriminator, so measuring the GANs with it
grades them by a relative. The judge shares no weights, no architecture and no training run with any GAN."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from hw3cli.core.checkpoint import load_model
from hw3cli.core.files import where
from hw3cli.core.matmul import Dense
from hw3cli.data.fashion_mnist import IMAGE_SHAPE
from hw3cli.errors import Hw3Error


class Judge(nn.Module):
    """Two blocks of 3x3 convolution, ReLU and 2x2 max-pooling (28 -> 14 -> 7 pixels), a hidden layer of
    `hidden` units (the features the Frechet distance compares), then the class logits. Takes images as
    (B, 784) rows in [-1, 1], like the classifier."""

    kind = "fmnist-judge"

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden: int = 128, dropout: float = 0.3,
                 classes: int = 10):
        super().__init__()
        self.args = {"channels": list(channels), "hidden": hidden, "dropout": dropout, "classes": classes}
        a, b = channels
        self.body = nn.Sequential(
            nn.Conv2d(1, a, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), Dense(b * 7 * 7, hidden), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.head = Dense(hidden, classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images.reshape(-1, 1, *IMAGE_SHAPE))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


def load_judge(run_dir: Path, classes: int = 10) -> Judge:
    """A judge run's CNN, in eval mode."""
    path = Path(run_dir) / "judge.safetensors"
    if not os.path.lexists(path):
        raise Hw3Error(f"{where(run_dir)} is not a judge run (no judge.safetensors); train one with hw3cli judge")
    model, _ = load_model(path, Judge.kind, lambda _, a: Judge(
        tuple(a["channels"]), a["hidden"], a.get("dropout", 0.0), a["classes"]), "judge")
    if model.args["classes"] != classes:
        raise Hw3Error(f"{path} classifies {model.args['classes']} classes, not the {classes} of Fashion-MNIST")
    return model.eval()
