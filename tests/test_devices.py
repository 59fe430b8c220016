"""The training commands on the device the suite runs for (`pytest --device cuda` on a GPU machine; the CPU by
default; the learned adder is a CPU command): each trains there and says so in timings.json, what it saves is
graded, sampled and read on the CPU (and a CPU run's on the device), and an interrupted run resumes there to the
same numbers. tests/test_determinism.py repeats every command on it."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import DECISIVE, TINY_GAN, interrupt_after_epoch, run_ok, synthetic_fashion, write_assignment


def ran_on(run, device: str) -> dict:
    """The run's machine record, after checking that it names `device` (and the GPU, on one)."""
    machine = json.loads((run / "timings.json").read_text())["machine"]
    asked, recorded = torch.device(device), torch.device(machine["device"])
    assert recorded.type == asked.type and asked.index in (None, recorded.index), machine
    assert ("gpu" in machine) == (torch.device(device).type == "cuda"), machine
    return machine


def finite_numbers(value) -> bool:
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_numbers(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, device):
    """A GAN, a conditional GAN and a classifier trained on the device, and a GAN trained on the CPU."""
    root = tmp_path_factory.mktemp("devices")
    data = synthetic_fashion(root / "data")
    on_device = ["--device", device]
    run_ok("train-gan", "--data", data, "--out", root / "gan", *TINY_GAN, *on_device)
    run_ok("train-gan", "--data", data, "--out", root / "cgan", "--conditional", *TINY_GAN, *on_device)
    run_ok("classify", "--data", data, "--init-from", root / "gan", "--out", root / "clf", "--epochs", "1",
           "--validation", "100", *on_device)
    run_ok("train-gan", "--data", data, "--out", root / "cpu-gan", *TINY_GAN, "--device", "cpu")
    return root, data


@pytest.mark.parametrize("run", ["gan", "cgan", "clf"])
def test_a_run_on_the_device_records_it_and_its_numbers_are_finite(trained, device, run):
    root, _ = trained
    ran_on(root / run, device)
    assert finite_numbers(json.loads((root / run / "metrics.json").read_text()))
    for checkpoint in (root / run).glob("*.safetensors"):
        assert all(t.isfinite().all() for t in load_file(checkpoint).values()), checkpoint.name


@pytest.mark.parametrize("grading_device", ["cpu", "device"])
def test_runs_from_either_device_are_graded_and_sampled_on_either(cli, trained, device, tmp_path, grading_device):
    root, data = trained
    where = device if grading_device == "device" else "cpu"
    r = cli("histogram", "--generator", root / "gan", "--generator", root / "cpu-gan", "--classifier", root / "clf",
            "--samples", "200", "--prdc-samples", "200", "--data", data, "--out", tmp_path / "hist", "--device", where)
    assert r.code == 0, r.err
    rows = json.loads((tmp_path / "hist" / "histograms.json").read_text())["rows"]
    assert all(sum(row["counts"]) == 200 for name, row in rows.items() if name != "real test images")
    r = cli("cgan-sample", "--generator", root / "cgan", "--samples", "2", "--classifier", root / "clf",
            "--score-samples", "20", "--out", tmp_path / "grid.png", "--device", where)
    assert r.code == 0, r.err
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_imdb_models_trained_on_the_device_predict_on_the_cpu(cli, tmp_path, device):
    imdb = tmp_path / "imdb"
    run_ok("preprocess", "--data", write_assignment(tmp_path / "src", reviews=DECISIVE), "--out", imdb,
           "--max-len", "10")
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("a superb film\na dreadful film\n")
    for command in ("train-gru", "train-mlp"):
        out = tmp_path / command
        run_ok(command, "--data", imdb, "--out", out, "--epochs", "1", "--device", device)
        ran_on(out, device)
        r = cli("predict", reviews, "--model", out, "--device", "cpu")
        assert r.code == 0, r.err
        lines = r.out.strip().splitlines()
        assert len(lines) == 2 and all(0 <= float(line.split("\t")[0]) <= 1 for line in lines), r.out


def test_an_interrupted_run_on_the_device_resumes_to_the_same_numbers(cli, tmp_path, monkeypatch, device):
    import hw3cli.experiments.train_gan as gan_experiment

    data = synthetic_fashion(tmp_path / "data")
    args = ("train-gan", "--data", data, "--epochs", "3", "--g-hidden", "8,16,32", "--d-hidden", "32,16,8",
            "--samples", "10", "--limit", "256", "--device", device, "--deterministic")
    assert cli(*args, "--out", tmp_path / "straight").code == 0
    original = gan_experiment.gan_training
    monkeypatch.setattr(gan_experiment, "gan_training", interrupt_after_epoch(original, 1))
    assert cli(*args, "--out", tmp_path / "resumed").code == 130
    monkeypatch.setattr(gan_experiment, "gan_training", original)
    r = cli(*args, "--out", tmp_path / "resumed", "--resume")
    assert r.code == 0, r.err
    ran_on(tmp_path / "resumed", device)
    assert (tmp_path / "resumed" / "metrics.json").read_bytes() == \
        (tmp_path / "straight" / "metrics.json").read_bytes()
