"""Typed by hand, a command gives what make gives: its defaults are the recipes the README's numbers were measured
with, and the Makefile passes only budgets, paths, graders and the options that name an experiment."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from hw3cli.core import hardware, precision
from tests.conftest import interrupt_after_epoch, synthetic_fashion

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--g-hidden", "8,8,8", "--d-hidden", "8,8,8", "--samples", "10"]


def recorded(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())["config"]


@pytest.fixture
def native_bf16(monkeypatch, tmp_path):
    """A CPU that computes bf16 natively, and faster than fp32 at every layer probed, whatever this one does."""
    monkeypatch.setattr(hardware, "why_cpu_bf16_emulated", lambda: None)
    monkeypatch.setattr(precision, "probe", lambda shapes, library, seconds=0: {"fp32": 2.0, "bf16": 1.0})
    monkeypatch.setattr(precision, "cache_file", lambda: tmp_path / "precision.json")


@pytest.mark.parametrize("extra, precision", [
    ([], "bf16"),
    (["--conditional", "--ema", "0"], "fp32"),
    (["--unroll", "1"], "bf16"),  # the surrogate
    (["--unroll", "1", "--unroll-mode", "exact"], "bf16"),
    (["--dataset", "ring", "--unroll", "1"], "fp32"),
])
def test_auto_is_fp32_for_the_gans_bf16_hurts(cli, tmp_path, native_bf16, extra, precision):
    data = synthetic_fashion(tmp_path / "data", n_train=64)
    r = cli("train-gan", "--data", data, "--out", tmp_path / "run", *TINY, "--batch-size", "32", *extra)
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["precision"] == precision
    assert f"/s, {precision}) -> " in r.out  # the summary says what auto chose



def test_conditional_brings_its_recipe_unless_an_option_overrides_it(cli, tmp_path):
    data = synthetic_fashion(tmp_path / "data", n_train=64)
    common = ["train-gan", "--data", data, "--conditional", *TINY, "--batch-size", "32", "--precision", "fp32"]
    assert cli(*common, "--out", tmp_path / "recipe").code == 0
    config = recorded(tmp_path / "recipe")
    assert (config["mismatch"], config["class_loss"], config["ema"]) == (True, 2.0, 0.9998)
    assert cli(*common, "--no-mismatch", "--class-loss", "0", "--ema", "0", "--out", tmp_path / "plain").code == 0
    config = recorded(tmp_path / "plain")
    assert (config["mismatch"], config["class_loss"], config["ema"]) == (False, 0.0, 0.0)
    assert cli("train-gan", "--data", data, *TINY, "--batch-size", "32", "--out", tmp_path / "un").code == 0
    config = recorded(tmp_path / "un")
    assert (config["mismatch"], config["class_loss"], config["ema"], config["lr_decay"]) == (False, 0.0, 0.0, 0.0)


def test_each_dataset_brings_its_schedule_and_exact_unroll(cli, tmp_path):
    data = synthetic_fashion(tmp_path / "data", n_train=64)
    assert cli("train-gan", "--data", data, *TINY, "--batch-size", "32", "--unroll", "1", "--unroll-mode",
               "exact", "--out", tmp_path / "fashion").code == 0
    assert recorded(tmp_path / "fashion")["unroll_optimizer"] == "sgd"
    r = cli("train-gan", "--dataset", "ring", "--epochs", "1", "--batch-size", "32", "--unroll", "1",
            "--unroll-mode", "exact", "--out", tmp_path / "ring")
    assert r.code == 0, r.err
    config, metrics = recorded(tmp_path / "ring"), json.loads((tmp_path / "ring" / "metrics.json").read_text())
    assert (config["unroll_optimizer"], config["lr_decay"], metrics["precision"]) == ("adam", 0.2, "fp32")


def test_a_resumed_run_keeps_the_defaults_it_began_with(cli, tmp_path, monkeypatch):
    """A run begun when a default was other (here: a ring run at constant rates) resumes with the value it began
    with, not today's default, and ends as an uninterrupted run with that value does."""
    import hw3cli.experiments.train_gan as gan_experiment

    args = ["train-gan", "--dataset", "ring", "--epochs", "3", "--batch-size", "32"]
    assert cli(*args, "--lr-decay", "0", "--out", tmp_path / "straight").code == 0
    original = gan_experiment.gan_training
    monkeypatch.setattr(gan_experiment, "gan_training", interrupt_after_epoch(original, 1))
    assert cli(*args, "--lr-decay", "0", "--out", tmp_path / "resumed").code == 130
    monkeypatch.setattr(gan_experiment, "gan_training", original)
    r = cli(*args, "--out", tmp_path / "resumed", "--resume")  # today's default for ring would be 0.2
    assert r.code == 0, r.err
    assert recorded(tmp_path / "resumed")["lr_decay"] == 0.0
    straight, resumed = ((tmp_path / n / "metrics.json").read_text() for n in ("straight", "resumed"))
    assert straight == resumed


def test_preprocess_defaults_to_the_measured_vocabulary():
    from hw3cli.configs import PreprocessConfig

    assert PreprocessConfig().max_vocab == 25_000


ALLOWED = {
    # budgets
    "--epochs", "--limit", "--seeds", "--steps", "--patience", "--sample-every", "--eval-every", "--samples",
    "--verify", "--threads",
    # paths and graders
    "--out", "--data", "--generator", "--init-from", "--save", "--artifacts",
    "--classifier", "--judge", "--cache-dir", "--fashion-dir", "--imdb-source",
    # what names the experiment
    "--loss", "--weight-clip", "--batch-size", "--unroll", "--unroll-mode", "--dataset", "--conditional",
    "--standardize",
    "--input", "--seed", "--learn", "--show-weights", "--json", "--download",
}


@pytest.mark.parametrize("goal", [["all"], ["all", "PROFILE=full"], ["quick"]])
def test_the_makefile_passes_no_recipe_option(goal, tmp_path):
    out = subprocess.run(["make", "-n", "-B", *goal, f"ART={tmp_path}/art"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.replace("\\\n", " ").splitlines() if re.search(r"hw3cli( |$)", line)]
    assert len(lines) > 30
    for line in lines:
        flags = set(re.findall(r"(?<![\w/.-])(--?[a-z][a-z0-9-]*)", line.split("hw3cli", 1)[1]))
        assert flags <= ALLOWED, (sorted(flags - ALLOWED), line)


def test_the_gru_trains_in_fp32_and_the_mlp_in_bf16_where_bf16_is_native(cli, tmp_path, native_bf16):
    from tests.test_sentiment import DECISIVE, write_assignment

    src = write_assignment(tmp_path / "src", reviews=DECISIVE)
    assert cli("preprocess", "--data", src, "--out", tmp_path / "data", "--max-len", "10").code == 0
    for command, chosen in (("train-gru", "fp32"), ("train-mlp", "bf16")):
        r = cli(command, "--data", tmp_path / "data", "--out", tmp_path / command, "--epochs", "1", "--hidden", "4")
        assert r.code == 0, r.err
        assert json.loads((tmp_path / command / "metrics.json").read_text())["precision"] == chosen
        assert f" s/epoch in {chosen} -> " in r.out  # the summary says what auto chose
