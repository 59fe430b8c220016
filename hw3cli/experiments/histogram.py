"""`hw3cli histogram`: what classes do generators produce? Mode collapse, measured with the classifier."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from rich.table import Table

from hw3cli.configs import HistogramConfig
from hw3cli.core.files import all_or_nothing, write_json
from hw3cli.core.memory import require
from hw3cli.data.fashion_mnist import CLASSES, load_fashion_mnist
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.metrics import frechet_distance, measure_samples
from hw3cli.models.gan import load_classifier, load_generator
from hw3cli.plots.histogram import class_histograms
from hw3cli.train.fashion_classifier import predict
from hw3cli.train.gan_loop import sample


def generator_samples(run_dir: Path, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples in [0, 1]; a conditional generator draws a class-balanced set (n // 10 per class and the
    remainder spread over the first classes) and also returns the labels it asked for."""
    generator = load_generator(run_dir)
    rng = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, generator.noise_dim, generator=rng)
    labels = None
    if generator.classes:
        labels = torch.arange(n) % generator.classes
    return sample(generator, noise, labels), labels


def run(config: HistogramConfig) -> int:
    if config.n < 1:
        raise Hw3Error(f"-n must be at least 1, got {config.n}")
    if not config.generators:
        raise Hw3Error("give at least one --generator RUN_DIR")
    require(4 * 4 * config.n * (784 + 1024), f"-n {config.n:,} samples per generator")
    classifier = load_classifier(config.classifier)
    data = load_fashion_mnist(config.data_dir)
    rng = torch.Generator().manual_seed(config.seed)
    pick = torch.randperm(len(data.test_images), generator=rng)[: min(config.n, len(data.test_images))]
    real = data.test_images[pick].float() / 255
    _, real_features = predict(classifier, real)
    train_pick = torch.randperm(len(data.train_images), generator=rng)[: len(pick)]
    _, train_features = predict(classifier, data.train_images[train_pick].float() / 255)
    rows = {"real test images": measure_samples(real, classifier, None)}
    rows["real test images"]["frechet_distance"] = frechet_distance(train_features, real_features)
    for run_dir in config.generators:
        images, _ = generator_samples(run_dir, config.n, config.seed)
        if sum(os.path.realpath(g) == os.path.realpath(run_dir) for g in config.generators) > 1:
            raise Hw3Error(f"--generator {run_dir} is given twice")
        name = Path(run_dir).name if Path(run_dir).name not in rows else str(run_dir)  # two folders of one name
        rows[name] = measure_samples(images, classifier, real_features)
    result = {"n": config.n, "classifier": str(config.classifier), "classes": list(CLASSES), "rows": rows,
              "note": "frechet_distance: classifier penultimate features vs real test images; the real row "
                      "compares real train with real test images (the floor)."}
    with all_or_nothing():  # the numbers and the figure, or neither
        write_json(config.out_dir / "histograms.json", result)
        class_histograms(result, config.out_dir / "histograms.png")
    table = Table(title=f"class histograms of {config.n} samples, labelled by {config.classifier}")
    table.add_column("source", no_wrap=True)
    for column in ("KL", "chi2", "p", ">=1%", ">=5%", "IS", "FD"):
        table.add_column(column, justify="right")
    for name, s in rows.items():
        table.add_row(name, f"{s['kl_from_uniform']:.3f}", f"{s['chi2']:.0f}", f"{s['chi2_p_value']:.2g}",
                      str(s["classes_over_1pct"]), str(s["classes_over_5pct"]), f"{s['inception_score']:.2f}",
                      f"{s['frechet_distance']:.2f}")
    out = display.stdout()
    out.print(table)
    out.print("KL: from uniform (0 uniform, ln 10 = 2.303 one class); chi2 and p: against uniform; >=1%, >=5%: "
              "classes holding that share; IS: classifier inception score; FD: Frechet distance to real test images "
              "(for the real row: real train vs real test)")
    out.print(f"-> {config.out_dir}/histograms.png, histograms.json")
    return 0
