"""`hw3cli cgan-sample`: ask a conditional generator for samples of chosen classes."""

from __future__ import annotations

import re

import torch
from rich.table import Table

from hw3cli.configs import CganSampleConfig
from hw3cli.core.checkpoint import save_checkpoint
from hw3cli.core.device import resolve_device
from hw3cli.core.files import all_or_nothing
from hw3cli.core.memory import require
from hw3cli.core.wording import counted
from hw3cli.data.fashion_mnist import CLASSES
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.metrics import class_draw, conditional_accuracy, load_graders
from hw3cli.models.gan import load_generator
from hw3cli.plots.gan import sample_grid
from hw3cli.train.gan_loop import sample


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_classes(text: str) -> tuple[int, ...]:
    """'0,7,9' or names ('sneaker,ankle boot', case and punctuation ignored) to class indices."""
    names = {_key(c): i for i, c in enumerate(CLASSES)}
    names.update({"tshirt": 0, "top": 0, "boot": 9})
    out = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        if re.fullmatch(r"-?[0-9]+", part):  # ASCII digits only: str.isdigit() also takes '²
            index = int(part)
            if not 0 <= index < len(CLASSES):
                raise Hw3Error(f"class {index} is outside 0-{len(CLASSES) - 1}")
        elif _key(part) in names:
            index = names[_key(part)]
        else:
            raise Hw3Error(f"unknown class '{part}': use 0-9 or one of {', '.join(CLASSES)}")
        out.append(index)
    if not out:
        raise Hw3Error("--classes is empty")
    if len(out) > 20:  # a row of the grid each
        raise Hw3Error(f"--classes names {len(out)} classes; at most 20 (repeats included) fit one grid")
    return tuple(out)


def run(config: CganSampleConfig) -> int:
    if config.per_class < 1:
        raise Hw3Error(f"--samples must be at least 1, got {config.per_class}")
    require(4 * 4 * config.per_class * len(config.classes) * (784 + 1024),
            f"--samples {config.per_class:,} of {len(config.classes)} classes")
    if config.classifier is not None or config.judge is not None:
        require(4 * 4 * config.score_per_class * len(set(config.classes)) * (784 + 1024),
                f"--score-samples {config.score_per_class:,} of {len(set(config.classes))} classes")
    device = resolve_device(config.device)
    generator = load_generator(config.generator).to(device)
    if not generator.classes:
        raise Hw3Error(f"{config.generator} holds an unconditional generator; train one with train-gan --conditional")
    graders = {key: grader.to(device) for key, grader in load_graders(config.classifier, config.judge).items()}
    labels = torch.tensor(config.classes).repeat_interleave(config.per_class)
    noise = torch.randn(len(labels), generator.noise_dim, generator=torch.Generator().manual_seed(config.seed))
    images = sample(generator, noise.to(device), labels.to(device))
    with all_or_nothing():  # the grid and the tensors, or neither
        _write(config, images, labels)
    out = display.stdout()
    out.print(f"{counted(len(labels), 'sample')} of {counted(len(config.classes), 'class', 'classes')} -> {config.out}"
              + (f" and {config.tensor}" if config.tensor else ""))
    if graders:
        # the grid's few samples a class would give a share +-10 points or worse: the score has a draw of its own
        noise, labels = class_draw(torch.tensor(sorted(set(config.classes))), config.score_per_class,
                                   generator.noise_dim, config.seed + 1)
        images = sample(generator, noise.to(device), labels.to(device))
        results = {name: conditional_accuracy(grader, images, labels, CLASSES) for name, grader in graders.items()}
        verb = "assign" if len(results) > 1 else "assigns"
        table = Table(title=f"conditional accuracy: of {config.score_per_class:,} fresh samples of each class, the "
                      f"share the {' and the '.join(results)} {verb} to the requested class (95% interval)")
        table.add_column("class")
        for name in results:
            table.add_column(name, justify="right")
        for cls in next(iter(results.values()))["conditional_accuracy_per_class"]:
            table.add_row(cls, *(_share(r["conditional_accuracy_per_class"][cls],
                                        r["conditional_accuracy_interval_per_class"][cls]) for r in results.values()))
        table.add_row("[bold]all", *(f"[bold]{100 * r['conditional_accuracy']:.1f}%" for r in results.values()))
        out.print(table)
    return 0


def _share(value: float, interval: list[float]) -> str:
    return f"{100 * value:.1f}% ({100 * interval[0]:.1f}-{100 * interval[1]:.1f})"


def _write(config: CganSampleConfig, images: torch.Tensor, labels: torch.Tensor) -> None:
    sample_grid(images, config.out, f"conditional GAN: {config.per_class} samples per class (seed {config.seed})",
                rows=len(config.classes), row_labels=[CLASSES[c] for c in config.classes])
    if config.tensor is not None:
        save_checkpoint(config.tensor, {"images": images, "labels": labels}, "cgan-samples",
                        extra={"classes": [CLASSES[c] for c in config.classes], "seed": str(config.seed)})
