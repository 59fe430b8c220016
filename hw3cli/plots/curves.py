"""Training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from hw3cli.plots import savefig


def classifier_curves(metrics: dict, path: Path, title: str) -> Path:
    """Train loss and dev loss per epoch (left), dev accuracy per epoch with the test accuracy marked (right)."""
    epochs = [e["epoch"] for e in metrics["epochs"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [e["train_loss"] for e in metrics["epochs"]], "o-", label="train loss")
    left.plot(epochs, [e["dev_loss"] for e in metrics["epochs"]], "s--", label="dev loss")
    left.set(xlabel="epoch", ylabel="binary cross-entropy", title="loss")
    left.legend()
    right.plot(epochs, [100 * e["dev_accuracy"] for e in metrics["epochs"]], "o-", color="tab:green",
               label="dev accuracy")
    if metrics.get("test_accuracy") is not None:
        right.axhline(100 * metrics["test_accuracy"], color="tab:red", ls=":",
                      label=f"test accuracy {100 * metrics['test_accuracy']:.1f}% (best-by-dev weights)")
    right.axvline(metrics["best_epoch"], color="grey", lw=0.8)
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    right.legend(loc="lower right")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.set_xticks(epochs)
    fig.suptitle(title)
    return savefig(fig, path)
