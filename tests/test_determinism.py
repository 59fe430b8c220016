"""Same seed, same command: byte-identical metrics.json for every training command, on the device the suite runs
for (`pytest --device cuda`; the CPU by default); wall-clock times live apart in timings.json. Also --deterministic,
--detect-anomaly, and resuming the learned adder."""

import json
import os
import platform
import signal
import sys

import pytest
import torch
from safetensors.torch import load_file

from hw3cli.core.numerics import numerics, subnormals_flushed
from hw3cli.core.runs import read_metrics, write_metrics
from hw3cli.errors import TrainingDiverged
from tests.conftest import DECISIVE, assert_usage_error, run_ok, synthetic_fashion, write_assignment

TINY_GAN = ["--epochs", "2", "--limit", "256", "--batch-size", "32", "--g-hidden", "8,16,32", "--d-hidden", "32,16,8",
            "--samples", "10"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Synthetic Fashion-MNIST, a preprocessed tiny IMDB and a tiny trained GAN to start a classifier from."""
    root = tmp_path_factory.mktemp("inputs")
    fashion = synthetic_fashion(root / "fashion", n_train=512, n_test=128)
    imdb = write_assignment(root / "imdb-src", reviews=DECISIVE)
    run_ok("preprocess", "--data", imdb, "--out", root / "imdb", "--max-len", "10")
    run_ok("train-gan", "--data", fashion, "--out", root / "gan", *TINY_GAN)
    return {"fashion": fashion, "imdb": root / "imdb", "gan": root / "gan"}


COMMANDS = {
    "rnn-add --learn": lambda i: ["rnn-add", "--learn", "--seeds", "2", "--steps", "60"],
    "train-gru": lambda i: ["train-gru", "--data", i["imdb"], "--epochs", "2", "--embed-dim", "8", "--hidden", "8",
                            "--batch-size", "8"],
    "train-mlp": lambda i: ["train-mlp", "--data", i["imdb"], "--epochs", "2", "--batch-size", "8"],
    "train-gan vanilla": lambda i: ["train-gan", "--data", i["fashion"], *TINY_GAN],
    "train-gan mse": lambda i: ["train-gan", "--loss", "mse", "--data", i["fashion"], *TINY_GAN],
    "train-gan wgan": lambda i: ["train-gan", "--loss", "wgan", "--data", i["fashion"], *TINY_GAN],
    "train-gan lsgan bf16": lambda i: ["train-gan", "--loss", "lsgan", "--precision", "bf16", "--data",
                                       i["fashion"], *TINY_GAN],
    "train-gan unrolled surrogate": lambda i: ["train-gan", "--unroll", "2", "--data", i["fashion"], *TINY_GAN],
    "train-gan unrolled exact": lambda i: ["train-gan", "--unroll", "2", "--unroll-mode", "exact", "--data",
                                           i["fashion"], *TINY_GAN],
    "train-gan conditional": lambda i: ["train-gan", "--conditional", "--data", i["fashion"], *TINY_GAN],
    "train-gan wgan-gp": lambda i: ["train-gan", "--loss", "wgan-gp", "--data", i["fashion"], *TINY_GAN],
    "train-gan ring unrolled exact": lambda i: ["train-gan", "--dataset", "ring", "--epochs", "2", "--batch-size",
                                                "64", "--unroll", "2", "--unroll-mode", "exact"],
    "classify": lambda i: ["classify", "--data", i["fashion"], "--init-from", i["gan"], "--epochs", "2",
                           "--validation", "100", "--batch-size", "64"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_same_seed_writes_identical_metrics(cli, tmp_path, inputs, name, device):
    """On the device the suite runs for (`pytest --device cuda`): on a GPU both runs ask for deterministic kernels;
    on the CPU the switch changes nothing. (The learned adder is a CPU command.)"""
    args = [*COMMANDS[name](inputs), *(["--device", device] if name != "rnn-add --learn" else [])]
    first, second = tmp_path / "first", tmp_path / "second"
    r = cli(*args, "--out", first, *(["--deterministic"] if device != "cpu" else []))
    assert r.code == 0, r.err
    r = cli(*args, "--out", second, "--deterministic")
    assert r.code == 0, r.err
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()
    for checkpoint in first.glob("*.safetensors"):
        a, b = load_file(checkpoint), load_file(second / checkpoint.name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), checkpoint.name
    # The wall-clock numbers are kept, apart, and fold back in for the report and comparisons.
    timings = json.loads((first / "timings.json").read_text())
    assert timings and "seconds" not in (first / "metrics.json").read_text()
    merged = read_metrics(first)
    assert merged.keys() >= json.loads((first / "metrics.json").read_text()).keys()
    assert "seconds" in json.dumps(merged)


def test_metrics_and_timings_split_and_merge_back(tmp_path):
    metrics = {"accuracy": 0.9, "total_seconds": 12.5,
               "epochs": [{"epoch": 1, "loss": 0.5, "seconds": 3.0}, {"epoch": 2, "loss": 0.4, "seconds": 2.5}],
               "runs": [{"seed": 0, "seconds": 1.0, "curve": [[1, 0.5]]}], "nested": {"images_per_second": 10.0}}
    write_metrics(tmp_path, metrics)
    measured = json.loads((tmp_path / "metrics.json").read_text())
    assert measured == {"accuracy": 0.9, "epochs": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4}],
                        "runs": [{"seed": 0, "curve": [[1, 0.5]]}], "nested": {}}
    assert json.loads((tmp_path / "timings.json").read_text()) == {
        "total_seconds": 12.5, "epochs": [{"seconds": 3.0}, {"seconds": 2.5}], "runs": [{"seconds": 1.0}],
        "nested": {"images_per_second": 10.0}}
    assert read_metrics(tmp_path) == metrics


def test_deterministic_switches_are_set_for_the_run_and_restored():
    assert not torch.are_deterministic_algorithms_enabled()
    before = os.environ.get("CUBLAS_WORKSPACE_CONFIG")  # set for the whole session under --device cuda
    with numerics(deterministic=True):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == (before or ":4096:8")
    assert not torch.are_deterministic_algorithms_enabled()
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == before


def test_subnormal_numbers_are_flushed_for_the_run_only(cli, tmp_path, inputs):
    """Inside a run, arithmetic that meets a number below 1.2e-38 gives 0 (on x86-64, whose CPUs can all flush);
    after it, Python's and torch's floats keep their subnormals, in-process callers included."""
    tiny = torch.tensor([1e-39, 3.0])
    assert not subnormals_flushed() and (tiny * 1.0)[0].item() > 0
    with numerics():
        if platform.machine().lower() in ("x86_64", "amd64"):
            assert subnormals_flushed() and (tiny * 1.0).tolist() == [0.0, 3.0]
    assert not subnormals_flushed() and (tiny * 1.0)[0].item() > 0
    assert cli(*COMMANDS["train-mlp"](inputs), "--out", tmp_path / "run").code == 0
    assert not subnormals_flushed() and sys.float_info.min / 2 > 0


def test_detect_anomaly_names_the_backward_operation_that_made_a_nan():
    x = torch.zeros(3, requires_grad=True)
    with pytest.warns(UserWarning), pytest.raises(TrainingDiverged, match="SqrtBackward0"):
        with numerics(detect_anomaly=True):
            (torch.sqrt(x) * 0).sum().backward()  # sqrt's backward at 0: 0 / (2 sqrt(0)) = nan
    assert not torch.is_anomaly_enabled()
    # Without the switch the same NaN gradient passes silently: what the flag is for.
    with numerics():
        (torch.sqrt(torch.zeros(3, requires_grad=True)) * 0).sum().backward()


def test_detect_anomaly_from_the_command_line_keeps_the_numbers(cli, tmp_path, inputs):
    args = COMMANDS["train-mlp"](inputs)
    assert cli(*args, "--out", tmp_path / "plain").code == 0
    r = cli(*args, "--out", tmp_path / "anomaly", "--detect-anomaly")
    assert r.code == 0, r.err
    assert (tmp_path / "plain" / "metrics.json").read_bytes() == (tmp_path / "anomaly" / "metrics.json").read_bytes()


def test_learned_adder_resumes_from_its_last_finished_seed(cli, tmp_path, monkeypatch):
    import hw3cli.experiments.rnn_add as adder_experiment

    args = ("rnn-add", "--learn", "--seeds", "3", "--steps", "60")
    assert cli(*args, "--out", tmp_path / "straight").code == 0
    original = adder_experiment.train_smooth_adder
    calls = []

    def interrupted_in_the_second_seed(*a, **k):
        calls.append(1)
        for record in original(*a, **k):
            yield record
            if len(calls) == 2 and record["step"] == 30:
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(adder_experiment, "train_smooth_adder", interrupted_in_the_second_seed)
    out = tmp_path / "resumed"
    r = cli(*args, "--out", out)
    assert r.code == 130 and "--resume" in r.err and "the 1 finished seed is saved" in r.err
    assert not out.exists() and (tmp_path / "resumed.partial" / "progress.safetensors").is_file()
    monkeypatch.setattr(adder_experiment, "train_smooth_adder", original)
    assert_usage_error(cli(*args, "--out", out, "--resume", "--steps", "61"), "steps")
    r = cli(*args, "--out", out, "--resume")
    assert r.code == 0, r.err
    assert (out / "metrics.json").read_bytes() == (tmp_path / "straight" / "metrics.json").read_bytes()
    a, b = load_file(out / "learned.safetensors"), load_file(tmp_path / "straight" / "learned.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "resumed.partial").exists()
    assert_usage_error(cli(*args, "--out", tmp_path / "never", "--resume"), "no interrupted run")
