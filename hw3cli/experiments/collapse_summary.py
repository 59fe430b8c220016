"""`hw3cli collapse-summary`: does a variant reduce mode collapse? Fashion-MNIST runs over several seeds, each
measure's mean with its 95% interval (Student's t over the seeds), and a paragraph whose words follow the
intervals: a variant is better or worse than the vanilla GAN only where their intervals separate."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from rich.table import Table

from hw3cli.configs import CollapseSummaryConfig, gan_variant
from hw3cli.core.files import all_or_nothing, atomic_write_text, write_json
from hw3cli.core.wording import counted
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.records import read_gan_runs
from hw3cli.experiments.toy_summary import variant
from hw3cli.metrics import mean_interval

BASELINE = gan_variant("vanilla", 0.0, None, "surrogate")
# (key in a grader's quality record, heading, whether more is better)
MEASURES = (("kl_from_uniform", "class KL", False), ("classes_over_5pct", "classes >= 5%", True),
            ("coverage", "coverage", True), ("density", "density", True), ("precision", "precision", True),
            ("recall", "recall", True), ("frechet_distance", "FD", False))
# the measures of mode collapse the answer rests on: how evenly the classes come, how much of the real data is reached
COLLAPSE = ("kl_from_uniform", "coverage")
def summarise(runs: list[tuple[dict, dict]]) -> dict:
    """{variant: {measure: {"mean", "low", "high"}, "seeds": n, "grader": ...}} from the runs' graded metrics."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for config, metrics in runs:
        grader = "judge_quality" if "judge_quality" in metrics else "quality"
        if grader not in metrics or "coverage" not in metrics[grader]:
            raise Hw3Error(f"a {variant(config)} run (seed {config.get('seed')}) was not graded with coverage: train "
                           "it with --judge (or --classifier)")
        groups[variant(config)].append({"seed": config.get("seed"), "grader": grader, **metrics[grader]})
    summary = {}
    for name, seeds in sorted(groups.items()):
        if len({s["seed"] for s in seeds}) != len(seeds):
            raise Hw3Error(f"{name}: two runs share a seed; give each seed once")
        if len({s["grader"] for s in seeds}) != 1:
            raise Hw3Error(f"{name}: its runs were graded by different graders")
        summary[name] = {"seeds": len(seeds), "grader": "judge" if seeds[0]["grader"] == "judge_quality" else
                         "classifier"}
        for key, _, _ in MEASURES:
            mean, low, high = mean_interval([float(s[key]) for s in seeds])
            summary[name][key] = {"mean": mean, "low": low, "high": high}
    return summary


def verdict(row: dict, base: dict, key: str, more_is_better: bool) -> str:
    """better, worse, or cannot tell: only separated intervals tell."""
    a, b = row[key], base[key]
    if None in (a["low"], b["low"]):
        return "cannot tell"
    if a["low"] > b["high"]:
        return "better" if more_is_better else "worse"
    if a["high"] < b["low"]:
        return "worse" if more_is_better else "better"
    return "cannot tell"


def seeds_answer(summary: dict) -> str:
    """The paragraph that answers the assignment's question from the intervals."""
    if BASELINE not in summary:
        return "No vanilla GAN among the runs: nothing to compare the variants with."
    base, names = summary[BASELINE], [n for n in summary if n.startswith(("unrolled", "wgan"))]
    if not names:
        return "No unrolled GAN or WGAN among the runs: the question cannot be asked of them."
    text = (f"Over {counted(base['seeds'], 'seed')}, the vanilla GAN's class KL from uniform is "
            f"{span(base['kl_from_uniform'])} and its coverage of the real test images {span(base['coverage'])} "
            f"(by the {base['grader']}). ")
    parts = []
    for name in names:
        row = summary[name]
        said = {key: verdict(row, base, key, more) for key, _, more in MEASURES if key in COLLAPSE}
        if set(said.values()) == {"cannot tell"}:
            parts.append(f"{name} ({counted(row['seeds'], 'seed')}): the runs cannot tell it from the vanilla GAN "
                         f"(class KL {span(row['kl_from_uniform'])}, coverage {span(row['coverage'])})")
        else:
            parts.append(f"{name}: " + ", ".join(f"{word} on {key.replace('kl_from_uniform', 'class KL')}"
                                                  for key, word in said.items()) +
                         f" (class KL {span(row['kl_from_uniform'])}, coverage {span(row['coverage'])})")
    reduced = [n for n in names if "better" in {verdict(summary[n], base, k, m) for k, _, m in MEASURES
                                                if k in COLLAPSE}]
    ending = (f"So {', '.join(reduced)} measurably reduced mode collapse here; for the others the seeds cannot tell."
              if reduced else "So no variant measurably reduced mode collapse at these budgets and seeds.")
    return text + "; ".join(parts) + ". " + ending


def span(value: dict) -> str:
    if value["low"] is None:
        return f"{value['mean']:.3f} (one seed, no interval)"
    return f"{value['mean']:.3f} ({value['low']:.3f} to {value['high']:.3f})"


def markdown(summary: dict) -> str:
    lines = ["| variant | seeds | " + " | ".join(h for _, h, _ in MEASURES) + " |",
             "|" + " --- |" * (2 + len(MEASURES))]
    for name, row in summary.items():
        lines.append(f"| {name} | {row['seeds']} | " + " | ".join(span(row[k]) for k, _, _ in MEASURES) + " |")
    return ("# Mode collapse over seeds\n\n" + seeds_answer(summary) + "\n\nEach cell: the mean over seeds and its 95% "
            "interval (Student's t).\n\n" + "\n".join(lines) + "\n")


def run(config: CollapseSummaryConfig) -> int:
    if not config.runs:
        raise Hw3Error("give train-gan run folders of several seeds each")
    runs = read_gan_runs(config.runs, images=True)
    summary = summarise(runs)
    with all_or_nothing():
        write_json(Path(config.out_dir) / "summary.json", summary)
        atomic_write_text(Path(config.out_dir) / "summary.md", markdown(summary))
    out = display.stdout()
    table = Table(title=f"mode collapse over seeds: {counted(len(runs), 'run')}")
    table.add_column("variant", no_wrap=True)
    for _, heading, _ in MEASURES:
        table.add_column(heading, justify="right")
    for name, row in summary.items():
        table.add_row(name, *(span(row[k]) for k, _, _ in MEASURES))
    out.print(table)
    out.print(seeds_answer(summary), markup=False)
    out.print(f"-> {config.out_dir}")
    return 0
