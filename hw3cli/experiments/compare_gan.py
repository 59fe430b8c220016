"""`hw3cli compare-gan`: train-gan runs side by side, as a figure, a Markdown table and a terminal table."""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table

from hw3cli.configs import CompareGanConfig
from hw3cli.core.checkpoint import read_safetensors
from hw3cli.core.files import all_or_nothing, atomic_write_text
from hw3cli.core.hardware import measured_on
from hw3cli.data.fashion_mnist import IMAGE_SHAPE
from hw3cli.data.sources import dataset_of
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.records import read_run
from hw3cli.plots.gan import comparison
from hw3cli.train.gan_losses import LOSSES


def run(config: CompareGanConfig) -> int:
    if not config.runs:
        raise Hw3Error("give at least one train-gan run folder")
    rows = []
    for run_dir in config.runs:
        cfg, metrics = read_run(run_dir, ("train-gan",))
        if not dataset_of(cfg["config"]).images:
            raise Hw3Error(f"{run_dir} is a --dataset {cfg['config']['dataset']} run; compare-gan compares "
                           "Fashion-MNIST runs (toy-summary compares the 2-D mixtures)")
        samples = read_safetensors(Path(run_dir) / "samples.safetensors", "sample file")[0]
        if not samples or any(t.dim() != 3 or tuple(t.shape[1:]) != IMAGE_SHAPE or not len(t) or
                              not t.is_floating_point() for t in samples.values()):
            raise Hw3Error(f"{run_dir}/samples.safetensors does not hold grids of {'x'.join(map(str, IMAGE_SHAPE))} "
                           "float images")
        rows.append((Path(run_dir).name, cfg["config"], metrics, samples[sorted(samples)[-1]].float()))
    with all_or_nothing():
        comparison([(name, m, final) for name, _, m, final in rows], config.out_dir / "comparison.png")
        atomic_write_text(config.out_dir / "comparison.md", markdown(rows))
    out = display.stdout()
    table = Table(title="train-gan runs")
    for column in ("run", "final G loss", "final D loss", "sample diversity"):
        table.add_column(column)
    for name, _, m, _ in rows:
        table.add_row(name, f"{m['epochs'][-1]['g_loss']:.4f}", _fmt(m["epochs"][-1]["d_loss"]),
                      f"{m['sample_diversity']:.3f}")
    out.print(table)
    out.print(f"-> {config.out_dir}")
    return 0


def markdown(rows: list) -> str:
    # the sample-quality columns of the graders any run was measured by: the judge's first, then the classifier's
    graders = [(key, name) for key, name in (("judge_quality", "judge"), ("quality", "classifier"))
               if any(isinstance(m.get(key), dict) for _, _, m, _ in rows)]
    quality = "".join(f" Frechet distance ({name}) | class KL ({name}) | coverage ({name}) | density ({name}) |"
                      for _, name in graders)
    lines = ["| run | loss | clip | epochs | final G loss | final D loss | real score | fake score | "
             f"sample diversity | images/s |{quality}", "|" + " --- |" * (10 + 4 * len(graders))]
    for name, cfg, m, _ in rows:
        last = m["epochs"][-1]
        loss = m["loss"]
        measured = "".join(f" {m[key]['frechet_distance']:.2f} | {m[key]['kl_from_uniform']:.3f} | "
                           f"{_fmt(m[key].get('coverage'), 3)} | {_fmt(m[key].get('density'), 3)} |"
                           if isinstance(m.get(key), dict) else " - | - | - | - |" for key, _ in graders)
        clipped = hasattr(LOSSES.get(loss), "clip")  # a variant that clips its critic's weights
        lines.append(f"| {name} | {loss} | {cfg.get('clip', '?') if clipped else '-'} | {len(m['epochs'])}"
                     f" | {last['g_loss']:.4f} | {_fmt(last['d_loss'])} | {_fmt(last['real_score'])} | "
                     f"{_fmt(last['fake_score'])} | {m['sample_diversity']:.3f} | "
                     f"{'-' if 'images_per_second' not in m else format(m['images_per_second'], ',.0f')} |{measured}")
    machines = f"Images per second measured on {measured_on(m for _, _, m, _ in rows)}."
    return "# GAN runs compared\n\n" + "\n".join(lines) + f"\n\n{machines}\n\n![](comparison.png)\n"


def _fmt(value, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"
