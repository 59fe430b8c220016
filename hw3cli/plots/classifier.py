"""Classifier figures: accuracy per epoch, and the test confusion matrix."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from hw3cli.data.fashion_mnist import CLASSES
from hw3cli.plots import savefig


def accuracy_curve(metrics: dict, path: Path, title: str) -> Path:
    epochs = [e["epoch"] for e in metrics["epochs"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(epochs, [e["train_loss"] for e in metrics["epochs"]], "o-", ms=3, label="train loss (augmented)")
    left.set(xlabel="epoch", ylabel="cross-entropy (label-smoothed)", title="loss")
    right.plot(epochs, [100 * e["train_accuracy"] for e in metrics["epochs"]], "o-", ms=3,
               label="train accuracy (augmented)")
    right.plot(epochs, [100 * e["val_accuracy"] for e in metrics["epochs"]], "s-", ms=3, label="validation accuracy")
    right.axhline(100 * metrics["test_accuracy"], color="tab:red", ls=":",
                  label=f"test accuracy {100 * metrics['test_accuracy']:.2f}% (final weights)")
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    return savefig(fig, path)


def confusion_matrix(metrics: dict, path: Path) -> Path:
    matrix = np.asarray(metrics["confusion"], dtype=float)
    share = matrix / matrix.sum(1, keepdims=True)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(10):
        for j in range(10):
            if matrix[i, j]:
                ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(10), CLASSES, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(10), CLASSES, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=f"test confusion matrix ({100 * metrics['test_accuracy']:.2f}% "
           "correct)")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    return savefig(fig, path)
