"""GAN figures: losses and scores per iteration and per epoch, sample grids, and a strip of grids over time."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from hw3cli.core.checkpoint import read_safetensors
from hw3cli.core.files import read_json
from hw3cli.core.runs import read_metrics
from hw3cli.core.wording import counted
from hw3cli.data.fashion_mnist import CLASSES
from hw3cli.plots import savefig


def _smooth(values: list[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if len(v) < window or window < 2:
        return v
    return np.convolve(v, np.ones(window) / window, mode="valid")


def _per_iteration_and_epoch(metrics: dict, keys: tuple[str, ...], labels: tuple[str, ...], ylabel: str,
                             path: Path, title: str) -> Path:
    it = metrics["iterations"]
    epochs = metrics["epochs"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    window = max(1, len(it["iteration"]) // 200)
    for key, label in zip(keys, labels):
        values = [math.nan if v is None else v for v in it[key]]  # JSON writes NaN as null
        if all(v != v for v in values):  # all NaN: this run has no such quantity (MSE has no D)
            continue
        left.plot(it["iteration"], values, alpha=0.25, lw=0.6)
        smooth = _smooth(values, window)
        left.plot(it["iteration"][len(values) - len(smooth):], smooth, label=f"{label} (moving mean of {window})",
                  color=left.lines[-1].get_color())
        right.plot([e["epoch"] for e in epochs], [math.nan if e[key] is None else e[key] for e in epochs], "o-",
                   ms=3, label=label)
    left.set(xlabel="generator iteration", ylabel=ylabel, title="per iteration")
    right.set(xlabel="epoch", ylabel=ylabel, title="per epoch (mean)")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    return savefig(fig, path)


def loss_curves(metrics: dict, path: Path, title: str) -> Path:
    return _per_iteration_and_epoch(metrics, ("g_loss", "d_loss"), ("G loss", "D loss"), "loss", path, title)


def score_curves(metrics: dict, path: Path, title: str, ylabel: str) -> Path:
    """Real and fake scores; `ylabel` says what they are (the variant's: probabilities, or critic values)."""
    return _per_iteration_and_epoch(metrics, ("real_score", "fake_score"), ("real score D(x)", "fake score D(G(z))"),
                                    ylabel, path, title)


def grid_array(images: torch.Tensor, rows: int) -> np.ndarray:
    """(n, 28, 28) images in [0, 1] to one array in `rows` rows, with a white 2-pixel gap around every tile."""
    # torchvision's import pulls in torch's compiler (about 1.5 s): only the commands that draw images pay it
    from torchvision.utils import make_grid

    cols = -(-images.shape[0] // rows)
    return make_grid(images.float().unsqueeze(1), nrow=cols, padding=2, pad_value=1.0)[0].numpy()


def sample_grid(images: torch.Tensor, path: Path, title: str, rows: int = 8,
                row_labels: list[str] | None = None) -> Path:
    cols = -(-images.shape[0] // rows)
    fig, ax = plt.subplots(figsize=(max(cols * 0.5 + (1.6 if row_labels else 0.3), 4.0), rows * 0.5 + 0.5))
    ax.imshow(grid_array(images, rows), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    if row_labels:
        ax.set_yticks([2 + r * 30 + 14 for r in range(rows)], row_labels, fontsize=8)
    else:
        ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return savefig(fig, path)


def sample_strip(grids: list[tuple[str, torch.Tensor]], path: Path, title: str, rows: int = 8) -> Path:
    """Several grids of the same fixed noise side by side, labelled (e.g. by epoch)."""
    fig, axes = plt.subplots(1, len(grids), figsize=(3.2 * len(grids), 3.6))
    for ax, (label, images) in zip(np.atleast_1d(axes), grids):
        ax.imshow(grid_array(images, rows), cmap="gray", vmin=0, vmax=1)
        ax.set_title(label, fontsize=10)
        ax.axis("off")
    fig.suptitle(title)
    return savefig(fig, path)


def run_figures(run_dir: Path, title: str, score_label: str | None) -> None:
    """Every figure of a train-gan run, from its config.json, metrics.json and samples.safetensors alone;
    `score_label` names its scores' axis (None: a variant without D, which has none)."""
    metrics = read_metrics(run_dir)
    conditional = read_json(run_dir / "config.json", "run config")["config"].get("conditional", False)
    loss_curves(metrics, run_dir / "loss.png", f"{title}: losses")
    if score_label:
        score_curves(metrics, run_dir / "scores.png", f"{title}: real and fake scores", score_label)
    samples = read_safetensors(run_dir / "samples.safetensors", "sample file")[0]
    names = sorted(samples)
    labels = {"rows": len(CLASSES), "row_labels": list(CLASSES)} if conditional else {}
    for name in names:
        sample_grid(samples[name], run_dir / "samples" / f"{name}.png", f"{title}: epoch {int(name.split('_')[1])}",
                    **labels)
    sample_strip([(f"epoch {int(n.split('_')[1])}", samples[n]) for n in names], run_dir / "samples_strip.png",
                 f"{title}: the same fixed noise over training", rows=len(CLASSES) if conditional else 8)


def comparison(rows: list[tuple[str, dict, torch.Tensor]], path: Path) -> Path:
    """compare-gan's figure: each run's epoch losses above its final samples."""
    fig, axes = plt.subplots(2, len(rows), figsize=(4 * len(rows), 7.5), squeeze=False)
    for col, (name, metrics, final) in enumerate(rows):
        ax = axes[0, col]
        for key, label in (("g_loss", "G"), ("d_loss", "D")):
            ax.plot([e["epoch"] for e in metrics["epochs"]],
                    [math.nan if e[key] is None else e[key] for e in metrics["epochs"]], "o-", ms=3, label=label)
        ax.set(title=name, xlabel="epoch", ylabel="loss (epoch mean)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        axes[1, col].imshow(grid_array(final, 8), cmap="gray", vmin=0, vmax=1)
        axes[1, col].set_title(f"samples after {counted(len(metrics['epochs']), 'epoch')}", fontsize=9)
        axes[1, col].axis("off")
    fig.suptitle("train-gan runs side by side")
    return savefig(fig, path)
