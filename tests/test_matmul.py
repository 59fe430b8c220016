"""--matmul: the dense layers' CPU fp32 products on another library give torch's values and gradients within float
rounding, `torch` is nn.Linear exactly, `auto` follows its probe (faked both ways) and caches it per machine, and a
run records and resumes with the library it used."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from hw3cli.configs import Matmul
from hw3cli.core import matmul, probes
from hw3cli.models.gan import Discriminator, Generator
from tests.conftest import assert_usage_error, interrupt_after_epoch, synthetic_fashion

OTHERS = [name for name in matmul.LIBRARIES if name != "torch" and not matmul.unavailable(name)]
TINY = ["--epochs", "2", "--limit", "256", "--g-hidden", "8,16,32", "--d-hidden", "32,16,8", "--samples", "10",
        "--sample-every", "0", "--precision", "fp32"]


@torch.no_grad()
def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) if a.shape == b.shape else float("inf")


def test_the_option_offers_the_modules_backends():
    assert Matmul.__args__ == matmul.BACKENDS
    assert OTHERS, "neither OpenBLAS (through numpy) nor oneDNN runs here: the tests below would test nothing"


@pytest.mark.parametrize("library", OTHERS)
@pytest.mark.parametrize("shape", [(64, 784), (5, 3, 784)], ids=["batch", "leading-dims"])
def test_values_and_gradients_match_torch_within_rounding(library, shape):
    torch.manual_seed(0)
    layer = matmul.Dense(784, 300)
    x = torch.randn(*shape, requires_grad=True)
    reference = layer(x)
    reference.square().sum().backward()
    expected = [x.grad.clone(), layer.weight.grad.clone(), layer.bias.grad.clone()]
    x.grad = None
    layer.zero_grad()
    with matmul.products(library):
        out = layer(x)
        out.square().sum().backward()
    assert out.shape == reference.shape
    assert relative(out, reference) < 1e-5
    for got, want in zip([x.grad, layer.weight.grad, layer.bias.grad], expected):
        assert relative(got, want) < 1e-5


@pytest.mark.parametrize("library", OTHERS)
def test_second_derivatives_match_torch(library):
    """The gradient penalty and the exact unrolled GAN differentiate a backward: autograd follows it there."""
    torch.manual_seed(0)
    critic = Discriminator(hidden=(128, 64, 32))
    images = torch.randn(16, 784).tanh().requires_grad_()

    def penalty_grads():
        grad, = torch.autograd.grad(critic(images).sum(), images, create_graph=True)
        penalty = (grad.norm(dim=1) - 1).square().mean()
        # (a ReLU critic's input gradient depends on its biases only through which units are on: the weights')
        weights = [layer.weight for layer in critic.net if isinstance(layer, matmul.Dense)]
        return [g.clone() for g in torch.autograd.grad(penalty, weights)]

    expected = penalty_grads()
    with matmul.products(library):
        got = penalty_grads()
    assert len(got) == 4 and all(g.abs().max() > 0 for g in expected)
    for a, b in zip(got, expected):
        assert relative(a, b) < 1e-5


@pytest.mark.parametrize("library", OTHERS)
def test_a_generator_and_critic_step_match_torch(library):
    torch.manual_seed(0)
    generator, critic = Generator(hidden=(32, 64, 128)), Discriminator(hidden=(128, 64, 32))
    noise = torch.randn(16, 100)

    def grads():
        loss = critic(generator(noise)).mean()
        return [g.clone() for g in torch.autograd.grad(loss, [*generator.parameters(), *critic.parameters()])]

    expected = grads()
    with matmul.products(library):
        got = grads()
    for a, b in zip(got, expected):
        assert relative(a, b) < 1e-5


def test_torch_is_nn_linear_exactly_and_other_products_pass_through():
    torch.manual_seed(0)
    ours, theirs = matmul.Dense(50, 20), nn.Linear(50, 20)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(8, 50)
    with matmul.products("torch"):
        assert torch.equal(ours(x), theirs(x))
    for library in OTHERS:  # bf16 autocast and other dtypes are torch's own, whatever the library
        with matmul.products(library), torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(ours(x), theirs(x))
        with matmul.products(library):
            assert torch.equal(ours.double()(x.double()), theirs.double()(x.double()))
            ours.float(), theirs.float()


def faked(monkeypatch, rates: dict[str, float], errors: dict[str, float] | None = None) -> list[int]:
    calls = []

    def probe():
        calls.append(1)
        return {k: {"gflops": v, "error": (errors or {}).get(k, 1e-7)} for k, v in rates.items()}

    monkeypatch.setattr(matmul, "probe", probe)
    monkeypatch.setattr(matmul, "unavailable", lambda library: None)
    return calls


def test_auto_takes_the_fastest_library_that_agrees_and_caches_it(monkeypatch, tmp_path):
    monkeypatch.setattr(matmul, "cache_file", lambda: tmp_path / "matmul.json")
    calls = faked(monkeypatch, {"torch": 90.0, "openblas": 300.0, "onednn": 110.0})
    assert matmul.resolve("auto") == "openblas" and len(calls) == 1
    assert matmul.resolve("auto") == "openblas" and len(calls) == 1  # the cache answers
    entry = json.loads((tmp_path / "matmul.json").read_text())[matmul.machine_key()]
    assert entry["choice"] == "openblas" and entry["measured"]["openblas"]["gflops"] == 300.0
    monkeypatch.setattr(torch, "get_num_threads", lambda: 7)  # another thread count is another machine
    assert matmul.resolve("auto") == "openblas" and len(calls) == 2


def test_auto_keeps_torch_where_no_library_is_clearly_faster_or_agrees(monkeypatch, tmp_path):
    monkeypatch.setattr(matmul, "cache_file", lambda: tmp_path / "matmul.json")
    faked(monkeypatch, {"torch": 150.0, "openblas": 120.0, "onednn": 60.0})
    assert matmul.resolve("auto") == "torch"
    (tmp_path / "matmul.json").unlink()
    faked(monkeypatch, {"torch": 150.0, "openblas": 160.0})  # within the probe's noise
    assert matmul.resolve("auto") == "torch"
    (tmp_path / "matmul.json").unlink()
    faked(monkeypatch, {"torch": 90.0, "openblas": 300.0, "onednn": 95.0}, errors={"openblas": 1e-3})
    assert matmul.resolve("auto") == "torch"  # the fastest computes something else: never chosen


def test_a_damaged_or_unwritable_cache_costs_a_probe_not_the_run(monkeypatch, tmp_path):
    cache = tmp_path / "matmul.json"
    monkeypatch.setattr(matmul, "cache_file", lambda: cache)
    calls = faked(monkeypatch, {"torch": 90.0, "openblas": 300.0})
    for damage in (b"\x00\xff not json", b"[1, 2]", json.dumps({matmul.machine_key(): {"choice": "mkl"}}).encode()):
        cache.write_bytes(damage)
        assert matmul.resolve("auto") == "openblas"
    assert len(calls) == 3 and json.loads(cache.read_text())[matmul.machine_key()]["choice"] == "openblas"
    monkeypatch.setattr(matmul, "cache_file", lambda: tmp_path / "file" / "matmul.json")
    (tmp_path / "file").write_text("a file where the cache folder would be")
    assert matmul.resolve("auto") == "openblas" and len(calls) == 4


def test_a_second_machine_joins_the_cache_inside_a_command(monkeypatch, tmp_path):
    from hw3cli.core.files import tracking_inputs

    monkeypatch.setattr(matmul, "cache_file", lambda: tmp_path / "matmul.json")
    faked(monkeypatch, {"torch": 100.0})
    with tracking_inputs():  # as every command runs: a file it read it may not write, but for its own caches
        assert matmul.resolve("auto") == "torch"
        monkeypatch.setattr(torch, "get_num_threads", lambda: 7)
        assert matmul.resolve("auto") == "torch"
    assert len(json.loads((tmp_path / "matmul.json").read_text())) == 2


def test_the_real_probe_measures_every_library_here():
    measured = matmul.probe(seconds=0.001)
    assert set(measured) >= {"torch", *OTHERS}
    assert all(v["gflops"] > 0 for v in measured.values()) and measured["torch"]["error"] == 0.0
    assert all(v["error"] < 1e-5 for v in measured.values())


def test_a_moment_of_a_busy_machine_does_not_choose_the_library(monkeypatch):
    """Every product takes 1 ms but for the first six timings (torch's turn in the first round), when the machine
    was busy: libraries that take turns all get their quiet moments, and none is clearly faster than torch."""
    timings = iter([2e-3] * 6 + [1e-3] * 1000)
    monkeypatch.setattr(probes, "fastest_time", lambda work, seconds: next(timings))
    measured = matmul.probe()
    assert len({v["gflops"] for v in measured.values()}) == 1, measured
    assert matmul.choose(measured) == "torch"


def test_a_library_that_cannot_run_here_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(matmul, "unavailable", lambda library: "numpy has no optimised BLAS")
    data = synthetic_fashion(tmp_path / "data")
    r = cli("train-gan", "--data", data, "--out", tmp_path / "run", *TINY, "--matmul", "openblas")
    assert_usage_error(r, "--matmul openblas", "no optimised BLAS")
    assert_usage_error(cli("train-gan", "--matmul", "mkl"), "--matmul")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("library", OTHERS)
def test_a_short_train_gan_ends_close_under_each_library(cli, tmp_path, library):
    data = synthetic_fashion(tmp_path / "data")
    runs = {}
    for name in ("torch", library):
        assert cli("train-gan", "--data", data, "--out", tmp_path / name, *TINY, "--matmul", name).code == 0
        runs[name] = json.loads((tmp_path / name / "metrics.json").read_text())
        timings = json.loads((tmp_path / name / "timings.json").read_text())
        assert timings["machine"]["matmul"].split(" ")[0] == name
    ours, theirs = runs[library], runs["torch"]
    # 8 steps: rounding has not yet grown into another trajectory
    for key in ("g_loss", "d_loss", "real_score", "fake_score"):
        assert len(ours["iterations"][key]) == len(theirs["iterations"][key]) == 8
        assert ours["iterations"][key] == pytest.approx(theirs["iterations"][key], rel=1e-3, abs=1e-5), key
    assert ours["sample_diversity"] == pytest.approx(theirs["sample_diversity"], rel=1e-3)


@pytest.mark.parametrize("library", OTHERS[:1])
def test_resume_under_auto_keeps_the_library_the_run_began_with(cli, tmp_path, monkeypatch, library):
    import hw3cli.experiments.train_gan as gan_experiment

    data = synthetic_fashion(tmp_path / "data")
    args = ("train-gan", "--data", data, *TINY, "--epochs", "3")
    assert cli(*args, "--out", tmp_path / "straight", "--matmul", library).code == 0
    original = gan_experiment.gan_training
    monkeypatch.setattr(gan_experiment, "gan_training", interrupt_after_epoch(original, 1))
    assert cli(*args, "--out", tmp_path / "resumed", "--matmul", library).code == 130
    monkeypatch.setattr(gan_experiment, "gan_training", original)
    monkeypatch.setattr(matmul, "resolve", lambda requested: pytest.fail("auto was probed, not resumed"))
    r = cli(*args, "--out", tmp_path / "resumed", "--resume")  # --matmul auto, the default
    assert r.code == 0, r.err
    for name in ("metrics.json", "generator.safetensors", "discriminator.safetensors"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "straight" / name).read_bytes(), name
    timings = json.loads((tmp_path / "resumed" / "timings.json").read_text())
    assert timings["machine"]["matmul"].split(" ")[0] == library


def test_under_bf16_the_products_are_torchs_and_the_record_says_so(cli, tmp_path):
    data = synthetic_fashion(tmp_path / "data")
    args = [a for a in TINY if a not in ("--precision", "fp32")]
    r = cli("train-gan", "--data", data, "--out", tmp_path / "run", *args, "--epochs", "1", "--precision", "bf16",
            "--matmul", OTHERS[0])
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "run" / "timings.json").read_text())["machine"]["matmul"] == "torch"
