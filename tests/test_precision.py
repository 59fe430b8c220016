"""--precision auto on a CPU with native bf16 takes fp32 where a probe of the run's own dense layers finds bf16 clearly
slower (faked both ways, cached per machine, layer shapes and product library), asks for the fp32 library only then,
and keeps a resumed run's precision; the shapes probed are the layers train-gan builds; the real probe times both
precisions, its fp32 side on the library named."""

from __future__ import annotations

import json

import pytest
import torch

from hw3cli.configs import FashionData, GanConfig
from hw3cli.core import hardware, matmul, precision, probes
from hw3cli.core.files import tracking_inputs
from hw3cli.data.sources import GAN_DATASETS
from hw3cli.models.gan import Dense, Discriminator, Generator
from tests.conftest import interrupt_after_epoch, synthetic_fashion

CPU = torch.device("cpu")
SHAPES = ((10, 100, 256), (10, 256, 784))
TINY_GAN = ["--epochs", "1", "--limit", "128", "--g-hidden", "8,16,32", "--d-hidden", "32,16,8", "--samples", "4"]


def faked(monkeypatch, fp32_ms: float, bf16_ms: float) -> list:
    """A CPU with native bf16 whose probe gives fixed timings; returns the (shapes, library) of each probe."""
    calls = []

    def probe(shapes, library, seconds=precision.PROBE_SECONDS):
        calls.append((shapes, library))
        return {"fp32": fp32_ms, "bf16": bf16_ms}

    monkeypatch.setattr(precision, "probe", probe)
    monkeypatch.setattr(hardware, "why_cpu_bf16_emulated", lambda: None)
    return calls


def decide(requested: str, shapes, library: str = "torch", keeps_quality: bool = True) -> str:
    chosen, warning, _ = precision.decide(requested, CPU, keeps_quality, shapes, lambda: library)
    assert warning is None
    return chosen


@pytest.fixture(autouse=True)
def own_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "cache_file", lambda: tmp_path / "cache" / "precision.json")
    return tmp_path / "cache" / "precision.json"


def test_auto_takes_fp32_only_where_the_probe_finds_bf16_clearly_slower(monkeypatch, own_cache):
    calls = faked(monkeypatch, fp32_ms=2.0, bf16_ms=4.0)  # a batch of 10: the casts outweigh the products
    assert decide("auto", SHAPES) == "fp32"
    calls = faked(monkeypatch, fp32_ms=10.0, bf16_ms=6.0)
    assert decide("auto", SHAPES) == "fp32" and calls == []  # cached: not probed again
    assert decide("auto", ((64, 100, 256),)) == "bf16"  # other shapes
    assert decide("auto", SHAPES, "openblas") == "bf16"  # fp32 on another library
    assert [library for _, library in calls] == ["torch", "openblas"]
    faked(monkeypatch, fp32_ms=10.0, bf16_ms=10.5)  # within the probe's noise (a busy machine shrinks bf16's gain)
    assert decide("auto", ((3, 4, 5),)) == "bf16"
    entries = json.loads(own_cache.read_text())
    assert sorted(e["choice"] for e in entries.values()) == ["bf16", "bf16", "bf16", "fp32"]


def test_no_probe_and_no_library_where_bf16_is_emulated_hurts_quality_is_asked_for_or_too_large(monkeypatch):
    calls = faked(monkeypatch, fp32_ms=2.0, bf16_ms=4.0)

    def library() -> str:
        raise AssertionError("the fp32 library was asked for where no probe runs")

    for requested, keeps, shapes, chosen in (("auto", False, SHAPES, "fp32"), ("bf16", True, SHAPES, "bf16"),
                                             ("auto", True, (), "bf16"),  # nothing declared (a CNN)
                                             ("auto", True, ((4096, 4096, 4096),), "bf16"),  # too large
                                             ("auto", True, ((0, 4, 5),), "bf16")):
        assert precision.decide(requested, CPU, keeps, shapes, library) == (chosen, None, None)
    assert precision.size(((4096, 4096, 4096),)) > precision.MOST_PROBED
    assert precision.flops(((1000, 1000, 1000),)) > precision.MOST_FLOPS
    assert precision.decide("auto", CPU, True, ((1000, 1000, 1000),), library) == ("bf16", None, None)
    monkeypatch.setattr(hardware, "why_cpu_bf16_emulated", lambda: "no bf16 instructions")
    assert precision.decide("auto", CPU, True, SHAPES, library) == ("fp32", None, None)
    assert calls == []


def test_a_damaged_probe_record_is_left_out_of_the_machine_line():
    record = hardware.machine_record(CPU, "fp32", "torch", {"fp32": 2.0, "bf16": 4.0})
    assert "fp32 (bf16 0.50x as fast as fp32 at its layers)" in hardware.describe(record)
    for damaged in ("fast", {"fp32": "2", "bf16": 4.0}, {"fp32": 0, "bf16": 4.0}, {"fp32": True, "bf16": 1.0},
                    {"fp32": 2.0}, [2.0, 4.0]):
        text = hardware.describe({**record, "precision_probe_ms": damaged})
        assert text.endswith("fp32, matmul torch"), text


def test_a_probe_that_fails_costs_nothing(monkeypatch, own_cache):
    faked(monkeypatch, 1.0, 1.0)

    def broken(shapes, library, seconds=0):
        raise RuntimeError("a library that cannot run these layers")

    monkeypatch.setattr(precision, "probe", broken)
    assert decide("auto", SHAPES) == "bf16" and not own_cache.exists()


def test_a_damaged_cache_costs_a_probe_and_a_new_key_joins_the_others_inside_a_command(monkeypatch, own_cache):
    calls = faked(monkeypatch, fp32_ms=2.0, bf16_ms=4.0)
    own_cache.parent.mkdir(parents=True)
    own_cache.write_bytes(b"\x00\xff not json")
    with tracking_inputs():  # as every command runs: what it reads it may not write, but for its own caches
        assert precision.faster(SHAPES, "torch") == ("fp32", {"fp32": 2.0, "bf16": 4.0})
        assert precision.faster(((64, 100, 256),), "torch")[0] == "fp32"
    assert len(calls) == 2 and len(json.loads(own_cache.read_text())) == 2


def test_the_real_probe_times_both_precisions_with_fp32_on_the_library_named(monkeypatch):
    measured = precision.probe(SHAPES, "torch", seconds=0.001)
    assert set(measured) == {"fp32", "bf16"} and all(ms > 0 for ms in measured.values())
    assert precision.choose({"fp32": 2.0, "bf16": 2.2}) == "fp32"
    assert precision.choose({"fp32": 2.0, "bf16": 2.1}) == "bf16"
    assert precision.choose({"fp32": 2.0, "bf16": 1.0}) == "bf16"
    library = next((name for name in matmul.PRODUCTS if not matmul.unavailable(name)), None)
    if library is None:
        pytest.skip("no library but torch's here")
    calls = []
    product = matmul.PRODUCTS[library]
    monkeypatch.setitem(matmul.PRODUCTS, library, lambda a, b: calls.append(a.dtype) or product(a, b))
    precision.probe(SHAPES, library, seconds=0.001)
    assert calls and set(calls) == {torch.float32}  # fp32 on the library; bf16 under autocast stays torch's


@pytest.mark.parametrize("dataset, options", [("fashion", {}), ("fashion", {"loss": "mse", "batch_size": 10}),
                                              ("ring", {}), ("grid", {"g_hidden": (5, 6, 7), "batch_size": 3})])
def test_the_shapes_probed_are_the_layers_train_gan_builds(tmp_path, dataset, options):
    config = GanConfig(dataset=dataset, **options).resolved()
    data = FashionData(data_dir=synthetic_fashion(tmp_path / "fashion", n_train=64, n_test=16))
    source = GAN_DATASETS[dataset].open(data, 1, CPU)
    dim = int(torch.Size(source.sample_shape).numel())
    assert GAN_DATASETS[dataset].sample_size == dim
    g, d = Generator(config.noise_dim, config.g_hidden, data_dim=dim), Discriminator(config.d_hidden, data_dim=dim)
    built = tuple((config.batch_size, m.in_features, m.out_features) for m in g.modules() if isinstance(m, Dense))
    if config.loss != "mse":
        built += tuple((2 * config.batch_size, m.in_features, m.out_features) for m in d.modules()
                       if isinstance(m, Dense))
    assert config.dense_products == built


@pytest.mark.parametrize("faster", ["fp32", "bf16"])
def test_train_gan_under_auto_follows_the_probe_and_records_it(cli, tmp_path, monkeypatch, faster):
    calls = faked(monkeypatch, fp32_ms=2.0 if faster == "fp32" else 9.0, bf16_ms=4.0)
    fashion = synthetic_fashion(tmp_path / "fashion", n_train=256, n_test=64)
    assert cli("train-gan", "--data", fashion, "--out", tmp_path / "run", *TINY_GAN).code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    timings = json.loads((tmp_path / "run" / "timings.json").read_text())
    assert metrics["precision"] == timings["machine"]["precision"] == faster
    probed = {"fp32": 2.0 if faster == "fp32" else 9.0, "bf16": 4.0}
    assert timings["machine"]["precision_probe_ms"] == probed  # why auto chose it, beside the times
    assert f"{faster} (bf16 {probed['fp32'] / 4.0:.2f}x as fast as fp32 at its layers)" in \
        hardware.describe(timings["machine"])
    assert timings["machine"]["matmul"].split(" ")[0] == ("torch" if faster == "bf16" else calls[0][1])
    assert calls == [(((64, 100, 8), (64, 8, 16), (64, 16, 32), (64, 32, 784), (128, 784, 32), (128, 32, 16),
                       (128, 16, 8), (128, 8, 1)), matmul.resolve("auto"))]


def test_resume_under_auto_keeps_the_precision_the_run_began_with(cli, tmp_path, monkeypatch):
    import hw3cli.experiments.train_gan as gan_experiment

    faked(monkeypatch, fp32_ms=2.0, bf16_ms=4.0)
    fashion = synthetic_fashion(tmp_path / "fashion", n_train=256, n_test=64)
    args = ("train-gan", "--data", fashion, *TINY_GAN, "--epochs", "3")
    assert cli(*args, "--out", tmp_path / "straight").code == 0
    original = gan_experiment.gan_training
    monkeypatch.setattr(gan_experiment, "gan_training", interrupt_after_epoch(original, 1))
    assert cli(*args, "--out", tmp_path / "resumed").code == 130
    monkeypatch.setattr(gan_experiment, "gan_training", original)
    monkeypatch.setattr(precision, "faster", lambda shapes, library: pytest.fail("auto was probed, not resumed"))
    r = cli(*args, "--out", tmp_path / "resumed", "--resume")
    assert r.code == 0, r.err
    straight, resumed = ((tmp_path / name / "metrics.json").read_bytes() for name in ("straight", "resumed"))
    assert json.loads(resumed)["precision"] == "fp32" and resumed == straight
    # timings.json still says why the run is in fp32: the probe the run began with
    probes_kept = [json.loads((tmp_path / name / "timings.json").read_text())["machine"]["precision_probe_ms"]
                   for name in ("straight", "resumed")]
    assert probes_kept == [{"fp32": 2.0, "bf16": 4.0}] * 2


def test_a_moment_of_a_busy_machine_during_the_bf16_pass_does_not_choose_fp32(monkeypatch):
    """Each pass takes 1 ms but bf16's first, timed while the machine was busy: the precisions take turns, so bf16
    also gets quiet moments."""
    timings = iter([1e-3, 2e-3] + [1e-3] * 100)
    monkeypatch.setattr(probes, "fastest_time", lambda work, seconds: next(timings))
    measured = precision.probe(SHAPES, "torch")
    assert measured == {"fp32": 1.0, "bf16": 1.0}
    assert precision.choose(measured) == "bf16"


@pytest.mark.parametrize("saved", [None, "fast", [1.0, 2.0], {"fp32": 1.0}, {"fp32": "1", "bf16": 2.0},
                                   {"fp32": True, "bf16": 2.0}, {"fp32": -1.0, "bf16": 2.0},
                                   {"fp32": 1.0, "bf16": 2.0, "fp16": 3.0}, {"fp32": float("nan"), "bf16": 2.0}])
def test_a_progress_files_probe_that_is_not_two_times_is_left_out(saved):
    from hw3cli.experiments.lifecycle import _probe_record

    assert _probe_record(saved) is None
    assert _probe_record({"fp32": 3, "bf16": 1.5}) == {"fp32": 3, "bf16": 1.5}
