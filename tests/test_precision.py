"""--precision auto on a CPU with native bf16 takes fp32 where a probe of the run's own dense layers finds bf16 clearly
slower (faked both ways, cached per machine, layer shapes and product library); the shapes probed are the layers
train-gan builds; the real probe times both precisions."""

from __future__ import annotations

import json

import pytest
import torch

from hw3cli.configs import GanConfig
from hw3cli.core import hardware, matmul, precision
from hw3cli.core.files import tracking_inputs
from hw3cli.data.sources import GAN_DATASETS
from hw3cli.models.gan import Dense, Discriminator, Generator
from tests.conftest import synthetic_fashion

SHAPES = ((10, 100, 256), (10, 256, 784))
TINY_GAN = ["--epochs", "1", "--limit", "128", "--g-hidden", "8,16,32", "--d-hidden", "32,16,8", "--samples", "4"]


def faked(monkeypatch, fp32_ms: float, bf16_ms: float) -> list:
    """precision.probe replaced by fixed timings; returns the (shapes, library) of each probe."""
    calls = []

    def probe(shapes, library, seconds=precision.PROBE_SECONDS):
        calls.append((shapes, library))
        return {"fp32": fp32_ms, "bf16": bf16_ms}

    monkeypatch.setattr(precision, "probe", probe)
    monkeypatch.setattr(hardware, "why_cpu_bf16_emulated", lambda: None)
    return calls


@pytest.fixture(autouse=True)
def own_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "CACHE_FILE", tmp_path / "cache" / "precision.json")


def test_auto_takes_fp32_only_where_the_probe_finds_bf16_clearly_slower(monkeypatch):
    cpu = torch.device("cpu")
    calls = faked(monkeypatch, fp32_ms=2.0, bf16_ms=4.0)  # a batch of 10: the casts outweigh the products
    assert hardware.resolve_precision("auto", cpu, True, SHAPES) == ("fp32", None)
    calls = faked(monkeypatch, fp32_ms=10.0, bf16_ms=6.0)
    assert hardware.resolve_precision("auto", cpu, True, SHAPES) == ("fp32", None)  # cached: not probed again
    assert calls == []
    assert hardware.resolve_precision("auto", cpu, True, ((64, 100, 256),)) == ("bf16", None)  # other shapes
    assert hardware.resolve_precision("auto", cpu, True, SHAPES, "openblas") == ("bf16", None)  # other fp32 library
    assert [library for _, library in calls] == ["torch", "openblas"]
    faked(monkeypatch, fp32_ms=10.0, bf16_ms=10.5)  # within the probe's noise (a busy machine shrinks bf16's gain)
    assert hardware.resolve_precision("auto", cpu, True, ((3, 4, 5),)) == ("bf16", None)
    entries = json.loads(precision.CACHE_FILE.read_text())
    assert sorted(e["choice"] for e in entries.values()) == ["bf16", "bf16", "bf16", "fp32"]


def test_no_probe_where_bf16_is_emulated_hurts_quality_asked_for_or_too_large(monkeypatch):
    cpu = torch.device("cpu")
    calls = faked(monkeypatch, fp32_ms=2.0, bf16_ms=4.0)
    assert hardware.resolve_precision("auto", cpu, False, SHAPES) == ("fp32", None)  # the model's quality
    assert hardware.resolve_precision("bf16", cpu, True, SHAPES) == ("bf16", None)
    assert hardware.resolve_precision("fp32", cpu, True, SHAPES) == ("fp32", None)
    assert hardware.resolve_precision("auto", cpu, True, ()) == ("bf16", None)  # nothing declared (a CNN)
    big = ((4096, 4096, 4096),)
    assert precision.size(big) > precision.MOST_PROBED
    assert hardware.resolve_precision("auto", cpu, True, big) == ("bf16", None)
    monkeypatch.setattr(hardware, "why_cpu_bf16_emulated", lambda: "no bf16 instructions")
    assert hardware.resolve_precision("auto", cpu, True, SHAPES) == ("fp32", None)
    assert calls == []


def test_a_damaged_cache_costs_a_probe_and_a_new_key_joins_the_others_inside_a_command(monkeypatch):
    calls = faked(monkeypatch, fp32_ms=2.0, bf16_ms=4.0)
    precision.CACHE_FILE.parent.mkdir(parents=True)
    precision.CACHE_FILE.write_bytes(b"\x00\xff not json")
    with tracking_inputs():  # as every command runs: what it reads it may not write, but for its own caches
        assert precision.faster(SHAPES, "torch") == "fp32"
        assert precision.faster(((64, 100, 256),), "torch") == "fp32"
    assert len(calls) == 2 and len(json.loads(precision.CACHE_FILE.read_text())) == 2


def test_the_matmul_cache_takes_a_second_machine_inside_a_command(monkeypatch, tmp_path):
    monkeypatch.setattr(matmul, "cache_file", lambda: tmp_path / "matmul.json")
    monkeypatch.setattr(matmul, "probe", lambda: {"torch": {"gflops": 100.0, "error": 0.0}})
    with tracking_inputs():
        assert matmul.resolve("auto") == "torch"
        monkeypatch.setattr(torch, "get_num_threads", lambda: 7)
        assert matmul.resolve("auto") == "torch"
    assert len(json.loads((tmp_path / "matmul.json").read_text())) == 2


def test_the_real_probe_times_both_precisions():
    measured = precision.probe(SHAPES, "torch", seconds=0.001)
    assert set(measured) == {"fp32", "bf16"} and all(ms > 0 for ms in measured.values())
    assert precision.choose({"fp32": 2.0, "bf16": 2.2}) == "fp32"
    assert precision.choose({"fp32": 2.0, "bf16": 2.1}) == "bf16"
    assert precision.choose({"fp32": 2.0, "bf16": 1.0}) == "bf16"


@pytest.mark.parametrize("options", [{}, {"loss": "mse", "batch_size": 10}, {"dataset": "ring"},
                                     {"dataset": "grid", "g_hidden": (5, 6, 7), "batch_size": 3}])
def test_the_shapes_probed_are_the_layers_train_gan_builds(options):
    config = GanConfig(**options).resolved()
    dim = GAN_DATASETS[config.dataset].sample_size
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
    assert timings["machine"]["matmul"].split(" ")[0] == ("torch" if faster == "bf16" else matmul.resolve("auto"))
    assert calls[0][0] == ((64, 100, 8), (64, 8, 16), (64, 16, 32), (64, 32, 784), (128, 784, 32), (128, 32, 16),
                           (128, 16, 8), (128, 8, 1))
