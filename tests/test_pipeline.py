import json
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
        assert f"--clip {clip}" in out
    assert "--batch-size 250" in out and "--batch-size 10 " in out
    assert "--unroll-mode surrogate" in out and "--unroll-mode exact" in out


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
                 f"hw3cli train-gan --loss wgan --clip {clip}")
    (art / "gan" / "histograms").mkdir(parents=True)
    row = {"kl_from_uniform": 0.5, "chi2_p_value": 0.0, "classes_over_5pct": 4, "inception_score": 3.0,
           "frechet_distance": 9.0}
    (art / "gan" / "histograms" / "histograms.json").write_text(json.dumps({"rows": {
        "real test images": {**row, "kl_from_uniform": 0.001, "classes_over_5pct": 10, "frechet_distance": 0.4},
        "vanilla": row, "wgan-clip0.01": {**row, "classes_over_5pct": 9, "kl_from_uniform": 0.05}}}))
    r = cli("report", "--artifacts", art, "--out", art / "REPORT.md")
    assert r.code == 0, r.err
    text = (art / "REPORT.md").read_text()
    assert "88.76%" in text and "89.86%" in text
    assert "Made by `hw3cli train-gru --out artifacts/imdb/gru`" in text
    assert "largest with c = 0.1" in text and "most varied samples come from c = 0.01" in text
    assert "wgan-clip0.01 covers the most classes (9" in text
    assert "Run `make adder`" in text and "Run `make cgan`" in text and "| the classifier | make classifier |" in text
    page = (art / "REPORT.html").read_text()
    assert page.startswith("<!doctype html>") and 'src="imdb/gru/curves.png"' in page


def test_report_refuses_a_missing_folder(cli, tmp_path):
    from tests.conftest import assert_usage_error

    assert_usage_error(cli("report", "--artifacts", tmp_path / "nope"), "not a folder")
