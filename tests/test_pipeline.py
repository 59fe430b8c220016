import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

HAVE_MAKE = shutil.which("make") is not None


def make_dry(*args: str) -> str:
    r = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.skipif(not HAVE_MAKE, reason="make is not installed")
@pytest.mark.parametrize("profile", ["cpu", "quick", "full"])
def test_every_make_target_has_a_recipe(profile, tmp_path):
    art = tmp_path / "art"  # an empty artifacts folder, so every target must be rebuilt
    out = make_dry("all", f"PROFILE={profile}", f"ART={art}")
    for command in ("rnn-add", "preprocess", "train-gru", "train-mlp", "compare-imdb", "train-gan", "compare-gan",
                    "classify", "histogram", "cgan-sample", "report"):
        assert f"hw3cli {command}" in out, command
    for clip in ("0.1", "0.01", "0.001", "0.0001"):
        assert f"--weight-clip {clip}" in out
    assert "--batch-size 250" in out and "--batch-size 10 " in out
    assert "--unroll-mode surrogate" in out and "--unroll-mode exact" in out
    assert "--loss wgan-gp" in out and "hw3cli toy-summary" in out
    for dataset in ("ring", "grid"):
        assert f"--dataset {dataset}" in out
    variants = 9 if profile == "full" else 6  # k = 10 only at full scale; each exact one also standardized
    assert out.count("--unroll-mode exact --standardize") == (2 if profile == "full" else 1) * 2 * (
        1 if profile == "quick" else 3)
    assert out.count("train-gan --dataset") == 2 * variants * (1 if profile == "quick" else 3)  # x seeds
    toy_runs = [line for line in out.replace("\\\n", " ").splitlines() if "train-gan --dataset" in line]
    # one schedule and precision for every variant, so that they compare at the same budget: the mixtures' own
    # (fp32, a warmdown: constant rates, then down), which no run overrides
    assert len(toy_runs) == out.count("train-gan --dataset") and toy_runs
    assert not any("--precision" in line or "--lr-decay" in line for line in toy_runs)
    from hw3cli.data.sources import GAN_DATASETS

    for dataset in ("ring", "grid"):
        assert not GAN_DATASETS[dataset].bf16 and 0 < GAN_DATASETS[dataset].lr_decay < 1


@pytest.mark.skipif(not HAVE_MAKE, reason="make is not installed")
def test_a_torchrun_launcher_runs_the_training_targets_and_one_job_at_a_time(tmp_path):
    out = make_dry("all", "PROFILE=quick", f"ART={tmp_path / 'art'}", "TORCHRUN=torchrun --nproc-per-node 4")
    launched = [line for line in out.splitlines() if "torchrun --nproc-per-node 4 -m hw3cli" in line]
    assert launched and all(".venv/bin/torchrun" in line for line in launched)
    assert any("classify" in line for line in launched) and any("train-gru" in line for line in launched)
    assert not any("--unroll-mode exact" in line for line in launched)  # refused under torchrun: one process
    assert "hw3cli train-gan --loss vanilla --unroll 5 --unroll-mode exact" in out


@pytest.mark.skipif(not HAVE_MAKE, reason="make is not installed")
def test_help_lists_targets_that_exist(tmp_path):
    help_text = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    targets = re.findall(r"^  (\S+)", help_text, re.M)
    assert {"all", "quick", "report", "adder", "imdb", "gan-vanilla", "gan-mse", "gan-wgan", "gan-lsgan", "classifier",
            "gan-unrolled", "histograms", "cgan", "test"} <= set(targets)
    for target in set(targets) - {"help", "install", "test", "lint", "bench", "clean", "quick", "fmnist"}:
        make_dry(target, f"ART={tmp_path / 'art'}")


def fake_run(folder: Path, experiment: str, metrics: dict, command: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"experiment": experiment, "config": {},
                                                    "command": command.split()}))
    (folder / "metrics.json").write_text(json.dumps(metrics))


def gan_metrics(d_loss: float, diversity: float, summary: str) -> dict:
    return {"loss": "wgan", "epochs": [{"epoch": 1, "g_loss": 1.0, "d_loss": d_loss, "real_score": 0.1,
                                        "fake_score": -0.1}],
            "sample_diversity": diversity, "real_diversity": 0.3, "summary": summary, "images_per_second": 900.0,
            "total_seconds": 60.0}


def test_report_from_fake_runs_names_numbers_and_missing_runs(cli, tmp_path):
    art = tmp_path / "artifacts"
    fake_run(art / "imdb" / "gru", "train-gru", {"test_accuracy": 0.8876, "dev_accuracy": 0.8986,
                                                "parameters": 1234, "seconds_per_epoch": 33.0,
                                                "epochs": [{"epoch": 1}], "best_epoch": 1},
             "hw3cli train-gru --out artifacts/imdb/gru")
    (art / "imdb" / "gru" / "curves.png").write_bytes(b"\x89PNG fake")
    for clip, d_loss, diversity in (("0.1", -0.9, 0.20), ("0.01", -0.3, 0.25), ("0.001", -0.05, 0.1),
                                    ("0.0001", -0.001, 0.05)):
        fake_run(art / "gan" / f"wgan-clip{clip}", "train-gan", gan_metrics(d_loss, diversity, f"wgan {clip} ran"),
                 f"hw3cli train-gan --loss wgan --weight-clip {clip}")
    (art / "gan" / "histograms").mkdir(parents=True)
    row = {"kl_from_uniform": 0.5, "chi2_p_value": 0.0, "classes_over_5pct": 4, "inception_score": 3.0,
           "frechet_distance": 9.0}
    (art / "gan" / "histograms" / "histograms.json").write_text(json.dumps({"rows": {
        "real test images": {**row, "kl_from_uniform": 0.001, "classes_over_5pct": 10, "frechet_distance": 0.4},
        "vanilla": row, "wgan-clip0.01": {**row, "classes_over_5pct": 9, "kl_from_uniform": 0.05}}}))
    quality = {"kl_from_uniform": 0.3, "classes_over_5pct": 7, "inception_score": 5.0, "frechet_distance": 20.0}
    for clip in ("0.1", "0.01"):
        metrics = json.loads((art / "gan" / f"wgan-clip{clip}" / "metrics.json").read_text())
        (art / "gan" / f"wgan-clip{clip}" / "metrics.json").write_text(json.dumps({**metrics, "quality": quality}))
    fake_run(art / "gan" / "wgan-gp", "train-gan", {**gan_metrics(-0.5, 0.2, "wgan-gp ran"), "quality": {
        **quality, "frechet_distance": 10.0, "kl_from_uniform": 0.4}}, "hw3cli train-gan --loss wgan-gp")
    toy_row = {"modes": 8, "seeds": 3, "high_quality_fraction": 0.5, "reverse_kl": 0.1, "per_seed": {}}
    (art / "gan" / "toy").mkdir(parents=True)
    (art / "gan" / "toy" / "summary.json").write_text(json.dumps({"ring": {
        "vanilla": {**toy_row, "modes_recovered": 2.0}, "unrolled-exact-k5": {**toy_row, "modes_recovered": 7.7},
        "wgan-clip0.01": {**toy_row, "modes_recovered": 1.0}}}))
    r = cli("report", "--artifacts", art, "--out", art / "REPORT.md")
    assert r.code == 0, r.err
    text = (art / "REPORT.md").read_text()
    assert "beats 0 of 2 clips on both Frechet distance and class KL; not clip 0.1, clip 0.01" in text
    assert "the vanilla GAN recovers 2.0 of 8 modes" in text
    assert "More modes than that: unrolled-exact-k5; the most, unrolled-exact-k5, with 7.7" in text
    assert "Fewer: wgan-clip0.01." in text and "| published: Unrolled GAN, k=5 (VEEGAN) |  | 7.6 | 35.60% |" in text
    assert ("class-histogram KL from uniform is 0.500 for the vanilla GAN; against it: wgan-clip0.01 0.050 (lower)"
            in text)
    assert "88.76%" in text and "89.86%" in text
    assert "Made by `hw3cli train-gru --out artifacts/imdb/gru`" in text
    assert "largest with c = 0.1" in text and "most varied samples come from c = 0.01" in text
    assert "wgan-clip0.01 covers the most classes (9" in text
    assert "Run `make adder`" in text and "Run `make cgan`" in text and "| the classifier | make classifier |" in text
    page = (art / "REPORT.html").read_text()
    assert page.startswith("<!doctype html>") and 'src="imdb/gru/curves.png"' in page
    # RESULTS.md: every headline number with the date, the commit and each run's time; missing runs said so
    results = (art / "RESULTS.md").read_text()
    assert "| `make imdb` | GRU 88.76% test accuracy |" in results
    assert "| `make gan-wgan` | WGAN-GP Frechet distance 10.00 | 1.0 min |" in results
    assert "| `make cgan` | missing or unreadable: gan/cgan-vanilla | - |" in results
    assert "Date: " in results and "Commit: " in results


def test_report_refuses_a_missing_folder(cli, tmp_path):
    from tests.conftest import assert_usage_error

    assert_usage_error(cli("report", "--artifacts", tmp_path / "nope"), "not a folder")


STUB = r"""#!/bin/sh
# stands in for hw3cli: logs its arguments and creates the outputs its --out or --save names
echo "$*" >> "$STUB_LOG"
out="" prev=""
for arg in "$@"; do
  case "$prev" in --out|--save) out="$arg";; esac
  prev="$arg"
done
case "$out" in
  "") ;;
  *.png|*.md|*.json|*.safetensors) mkdir -p "$(dirname "$out")"; touch "$out";;
  *) mkdir -p "$out"; for f in metrics.json comparison.md histograms.json summary.json data.safetensors; do
       touch "$out/$f"; done;;
esac
sleep 0.2  # holds the job slot until the job started beside it has logged its start, before a third can start
"""


@pytest.mark.skipif(not HAVE_MAKE, reason="make is not installed")
def test_a_parallel_make_starts_the_longest_chain_first(tmp_path):
    """vanilla GAN -> classifier -> conditional GAN (and the WGANs) is make all's longest chain: its first link
    must not wait behind every shorter run (a phony prerequisite with a recipe, such as the data check, did that)."""
    stub, log, venv = tmp_path / "hw3cli", tmp_path / "log", tmp_path / "venv"
    stub.write_text(STUB)
    stub.chmod(0o755)
    venv.mkdir()
    (venv / ".installed").touch()  # newer than pyproject.toml: nothing to install
    data = tmp_path / "train-images-idx3-ubyte.gz"
    data.touch()
    r = subprocess.run(["make", "-j2", "--output-sync=target", "report", f"ART={tmp_path / 'art'}", f"HW3={stub}",
                        f"TRAIN={stub}", f"VENV={venv}", f"FMNIST_FILE={data}"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "STUB_LOG": str(log)})
    assert r.returncode == 0, r.stderr
    started = log.read_text().splitlines()
    assert len(started) > 50 and started[-1].startswith("report")
    assert started[0].startswith("data ") and not any(line.startswith("data ") for line in started[1:])
    started = started[1:]  # the data step runs alone, first; every run waits for it
    # make -j2 starts both at once, so which of the two logs first is a race between their shells
    assert any(line.startswith("train-gan --loss vanilla ") for line in started[:2]), started[:3]
    assert any(line.startswith("judge ") for line in started[:2]), started[:3]


@pytest.mark.skipif(not HAVE_MAKE, reason="make is not installed")
def test_make_help_fits_80_columns_and_names_every_variable():
    text = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    targets = [line for line in text.splitlines() if re.match(r"^  [a-z]", line)]
    assert len(targets) > 20 and all(len(line) <= 80 for line in targets), [t for t in targets if len(t) > 80]
    for variable in ("PROFILE", "JOBS", "DOWNLOAD", "DATA_DIR", "FMNIST_DIR", "IMDB_SOURCE", "TORCHRUN", "ART",
                     "SEEDS", "TOY_SEEDS"):
        assert re.search(rf"^    {variable} +\S.*; now ", text, re.M), variable
