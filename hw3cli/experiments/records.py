"""What each experiment's files hold, for the commands that read them back (compare-gan, compare-imdb,
toy-summary, the report): the schemas of metrics.json, stats.json, the adder's and the histograms' JSON, checked
on loading (core/schema.py's types), and read_run, which reads a finished run folder with them. The progress files'
records live beside the loops that write them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hw3cli.core.files import input_folder, read_json
from hw3cli.core.runs import read_metrics
from hw3cli.core.schema import RUN_CONFIG, MapOf, Maybe, Number, check
from hw3cli.data.sources import dataset_of
from hw3cli.errors import Hw3Error

_EPOCH_GAN = {"epoch": int, "g_loss": Number, "d_loss": Maybe(Number), "real_score": Maybe(Number),
              "fake_score": Maybe(Number)}
_QUALITY = {"kl_from_uniform": Number, "classes_over_5pct": int, "inception_score": Number,
            "frechet_distance": Number}
# a conditional G's numbers (the intervals and sample count since the conditional accuracy has a draw of its own)
_CONDITIONAL = {"?conditional_accuracy": Number, "?conditional_accuracy_per_class": MapOf(Number),
                "?conditional_accuracy_interval_per_class": MapOf([Number]), "?conditional_samples": int}

# toy-summary's summary.json: {dataset: {variant: TOY_ROW}}
TOY_SUMMARY = {}
TOY_ROW = {"modes_recovered": Number, "high_quality_fraction": Number, "reverse_kl": Number, "modes": int,
           "seeds": int, "?modes_recovered_interval": Maybe([Number])}

# metrics.json (with timings.json folded in) of each experiment: the fields that comparisons and the report use;
# the wall-clock ones may be missing (a run folder without its timings.json).
METRICS = {
    "train-gru": {"test_accuracy": Number, "dev_accuracy": Number, "parameters": int, "epochs": [dict],
                  "best_epoch": int, "?seconds_per_epoch": Number},
    "train-gan": {"loss": str, "epochs": [_EPOCH_GAN], "sample_diversity": Number, "real_diversity": Number,
                  "?images_per_second": Number, "?total_seconds": Number, "summary": str,
                  "?quality": {**_QUALITY, **_CONDITIONAL}, "?judge_quality": {**_QUALITY, **_CONDITIONAL}},
    # train-gan on a 2-D mixture (--dataset ring or grid): scored by mode coverage, not by images
    "train-gan-mixture": {"loss": str, "dataset": str, "epochs": [_EPOCH_GAN], "summary": str,
                          "mode_coverage": {"modes": int, "modes_recovered": int, "high_quality_fraction": Number,
                                            "reverse_kl": Number, "samples": int, "per_mode": [int]}},
    "classify": {"test_accuracy": Number, "epochs": [dict], "per_class_accuracy": {}, "confusion": [[int]]},
    "rnn-add-learn": {"successes": int, "seeds": int},
}
METRICS["train-mlp"] = METRICS["train-gru"]
METRICS["judge"] = METRICS["classify"]

STATS = {"vocabulary_size": int, "unknown_token_rate_test": Number,
         "splits": {name: {"reviews": int, "share_truncated": Number} for name in ("train", "dev", "test")}}
ADDER_EXAMPLE = {"a": str, "b": str, "sum": str, "decimal": {"a": int, "b": int, "sum": int},
                 "steps": [{"t": int, "x1": int, "x2": int, "h": [int], "y": int}],
                 "weights": {**{name: list for name in ("U", "W", "b_h", "v", "h0")}, "b_y": Number}}
ADDER_VERIFY = {"exhaustive": {"bits": int, "checked": int, "mismatches": int, "seconds": Number},
                "random": {"max_bits": int, "checked": int, "mismatches": int}}
HISTOGRAMS = {"rows": {"real test images": {**_QUALITY, "chi2_p_value": Number}}, "?judge_rows": dict,
              "?agreement": dict, "?fidelity": MapOf(MapOf({"precision": Number, "recall": Number,
                                                            "density": Number, "coverage": Number}))}
HISTOGRAM_ROW = {**_QUALITY, "chi2_p_value": Number}


def read_run(run_dir: str | os.PathLike, experiments: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A finished run's config.json and metrics.json (timings folded in), checked against their schemas; a folder
    that is not a run of one of `experiments` is a one-line error."""
    run_dir = input_folder(run_dir, "run folder")
    config = check(read_json(run_dir / "config.json", "run config"), RUN_CONFIG, run_dir / "config.json")
    if config["experiment"] not in experiments:
        raise Hw3Error(f"{run_dir} is not a {' or '.join(experiments)} run (it holds a {config['experiment']} run)")
    kind, metrics = config["experiment"], read_metrics(run_dir)
    if kind == "train-gan" and "dataset" in metrics:  # a 2-D mixture's run names its data set and its scores
        kind = "train-gan-mixture"
    return config, check(metrics, METRICS.get(kind, dict), Path(run_dir) / "metrics.json")


def read_gan_runs(run_dirs: tuple[Path, ...], images: bool) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(config, metrics) of each train-gan run, all on Fashion-MNIST (`images`) or all on a 2-D mixture; a run of
    the other kind is a one-line error."""
    runs = []
    for run_dir in run_dirs:
        cfg, metrics = read_run(run_dir, ("train-gan",))
        if dataset_of(cfg["config"]).images != images:
            raise Hw3Error(f"{run_dir} is a --dataset {cfg['config']['dataset']} run; toy-summary takes those" if images
                           else f"{run_dir} is a Fashion-MNIST run; toy-summary takes --dataset ring or grid runs")
        runs.append((cfg["config"], metrics))
    return runs
