"""Figures of a GAN trained on a 2-D mixture, from its run files: where the fixed 2,500 samples fall over the
modes at each kept epoch (start, middle, end), and the final generator's density."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from hw3cli.core.checkpoint import read_safetensors
from hw3cli.core.runs import read_metrics
from hw3cli.data.mixtures import Mixture
from hw3cli.plots import savefig
from hw3cli.plots.gan import loss_curves, score_curves


def _modes(ax, mixture: Mixture) -> None:
    """The mode centres, each with its 3-standard-deviation circle (inside it a sample is high-quality)."""
    for x, y in mixture.modes:
        ax.add_patch(plt.Circle((x, y), 3 * mixture.std, fill=False, color="tab:red", lw=0.8))
    centres = np.array(mixture.modes)
    ax.scatter(centres[:, 0], centres[:, 1], marker="x", color="tab:red", s=18, lw=1, label="modes")
    ax.set_xlim(-mixture.extent, mixture.extent)
    ax.set_ylim(-mixture.extent, mixture.extent)
    ax.set_aspect("equal")


def scatter(samples: dict[str, np.ndarray], coverage: dict, mixture: Mixture, path: Path, title: str) -> Path:
    """One panel per kept epoch: the samples over the modes, titled with that epoch's scores."""
    names = sorted(k for k in samples if k.startswith("epoch_"))
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.7), squeeze=False)
    for ax, name in zip(axes[0], names):
        points, epoch = samples[name], int(name.split("_")[1])
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.35, color="tab:blue", lw=0)
        _modes(ax, mixture)
        scores = coverage.get(str(epoch))
        detail = "" if scores is None else (f"\n{scores['modes_recovered']}/{scores['modes']} modes, "
                                            f"{100 * scores['high_quality_fraction']:.0f}% high-quality")
        ax.set_title(f"epoch {epoch}{detail}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return savefig(fig, path)


def density(points: np.ndarray, mixture: Mixture, path: Path, title: str) -> Path:
    """A 2-D histogram (log colour scale) of many samples of the final generator."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    bins = np.linspace(-mixture.extent, mixture.extent, 161)
    counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=[bins, bins])
    image = ax.imshow(np.log1p(counts.T), origin="lower", extent=(bins[0], bins[-1], bins[0], bins[-1]),
                      cmap="magma")
    _modes(ax, mixture)
    fig.colorbar(image, ax=ax, label="log(1 + samples per cell)")
    ax.set_title(f"{title}\n{len(points):,} samples of the final G", fontsize=9)
    return savefig(fig, path)


def mixture_figures(run_dir: Path, title: str, mixture: Mixture, score_label: str | None) -> None:
    """Every figure of a train-gan run on a 2-D mixture, from its metrics.json and samples.safetensors alone;
    `score_label` names its scores' axis (None: a variant without D)."""
    metrics = read_metrics(run_dir)
    loss_curves(metrics, run_dir / "loss.png", f"{title}: losses")
    if score_label:
        score_curves(metrics, run_dir / "scores.png", f"{title}: real and fake scores", score_label)
    samples = {k: v.numpy() for k, v in read_safetensors(run_dir / "samples.safetensors", "sample file")[0].items()}
    scatter(samples, metrics.get("coverage_over_training", {}), mixture, run_dir / "scatter.png",
            f"{title}: 2,500 samples from fixed noise")
    if "density" in samples and math.prod(samples["density"].shape) > 0:
        density(samples["density"], mixture, run_dir / "density.png", title)


def summary_figure(summary: dict, published: dict, path: Path) -> Path:
    """Per dataset, each variant's modes recovered (bars, mean over seeds, one dot per seed) and high-quality
    share, with the published rows as hollow markers."""
    fig, axes = plt.subplots(2, len(summary), figsize=(6.2 * len(summary), 6.4), squeeze=False)
    for col, (dataset, rows) in enumerate(summary.items()):
        names = list(rows) + list(published.get(dataset, {}))
        ours = len(rows)
        for row, (score, label, scale) in enumerate((("modes_recovered", "modes recovered", 1),
                                                     ("high_quality_fraction", "high-quality samples (%)", 100))):
            ax = axes[row, col]
            values = [rows[n][score] * scale for n in rows]
            values += [published[dataset][n][row] * scale for n in list(published.get(dataset, {}))]
            colors = ["tab:blue"] * ours + ["lightgray"] * (len(names) - ours)
            ax.bar(range(len(names)), values, color=colors, edgecolor="black", lw=0.5)
            for i, name in enumerate(rows):
                seeds = [s[score] * scale for s in rows[name]["per_seed"].values()]
                ax.scatter([i] * len(seeds), seeds, color="black", s=8, zorder=3)
            if score == "modes_recovered":
                ax.axhline(next(iter(rows.values()))["modes"], color="tab:red", lw=0.8, ls="--")
            ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
            ax.set_ylabel(label)
            ax.set_title(f"{dataset}: ours (blue, dots = seeds) and published (gray)", fontsize=9)
    return savefig(fig, path)
