"""`hw3cli histogram`: what classes do generators produce? Mode collapse, measured with the classifier (the
assignment's) and, given one, the judge, on the same samples."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from rich.table import Table

from hw3cli.configs import HistogramConfig
from hw3cli.core.device import resolve_device
from hw3cli.core.files import all_or_nothing, write_json
from hw3cli.core.memory import require
from hw3cli.data.fashion_mnist import CLASSES, load_fashion_mnist
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.metrics import frechet_distance, load_graders, measure_predictions, prdc
from hw3cli.models.gan import load_generator
from hw3cli.plots.histogram import class_histograms
from hw3cli.train.fashion_classifier import predict
from hw3cli.train.gan_loop import sample

CPU = torch.device("cpu")


def generator_samples(run_dir: Path, n: int, seed: int, device: torch.device = CPU) -> tuple[torch.Tensor,
                                                                                              torch.Tensor | None]:
    """n samples in [0, 1] (on the CPU, made on `device`); a conditional generator draws a class-balanced set
    (n // 10 per class and the remainder spread over the first classes) and also returns the labels it asked for."""
    generator = load_generator(run_dir).to(device)
    rng = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, generator.noise_dim, generator=rng)
    labels = None
    if generator.classes:
        labels = torch.arange(n) % generator.classes
    return sample(generator, noise.to(device), None if labels is None else labels.to(device)), labels


def run(config: HistogramConfig) -> int:
    if config.n < 1:
        raise Hw3Error(f"-n must be at least 1, got {config.n}")
    if not config.generators:
        raise Hw3Error("give at least one --generator RUN_DIR")
    for run_dir in config.generators:
        if sum(os.path.realpath(g) == os.path.realpath(run_dir) for g in config.generators) > 1:
            raise Hw3Error(f"--generator {run_dir} is given twice")
    require(4 * 4 * config.n * (784 + 1024), f"-n {config.n:,} samples per generator")
    device = resolve_device(config.device)
    graders = {key: grader.to(device) for key, grader in load_graders(config.classifier, config.judge).items()}
    data = load_fashion_mnist(config.data_dir)
    rng = torch.Generator().manual_seed(config.seed)
    pick = torch.randperm(len(data.test_images), generator=rng)[: min(config.n, len(data.test_images))]
    train_pick = torch.randperm(len(data.train_images), generator=rng)[: len(pick)]
    sources = {"real test images": data.test_images[pick].float() / 255}
    for run_dir in config.generators:
        name = Path(run_dir).name if Path(run_dir).name not in sources else str(run_dir)  # two folders of one name
        sources[name] = generator_samples(run_dir, config.n, config.seed, device)[0]
    graded = {key: grade(grader, sources, data.train_images[train_pick].float() / 255)
              for key, grader in graders.items()}
    labelled = {"real train images": data.train_images[torch.randperm(len(data.train_images), generator=rng)[
        : min(config.prdc_samples, len(data.train_images))]].float() / 255}
    labelled.update({Path(g).name if Path(g).name not in labelled else str(g):
                     generator_samples(g, config.prdc_samples, config.seed + 1, device)[0] for g in config.generators}
                    if config.prdc_samples else {})
    result = {"n": config.n, "classifier": str(config.classifier), "classes": list(CLASSES),
              "rows": graded["classifier"][0],
              "note": "frechet_distance: classifier penultimate features vs real test images; the real row "
                      "compares real train with real test images (the floor)."}
    if config.prdc_samples:
        result["fidelity"] = {key: fidelity(grader, config, data, labelled) for key, grader in graders.items()}
        result["note"] += (" fidelity: improved precision and recall (k = 3), density and coverage (k = 5, also per "
                           f"class) of {config.prdc_samples:,} samples against as many real test images, in each "
                           "grader's features; the real row compares real train images with them (the calibration).")
    if "judge" in graded:
        result["note"] += (" judge_rows: the same samples by the judge (its labels and features); agreement: the "
                           "share of each source's samples the judge and the classifier put in the same class.")
        labels = {key: predicted for key, (_, predicted) in graded.items()}
        result.update({"judge": str(config.judge), "judge_rows": graded["judge"][0],
                       "agreement": {name: float((labels["classifier"][name] == labels["judge"][name]).float().mean())
                                     for name in sources}})
    with all_or_nothing():  # the numbers and the figure, or neither
        write_json(config.out_dir / "histograms.json", result)
        class_histograms(result, config.out_dir / "histograms.png")
    out = display.stdout()
    out.print(_table(f"class histograms of {config.n} samples, labelled by {config.classifier}", result["rows"]))
    if "judge" in result:
        out.print(_table(f"the same samples, labelled by the judge {config.judge}", result["judge_rows"],
                         result["agreement"]))
    for key, rows in result.get("fidelity", {}).items():
        out.print(_fidelity_table(f"precision, recall, density and coverage of {config.prdc_samples:,} samples in the "
                                  f"{key}'s features", rows))
    out.print("KL: from uniform (0 uniform, ln 10 = 2.303 one class); chi2 and p: against uniform; >=1%, >=5%: "
              "classes holding that share; IS: inception score by the grader; FD: Frechet distance to real test "
              "images in the grader's features (for the real row: real train vs real test)"
              + ("; agree: samples the judge and the classifier put in the same class" if "judge" in result else ""))
    out.print(f"-> {config.out_dir}/histograms.png, histograms.json")
    return 0


def grade(grader, sources: dict[str, torch.Tensor], train_images: torch.Tensor) -> tuple[dict, dict]:
    """Each source's histogram statistics by `grader`, and the class it gives each image. The real row's Frechet
    distance compares real training images with the real test images (the floor)."""
    real = sources["real test images"]
    _, real_features = predict(grader, real)
    _, train_features = predict(grader, train_images)
    rows, labels = {}, {}
    for name, images in sources.items():
        probs, features = predict(grader, images)
        rows[name] = measure_predictions(probs, features, None if name == "real test images" else real_features)
        labels[name] = probs.argmax(1)
    rows["real test images"]["frechet_distance"] = frechet_distance(train_features, real_features)
    return rows, labels


def fidelity(grader, config: HistogramConfig, data, sources: dict[str, torch.Tensor]) -> dict:
    """Precision, recall, density and coverage (per class too) of each source against real test images, in the
    grader's features; "real train images" is the calibration row."""
    count = min(config.prdc_samples, len(data.test_images))
    _, real = predict(grader, data.test_images[:count].float() / 255)
    return {name: prdc(real, predict(grader, images)[1], data.test_labels[:count], CLASSES)
            for name, images in sources.items()}


def _fidelity_table(title: str, rows: dict) -> Table:
    table = Table(title=title)
    table.add_column("source", no_wrap=True)
    for column in ("precision", "recall", "density", "coverage", "least-covered class"):
        table.add_column(column, justify="right")
    for name, s in rows.items():
        least = min(s["coverage_per_class"], key=s["coverage_per_class"].get)
        table.add_row(name, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['density']:.3f}",
                      f"{s['coverage']:.3f}", f"{least} {s['coverage_per_class'][least]:.3f}")
    return table


def _table(title: str, rows: dict, agreement: dict | None = None) -> Table:
    table = Table(title=title)
    table.add_column("source", no_wrap=True)
    for column in ("KL", "chi2", "p", ">=1%", ">=5%", "IS", "FD", *(("agree",) if agreement else ())):
        table.add_column(column, justify="right")
    for name, s in rows.items():
        table.add_row(name, f"{s['kl_from_uniform']:.3f}", f"{s['chi2']:.0f}", f"{s['chi2_p_value']:.2g}",
                      str(s["classes_over_1pct"]), str(s["classes_over_5pct"]), f"{s['inception_score']:.2f}",
                      f"{s['frechet_distance']:.2f}", *((f"{100 * agreement[name]:.0f}%",) if agreement else ()))
    return table
