"""Class histograms of generated samples, one bar chart per generator, with the uniform expectation marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from hw3cli.plots import savefig


def class_histograms(result: dict, path: Path) -> Path:
    rows = result["rows"]
    n = len(rows)
    cols = min(n, 3)
    lines = -(-n // cols)
    fig, axes = plt.subplots(lines, cols, figsize=(5.2 * cols, 3.8 * lines), squeeze=False)
    classes = result["classes"]
    judged = result.get("judge_rows", {})
    width = 0.4 if judged else 0.8
    for ax, (name, stats) in zip(axes.flat, rows.items()):
        counts = np.asarray(stats["counts"])
        x = np.arange(len(counts)) - (width / 2 if judged else 0)
        ax.bar(x, counts, width, color="tab:gray" if name.startswith("real") else "tab:blue",
               label="classifier" if judged else None)
        title = f"{name}\nKL {stats['kl_from_uniform']:.3f}, {stats['classes_over_5pct']} classes >= 5%"
        if name in judged:
            ax.bar(x + width, judged[name]["counts"], width, color="tab:orange", label="judge")
            title = (f"{name}\nKL {stats['kl_from_uniform']:.3f} (judge {judged[name]['kl_from_uniform']:.3f}), "
                     f"{100 * result['agreement'][name]:.0f}% labelled alike")
        ax.axhline(counts.sum() / len(counts), color="tab:red", ls="--", lw=1, label="uniform")
        ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("samples")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    graders = "by the classifier and the judge" if judged else "by the classifier"
    fig.suptitle(f"predicted classes of {result['n']} samples per generator, {graders}")
    return savefig(fig, path)
