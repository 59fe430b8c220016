"""`hw3cli toy-summary`: the 2-D mixture runs averaged per dataset and variant over their seeds, as
summary.json, a Markdown table and a figure, with the published numbers beside ours."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from rich.table import Table

from hw3cli.configs import ToySummaryConfig, gan_variant
from hw3cli.core.files import all_or_nothing, atomic_write_text, write_json
from hw3cli.data.mixtures import PUBLISHED
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.records import read_gan_runs
from hw3cli.metrics import mean_interval
from hw3cli.plots.mixture import summary_figure

SCORES = ("modes_recovered", "high_quality_fraction", "reverse_kl")
# Options that make two runs of one variant different experiments (the seed, folder and run switches do not).
SETTINGS = ("epochs", "batch_size", "noise_dim", "g_hidden", "d_hidden", "lr", "d_lr", "lr_decay", "clip",
            "critic_steps", "unroll_optimizer", "unroll_lr", "ema", "precision")


def variant(config: dict) -> str:
    """A run's variant name, from its config.json (as its default folder names it)."""
    return gan_variant(config["loss"], config["clip"], config.get("unroll"), config.get("unroll_mode"),
                       bool(config.get("conditional")), bool(config.get("standardize")))


def summarise(runs: list[tuple[dict, dict]]) -> dict:
    """{dataset: {variant: {score: mean over seeds, ..., "seeds": n, "per_seed": [...]}}}."""
    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    settings: dict[tuple[str, str], dict] = {}
    for config, metrics in runs:
        # the precision the run trained in (what `auto` chose), not the one asked for
        key, these = (config["dataset"], variant(config)), {k: config.get(k) for k in SETTINGS}
        these["precision"] = metrics.get("precision", these["precision"])
        first = settings.setdefault(key, these)
        if these != first:
            differ = [k for k in SETTINGS if these[k] != first[k]]
            raise Hw3Error(f"{key[0]} {key[1]}: the runs differ in {', '.join(differ)}, not only in their seed; "
                           "summarise each setting on its own")
        groups[key[0]][key[1]].append((config["seed"], metrics["mode_coverage"]))
    summary = {}
    for dataset in sorted(groups):
        summary[dataset] = {}
        for name, seeds in sorted(groups[dataset].items()):
            if len({seed for seed, _ in seeds}) != len(seeds):
                raise Hw3Error(f"{dataset} {name}: two runs share a seed; give each seed once")
            row = {score: statistics.fmean(c[score] for _, c in seeds) for score in SCORES}
            row["modes"] = seeds[0][1]["modes"]
            row["seeds"] = len(seeds)
            row["per_seed"] = {str(seed): {score: c[score] for score in SCORES} for seed, c in sorted(seeds)}
            for score in SCORES:  # the 95% interval over seeds (none from one seed)
                _, low, high = mean_interval([c[score] for _, c in seeds])
                row[f"{score}_interval"] = None if low is None else [low, high]
            summary[dataset][name] = row
    return summary


def within(row: dict, score: str, scale: float = 1) -> str:
    """" (low-high)": the score's 95% interval over seeds, where there is one (not from one seed)."""
    span = row.get(f"{score}_interval")
    if not span:
        return ""
    digits = 1 if scale != 1 or score == "modes_recovered" else 3
    return f" ({scale * span[0]:.{digits}f}-{scale * span[1]:.{digits}f})"


def markdown(summary: dict) -> str:
    lines = []
    for dataset, rows in summary.items():
        lines += [f"### {dataset}", "", "| variant | seeds | modes recovered | high-quality samples | reverse KL |",
                  "| --- | --- | --- | --- | --- |"]
        for name, row in rows.items():
            lines.append(f"| {name} | {row['seeds']} | {row['modes_recovered']:.1f}{within(row, 'modes_recovered')} "
                         f"of {row['modes']} | {100 * row['high_quality_fraction']:.1f}%"
                         f"{within(row, 'high_quality_fraction', 100)} | {row['reverse_kl']:.3f}"
                         f"{within(row, 'reverse_kl')} |")
        for name, (modes, quality) in PUBLISHED.get(dataset, {}).items():
            lines.append(f"| *published: {name}* | | {modes:g} | {100 * quality:.1f}% | |")
        lines.append("")
    return "\n".join(lines)


def run(config: ToySummaryConfig) -> int:
    if not config.runs:
        raise Hw3Error("give at least one train-gan run on --dataset ring or grid")
    runs = read_gan_runs(config.runs, images=False)
    summary = summarise(runs)
    with all_or_nothing():
        write_json(Path(config.out_dir) / "summary.json", summary)
        atomic_write_text(Path(config.out_dir) / "summary.md", markdown(summary))
        summary_figure(summary, PUBLISHED, Path(config.out_dir) / "summary.png")
    table = Table(title=f"2-D mixtures: {len(runs)} runs, means over seeds")
    for column in ("dataset", "variant", "seeds", "modes", "high-quality", "reverse KL"):
        table.add_column(column)
    for dataset, rows in summary.items():
        for name, row in rows.items():
            table.add_row(dataset, name, str(row["seeds"]), f"{row['modes_recovered']:.1f}/{row['modes']}",
                          f"{100 * row['high_quality_fraction']:.1f}%", f"{row['reverse_kl']:.3f}")
    out = display.stdout()
    out.print(table)
    out.print(f"-> {config.out_dir}")
    return 0
