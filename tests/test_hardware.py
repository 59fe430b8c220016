"""Precision and threads chosen from the hardware, and the machine recorded beside every run's times."""

import json

import pytest
import torch

from hw3cli.core import hardware
from hw3cli.core.device import resolve_device
from tests.conftest import assert_usage_error, synthetic_fashion

TINY_GAN = ["--epochs", "1", "--limit", "128", "--g-hidden", "8,16,32", "--d-hidden", "32,16,8", "--samples", "4"]


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_follows_the_cpus_bf16_support(monkeypatch, native):
    monkeypatch.setattr(hardware, "why_cpu_bf16_emulated", lambda: None if native else "no bf16 instructions")
    precision, warning = hardware.resolve_precision("auto", torch.device("cpu"))
    assert (precision, warning) == ("bf16" if native else "fp32", None)


def test_explicit_bf16_without_native_support_runs_with_a_warning(monkeypatch):
    monkeypatch.setattr(hardware, "why_cpu_bf16_emulated", lambda: "no bf16 instructions (AVX512_BF16 or AMX)")
    precision, warning = hardware.resolve_precision("bf16", torch.device("cpu"))
    assert precision == "bf16"
    assert "no native bf16 arithmetic here (no bf16 instructions (AVX512_BF16 or AMX))" in warning
    assert "\n" not in warning
    monkeypatch.setattr(hardware, "why_cpu_bf16_emulated", lambda: None)
    assert hardware.resolve_precision("bf16", torch.device("cpu")) == ("bf16", None)
    assert hardware.resolve_precision("fp32", torch.device("cpu")) == ("fp32", None)


@pytest.mark.parametrize("supported", [True, False])
def test_auto_precision_on_cuda_asks_for_native_bf16(monkeypatch, supported):
    calls = []

    def is_bf16_supported(including_emulation=True):
        calls.append(including_emulation)
        return supported

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert hardware.resolve_precision("auto", torch.device("cuda"))[0] == ("bf16" if supported else "fp32")
    assert calls == [False]  # emulated bf16 (before compute capability 8.0) does not count


@pytest.fixture
def bf16_hardware(monkeypatch):
    """A CPU with AMX and oneDNN's bf16 support, whatever the test machine is; no oneDNN cap set."""
    monkeypatch.setattr(hardware.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    for name in hardware.ONEDNN_ISA_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_cpu_probe_reads_the_instruction_set(bf16_hardware, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert hardware.cpu_native_bf16() is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert hardware.cpu_native_bf16() is True


@pytest.mark.parametrize("variable, cap, native", [
    ("ONEDNN_MAX_CPU_ISA", "AVX2", False),  # measured: bf16 products 2.4 GFLOP/s on an AMX core so capped
    ("ONEDNN_MAX_CPU_ISA", "avx512_core", False),  # emulated (38 GFLOP/s against 180 in fp32)
    ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI", False),
    ("DNNL_MAX_CPU_ISA", "AVX2_VNNI_2", False),
    ("ONEDNN_MAX_CPU_ISA", "avx2", False),  # oneDNN reads it in any case
    ("ONEDNN_MAX_CPU_ISA", "not-an-isa", True),  # measured: oneDNN ignores a value it does not know
    ("ONEDNN_MAX_CPU_ISA", " AVX2", True),  # measured: a space makes it one oneDNN does not know
    ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16", True),
    ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX", True),
    ("DNNL_MAX_CPU_ISA", "AVX10_1_512_AMX_FP16", True),
    ("ONEDNN_MAX_CPU_ISA", "DEFAULT", True),
])
def test_a_onednn_cap_below_bf16_means_emulated_bf16(bf16_hardware, monkeypatch, variable, cap, native):
    assert hardware.cpu_native_bf16() is True
    monkeypatch.setenv(variable, cap)
    assert hardware.cpu_native_bf16() is native
    assert hardware.resolve_precision("auto", torch.device("cpu"))[0] == ("bf16" if native else "fp32")
    if not native:
        warning = hardware.resolve_precision("bf16", torch.device("cpu"))[1]
        assert f"(oneDNN is limited to {cap} by {variable})" in warning and "\n" not in warning


def test_onednn_reads_its_own_variable_first(bf16_hardware, monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX2")
    assert hardware.cpu_native_bf16() is True
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "")  # empty: oneDNN reads DNNL_MAX_CPU_ISA
    assert hardware.cpu_native_bf16() is False
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "not-an-isa")  # set, so read, and ignored: no fall-through
    assert hardware.cpu_native_bf16() is True


def test_bf16_is_not_native_without_onednn(bf16_hardware, monkeypatch):
    assert hardware.cpu_native_bf16() is True
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)  # measured: bf16 products 2.4 GFLOP/s then
    assert hardware.why_cpu_bf16_emulated() == "oneDNN is turned off (torch.backends.mkldnn.enabled)"
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert hardware.why_cpu_bf16_emulated() == "oneDNN reports no bf16 support"
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert hardware.why_cpu_bf16_emulated() == "this torch is built without oneDNN"


def test_a_run_under_a_onednn_cap_trains_in_fp32_and_records_the_cap(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    fashion = synthetic_fashion(tmp_path / "fashion", n_train=256, n_test=64)
    assert cli("train-gan", "--data", fashion, "--out", tmp_path / "run", *TINY_GAN).code == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["precision"] == "fp32"
    machine = json.loads((tmp_path / "run" / "timings.json").read_text())["machine"]
    assert machine["onednn_max_cpu_isa"] == "AVX2" and machine["cpu_native_bf16"] is False
    assert "without native bf16 (oneDNN capped at AVX2)" in hardware.describe(machine)


def fake_cgroup(tmp_path, monkeypatch, self_cgroup: str, files: dict[str, str], cpus: int):
    for name, text in files.items():
        (tmp_path / "cg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "cg" / name).write_text(text)
    (tmp_path / "self").write_text(self_cgroup)
    monkeypatch.setattr(hardware, "CGROUP_ROOT", tmp_path / "cg")
    monkeypatch.setattr(hardware, "SELF_CGROUP", tmp_path / "self")
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(hardware, "SYS_CPU", tmp_path / "no-topology")  # each CPU its own core


@pytest.mark.parametrize("self_cgroup, files, cpus, expected", [
    ("0::/\n", {}, 8, 8),  # no quota: the affinity mask
    ("0::/\n", {"cpu.max": "max 100000\n"}, 8, 8),
    ("0::/job/step\n", {"job/step/cpu.max": "200000 100000\n"}, 8, 2),  # a container allowed 2 CPUs
    ("0::/job/step\n", {"job/step/cpu.max": "150000 100000\n"}, 8, 1),  # 1.5 CPUs: a second thread would spin
    ("0::/job/step\n", {"job/cpu.max": "300000 100000\n", "job/step/cpu.max": "max 100000\n"}, 8, 3),  # a parent's
    ("0::/job\n", {"job/cpu.max": "50000 100000\n"}, 8, 1),  # half a CPU: still one thread
    ("0::/job\n", {"job/cpu.max": "800000 100000\n"}, 2, 2),  # the affinity mask is smaller than the quota
    ("3:cpu,cpuacct:/job\n", {"cpu,cpuacct/job/cpu.cfs_quota_us": "300000\n",
                              "cpu,cpuacct/job/cpu.cfs_period_us": "100000\n"}, 16, 3),  # cgroup v1
    ("3:cpu,cpuacct:/job\n", {"cpu,cpuacct/job/cpu.cfs_quota_us": "-1\n",
                              "cpu,cpuacct/job/cpu.cfs_period_us": "100000\n"}, 16, 16),
])
def test_usable_cpus_honours_affinity_and_cgroup_quota(tmp_path, monkeypatch, self_cgroup, files, cpus, expected):
    fake_cgroup(tmp_path, monkeypatch, self_cgroup, files, cpus)
    assert hardware.usable_cpus() == expected


def test_the_default_thread_count_is_what_the_process_may_use(tmp_path, monkeypatch):
    fake_cgroup(tmp_path, monkeypatch, "0::/job\n", {"job/cpu.max": "200000 100000\n"}, 64)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        resolve_device("cpu", 0)
        assert torch.get_num_threads() == 2  # not the 64 the host has
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what the user or a batch system asked for wins
        resolve_device("cpu", 0)
        assert torch.get_num_threads() == 1
        resolve_device("cpu", 3)  # and --threads wins over both
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_a_default_gan_run_records_its_precision_and_machine(cli, tmp_path, monkeypatch):
    from hw3cli.core import precision

    # bf16 twice as fast at these layers where native (test_precision.py lets the probe decide both ways)
    monkeypatch.setattr(precision, "probe", lambda shapes, library, seconds=0: {"fp32": 2.0, "bf16": 1.0})
    monkeypatch.setattr(precision, "cache_file", lambda: tmp_path / "precision.json")
    fashion = synthetic_fashion(tmp_path / "fashion", n_train=256, n_test=64)
    assert cli("train-gan", "--data", fashion, "--out", tmp_path / "run", *TINY_GAN).code == 0
    chosen = "bf16" if hardware.cpu_native_bf16() else "fp32"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    timings = json.loads((tmp_path / "run" / "timings.json").read_text())
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["precision"] == "auto" and metrics["precision"] == chosen
    machine = timings["machine"]
    assert "machine" not in metrics  # the machine belongs with the times, not with what the seed determines
    assert machine["precision"] == chosen and machine["cpu"] == hardware.cpu_model()
    assert machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert machine["threads"] == torch.get_num_threads() and machine["device"] == "cpu"
    assert machine["usable_cpus"] == hardware.usable_cpus()


def test_bf16_asked_for_where_it_is_emulated_warns_once_and_trains(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(hardware, "why_cpu_bf16_emulated", lambda: "no bf16 instructions")
    fashion = synthetic_fashion(tmp_path / "fashion", n_train=256, n_test=64)
    r = cli("train-gan", "--data", fashion, "--out", tmp_path / "run", "--precision", "bf16", *TINY_GAN)
    assert r.code == 0, r.err
    warnings = [line for line in r.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "no native bf16" in warnings[0]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["precision"] == "bf16"


def test_precision_must_be_one_of_the_choices(cli, tmp_path):
    fashion = synthetic_fashion(tmp_path / "fashion", n_train=256, n_test=64)
    assert_usage_error(cli("classify", "--data", fashion, "--from-scratch", "--out", tmp_path / "c",
                           "--precision", "fp16"), "--precision")


def test_describe_names_the_machine_in_one_line():
    record = hardware.machine_record(torch.device("cpu"), "fp32")
    text = hardware.describe(record)
    assert record["cpu"] in text and "fp32" in text and "\n" not in text
    assert hardware.describe(None) == "an unrecorded machine"


def test_hyper_threads_of_one_core_count_once(tmp_path, monkeypatch):
    for cpu, (package, core) in enumerate([(0, 0), (0, 1), (0, 0), (0, 1), (1, 0), (1, 0)]):
        topology = tmp_path / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    monkeypatch.setattr(hardware, "SYS_CPU", tmp_path)
    monkeypatch.setattr(hardware, "SELF_CGROUP", tmp_path / "none")
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    assert hardware.usable_cpus() == 3  # cores (0,0), (0,1) and (1,0)
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: {0, 2}, raising=False)
    assert hardware.usable_cpus() == 1  # two hyper-threads of one core


def test_memory_left_under_a_cgroup_limit_counts_droppable_cache_as_free(tmp_path, monkeypatch):
    from hw3cli.core import memory

    group = tmp_path / "cg" / "job"
    group.mkdir(parents=True)
    (group / "memory.max").write_text(f"{2**30}\n")
    (group / "memory.current").write_text(f"{900 * 2**20}\n")
    (group / "memory.stat").write_text(f"anon 1\ninactive_file {500 * 2**20}\n")
    (tmp_path / "self").write_text("0::/job\n")
    monkeypatch.setattr(memory, "CGROUP_ROOT", tmp_path / "cg")
    monkeypatch.setattr(memory, "SELF_CGROUP", tmp_path / "self")
    monkeypatch.setattr(memory, "MEMINFO", tmp_path / "no-meminfo")
    assert memory.available_bytes() == 2**30 - 900 * 2**20 + 500 * 2**20
    with pytest.raises(Exception, match="--hidden 9 would need about 1.0 GB"):
        memory.require(2**30, "--hidden 9")
