"""Problem 2's MLPs: a generator (noise -> 3 hidden ReLU layers -> 784, tanh) and a discriminator
(784 -> 3 hidden ReLU layers -> 1, sigmoid; the WGAN critic drops the sigmoid). With `classes` > 0 both take a
one-hot label concatenated to their input (the conditional GAN)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from hw3cli.core.checkpoint import load_model
from hw3cli.core.files import where
from hw3cli.core.matmul import Dense
from hw3cli.errors import Hw3Error

IMAGE_SIZE = 784


def _mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """Noise (and a one-hot label) to an image in [-1, 1] (tanh); with `data_dim` 2, to a point of the plane
    (no output activation: the 2-D mixtures span [-4, 4]), times `scale` (the network works in coordinates of
    the data divided by it)."""

    kind = "gan-generator"

    def __init__(self, noise_dim: int = 100, hidden: tuple[int, ...] = (256, 512, 1024), classes: int = 0,
                 data_dim: int = IMAGE_SIZE, scale: float = 1.0):
        super().__init__()
        self.args = {"noise_dim": noise_dim, "hidden": list(hidden), "classes": classes}
        if data_dim != IMAGE_SIZE:  # Fashion-MNIST checkpoints keep the arguments they always had
            self.args["data_dim"] = data_dim
        if scale != 1.0 or isinstance(scale, bool):
            self.args["scale"] = _valid_scale(scale, data_dim)
        self.noise_dim, self.classes, self.data_dim = noise_dim, classes, data_dim
        self.scale = self.args.get("scale", 1.0)
        self.net = _mlp([noise_dim + classes, *hidden, data_dim])

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.net(_with_labels(noise, labels, self.classes))
        if self.data_dim == IMAGE_SIZE:
            return torch.tanh(out)
        return out * self.scale if self.scale != 1.0 else out


class Discriminator(nn.Module):
    """`forward` returns logits (raw critic values for WGAN). The assignment's sigmoid output is applied inside the
    losses (binary cross-entropy on logits), where it is numerically stable."""

    kind = "gan-discriminator"

    def __init__(self, hidden: tuple[int, ...] = (1024, 512, 256), classes: int = 0, outputs: int = 1,
                 dropout: float = 0.0, data_dim: int = IMAGE_SIZE, scale: float = 1.0):
        super().__init__()
        self.args = {"hidden": list(hidden), "classes": classes, "outputs": outputs, "dropout": dropout}
        if data_dim != IMAGE_SIZE:
            self.args["data_dim"] = data_dim
        if scale != 1.0 or isinstance(scale, bool):  # D sees its input divided by it, as G's output is multiplied
            self.args["scale"] = _valid_scale(scale, data_dim)
        self.classes, self.data_dim = classes, data_dim
        self.scale = self.args.get("scale", 1.0)
        self.net = _mlp([data_dim + classes, *hidden, outputs], dropout)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.net(_with_labels(self._scaled(images), labels, self.classes))
        return out.squeeze(-1) if out.shape[-1] == 1 else out

    def class_logits(self, images: torch.Tensor) -> torch.Tensor:
        """AC-GAN's class logits (outputs 1 on): D with its label input blanked (all zeros), so that they come from
        the image alone; with the label given, D would learn to copy it."""
        return self.net(torch.cat([self._scaled(images), images.new_zeros(len(images), self.classes)], dim=1))[:, 1:]

    def _scaled(self, images: torch.Tensor) -> torch.Tensor:
        return images / self.scale if self.scale != 1.0 else images


def _valid_scale(scale: float, data_dim: int) -> float:
    """A 2-D GAN's coordinate scale (--standardize), as a checkpoint may hold it: a positive number of the order of
    the data's spread (up to 1e6; far beyond, the float32 coordinates lose the modes' 0.02 spacing)."""
    if data_dim == IMAGE_SIZE:
        raise ValueError(f"scale {scale!r} is for 2-D points; Fashion-MNIST images lie in [-1, 1] (tanh)")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1e6:  # NaN fails too
        raise ValueError(f"scale {scale!r} is not a number in (0, 1e6]")
    return float(scale)


def _with_labels(x: torch.Tensor, labels: torch.Tensor | None, classes: int) -> torch.Tensor:
    if classes == 0:
        return x
    if labels is None:
        raise ValueError("a conditional model needs labels")
    return torch.cat([x, nn.functional.one_hot(labels, classes).to(x.dtype)], dim=1)


class Classifier(Discriminator):
    """The discriminator's architecture with 10 outputs (class logits), for measuring generated samples."""

    kind = "fmnist-classifier"

    def __init__(self, hidden: tuple[int, ...] = (1024, 512, 256), dropout: float = 0.0, classes: int = 10):
        super().__init__(hidden, classes=0, outputs=classes, dropout=dropout)
        self.args = {"hidden": list(hidden), "dropout": dropout, "classes": classes}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations (what the Frechet distance compares)."""
        return self.net[:-1](images)

    @property
    def head(self) -> nn.Linear:
        """The output layer: features to class logits."""
        return self.net[-1]

    def load_hidden_from(self, discriminator: Discriminator) -> int:
        """Copy every layer but the output layer from a trained discriminator; returns how many were copied."""
        ours = [m for m in self.net if isinstance(m, nn.Linear)][:-1]
        theirs = [m for m in discriminator.net if isinstance(m, nn.Linear)][:-1]
        if [m.weight.shape for m in ours] != [m.weight.shape for m in theirs]:
            raise ValueError("the discriminator's hidden layers do not match the classifier's")
        with torch.no_grad():
            for a, b in zip(ours, theirs):
                a.weight.copy_(b.weight)
                a.bias.copy_(b.bias)
        return len(ours)


# Loaders: a run folder back to the model it saved (the checkpoint's arguments rebuild it).

def load_generator(run_dir: Path, data_dim: int | None = IMAGE_SIZE) -> Generator:
    """A train-gan run's generator; one of another kind of data than `data_dim` (None: any) is refused."""
    path = Path(run_dir) / "generator.safetensors"
    if not os.path.lexists(path):
        raise Hw3Error(f"{where(run_dir)} is not a train-gan run (no generator.safetensors)")
    generator, _ = load_model(path, Generator.kind, lambda _, a: Generator(
        a["noise_dim"], tuple(a["hidden"]), a.get("classes", 0), a.get("data_dim", IMAGE_SIZE), a.get("scale", 1.0)),
        "generator")
    _same_data(generator, data_dim, run_dir)
    return generator


def _same_data(model: Generator | Discriminator, data_dim: int | None, run_dir: Path) -> None:
    if data_dim is not None and model.data_dim != data_dim:
        kind = "Fashion-MNIST images" if model.data_dim == IMAGE_SIZE else f"{model.data_dim}-D points"
        want = "Fashion-MNIST images" if data_dim == IMAGE_SIZE else f"{data_dim}-D points"
        raise Hw3Error(f"{where(run_dir)} is a GAN of {kind} (a --dataset ring or grid run?); this needs one of "
                       f"{want}")


def load_discriminator(run_dir: Path) -> Discriminator:
    path = Path(run_dir) / "discriminator.safetensors"
    if not os.path.lexists(path):
        raise Hw3Error(f"{where(run_dir)} holds no discriminator (discriminator.safetensors); train a GAN first, "
                       "or use --from-scratch")
    discriminator, _ = load_model(path, Discriminator.kind, lambda _, a: Discriminator(
        tuple(a["hidden"]), a.get("classes", 0), a.get("outputs", 1), data_dim=a.get("data_dim", IMAGE_SIZE),
        scale=a.get("scale", 1.0)),
        "discriminator")
    _same_data(discriminator, IMAGE_SIZE, run_dir)
    return discriminator


def load_classifier(run_dir: Path, classes: int = 10) -> Classifier:
    """A classify run's Fashion-MNIST classifier, in eval mode."""
    path = Path(run_dir) / "classifier.safetensors"
    if not os.path.lexists(path):
        raise Hw3Error(f"{where(run_dir)} is not a classify run (no classifier.safetensors)")
    model, _ = load_model(path, Classifier.kind, lambda _, a: Classifier(
        tuple(a["hidden"]), a.get("dropout", 0.0), a["classes"]), "classifier")
    if model.args["classes"] != classes:
        raise Hw3Error(f"{path} classifies {model.args['classes']} classes, not the {classes} of Fashion-MNIST")
    return model.eval()
