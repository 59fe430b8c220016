"""What this process runs on, read from the hardware rather than assumed: whether the device computes bf16
natively, how many CPUs the process may really use, and a record of the machine for every run's timings.

Nothing here is tuned for one machine. bf16 autocast is 2-3x faster than fp32 where the CPU has bf16
instructions (AVX512_BF16, AMX) but 15x slower where it must emulate them (AVX2 alone), and a torch process
with more threads than the CPUs it gets (a cgroup quota, an affinity mask, another busy process) spins
instead of working. So `auto` precision and the default thread count are decided here, per run.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Iterator
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
SYS_CPU = Path("/sys/devices/system/cpu")


def cpu_model() -> str:
    """The CPU's marketing name ('AMD EPYC 9R14', 'Apple M2'), or what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# oneDNN, which runs torch's bf16 matrix products on x86, uses only the instruction set it is allowed: capped below
# AVX512_CORE_BF16 (ONEDNN_MAX_CPU_ISA, set e.g. for results reproducible across CPUs) it emulates bf16 on a CPU that
# has it. Measured on one core of a Xeon with AMX, a 512x512 product: 1,300 GFLOP/s in bf16 uncapped, 38 capped at
# AVX512_CORE, 2.4 at AVX2, against 180 in fp32. oneDNN reads the first of its two variables that is not empty, in
# any case, and ignores a value it does not know (no fall-through to the other variable): so does this module.
ONEDNN_ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
ONEDNN_ISAS_WITHOUT_BF16 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                                      "AVX512_CORE_VNNI"})
X86 = ("x86_64", "amd64", "i686", "x86")


def onednn_isa_cap() -> tuple[str, str] | None:
    """(variable, value) of the instruction-set cap the environment sets for oneDNN, as written, or None."""
    for name in ONEDNN_ISA_VARIABLES:
        if os.environ.get(name):
            return name, os.environ[name]
    return None


def why_cpu_bf16_emulated() -> str | None:
    """Why bf16 arithmetic on this CPU would be emulated in this process, or None where it is native (x86:
    AVX512_BF16 or AMX, with oneDNN built in, enabled and not capped below them; Arm: the BF16 extension)."""
    if platform.machine().lower() in X86:
        probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        hardware = any(p() for p in probes) if all(callable(p) for p in probes) else \
            bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})
        if not hardware:
            return "no bf16 instructions (AVX512_BF16 or AMX)"
        cap = onednn_isa_cap()
        if cap is not None and cap[1].upper() in ONEDNN_ISAS_WITHOUT_BF16:
            return f"oneDNN is limited to {cap[1]} by {cap[0]}"
    elif "bf16" not in _cpu_flags():
        return "no bf16 instructions"
    if not torch.backends.mkldnn.is_available():
        return "this torch is built without oneDNN"
    if not torch.backends.mkldnn.enabled:
        return "oneDNN is turned off (torch.backends.mkldnn.enabled)"
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "oneDNN reports no bf16 support"
    return None


def why_bf16_emulated(device: torch.device) -> str | None:
    """Why `device` would emulate bf16, or None where it computes it in hardware (CUDA: compute capability 8.0
    and up)."""
    if device.type == "cuda":
        return None if torch.cuda.is_bf16_supported(including_emulation=False) else "compute capability below 8.0"
    if device.type == "cpu":
        return why_cpu_bf16_emulated()
    return f"bf16 support on {device.type} varies by OS version"  # MPS and others: fp32 is the safe default


def cpu_native_bf16() -> bool:
    return why_cpu_bf16_emulated() is None


def native_bf16(device: torch.device) -> bool:
    return why_bf16_emulated(device) is None


def resolve_precision(requested: str, device: torch.device, bf16_keeps_quality: bool = True) -> tuple[str, str | None]:
    """The precision to train in and, when asked for bf16 where it is emulated, a one-line warning. `auto` is bf16
    only where it is native and keeps the model's measured quality (precision.decide also weighs its speed)."""
    emulated = why_bf16_emulated(device)
    if requested == "auto":
        return ("bf16" if emulated is None and bf16_keeps_quality else "fp32"), None
    if requested == "bf16" and emulated is not None:
        where = f"this CPU ({cpu_model()}, {torch.backends.cpu.get_cpu_capability()})" if device.type == "cpu" \
            else f"{device.type} device {device_name(device)}"
        return "bf16", (f"warning: --precision bf16 on {where}, which has no native bf16 arithmetic here ({emulated}): "
                        "torch emulates it, typically several times slower than fp32 (--precision auto picks fp32 "
                        "here)")
    return requested, None


def own_cgroups(controller: str, root: Path | None = None,
                self_cgroup: Path | None = None) -> Iterator[tuple[Path, bool]]:
    """The folders of this process's cgroup and of each parent up to the root, for one controller ('cpu',
    'memory'): (folder, True) in the cgroup v2 hierarchy, (folder, False) in v1's."""
    root = root or CGROUP_ROOT
    try:
        lines = (self_cgroup or SELF_CGROUP).read_text().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            base, v2 = root, True
        elif controller in controllers.split(","):
            names = (controller, *(",".join(p) for p in ((controller, "cpuacct"), ("cpuacct", controller))))
            base, v2 = next((root / d for d in names if (root / d).is_dir()), root / controller), False
        else:
            continue
        folder = base / path.strip("/")
        while True:
            yield folder, v2
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent


def _quota_cpus() -> float | None:
    """The CPU quota of this process's cgroup and its parents, in CPUs (cgroup v2 cpu.max, or v1
    cpu.cfs_quota_us / cpu.cfs_period_us); None when there is none."""
    limits = [_read_quota(folder, ("cpu.max",) if v2 else ("cpu.cfs_quota_us", "cpu.cfs_period_us"))
              for folder, v2 in own_cgroups("cpu")]
    limits = [limit for limit in limits if limit is not None]
    return min(limits) if limits else None


def _read_quota(folder: Path, files: tuple[str, ...]) -> float | None:
    try:
        if len(files) == 1:
            quota, period = (folder / files[0]).read_text().split()[:2]
        else:
            quota, period = ((folder / f).read_text().strip() for f in files)
        if quota in ("max", "-1") or int(period) <= 0:
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _physical_cores(cpus: set[int]) -> int:
    """The physical cores among these logical CPUs: two hyper-threads of one core share its matrix units, and a
    second torch thread there gains little (torch's own default counts physical cores too)."""
    cores = set()
    for cpu in cpus:
        topology = SYS_CPU / f"cpu{cpu}" / "topology"
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return len(cores) or len(cpus)


def usable_cpus() -> int:
    """How many CPUs this process may really use: the physical cores of its affinity mask, capped by a cgroup CPU
    quota (as in containers), not the host's core count. A fractional quota rounds down (at least 1): a thread
    more than the quota allows spins waiting for a core it does not get."""
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        allowed = set(range(os.cpu_count() or 1))
    cpus = _physical_cores(allowed)
    quota = _quota_cpus()
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def default_threads() -> int:
    """torch's CPU threads when --threads is not given: what OMP_NUM_THREADS says if the user set it (a batch
    system or `make -j` often does), else the CPUs this process may use."""
    if os.environ.get("OMP_NUM_THREADS", "").strip().isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    # Under torchrun the processes of one node share its CPUs (torchrun itself sets OMP_NUM_THREADS=1 for several).
    ranks_here = os.environ.get("LOCAL_WORLD_SIZE", "1")
    return max(1, usable_cpus() // (int(ranks_here) if ranks_here.isdigit() and int(ranks_here) > 0 else 1))


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def machine_record(device: torch.device, precision: str | None = None, matmul: str | None = None,
                   precision_probe: dict | None = None) -> dict:
    """What a run ran on, for its timings.json: a time means little without the machine beside it. `precision_probe`:
    the milliseconds --precision auto's probe measured for the run's layers in fp32 and bf16, where it decided."""
    cap = onednn_isa_cap()
    record = {
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_native_bf16": cpu_native_bf16(),
        **({"onednn_max_cpu_isa": cap[1]} if cap else {}),
        "usable_cpus": usable_cpus(),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
        record["gpu_native_bf16"] = native_bf16(device)
    if precision is not None:
        record["precision"] = precision
    if matmul is not None:
        record["matmul"] = matmul
    if precision_probe is not None:
        record["precision_probe_ms"] = precision_probe
    return record


def probe_times(probe: object) -> tuple[float, float] | None:
    """(fp32, bf16) milliseconds of --precision auto's probe as a file kept them, or None where they are not two
    times in (0, 1e9)."""
    times = [probe.get(p) for p in ("fp32", "bf16")] if isinstance(probe, dict) else []
    numbers = len(times) == 2 and all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < 1e9
                                      for t in times)
    return (times[0], times[1]) if numbers else None


def describe(record: dict) -> str:
    """One line for a machine record: 'AMD EPYC, AVX2 without native bf16, 1 thread of 2 CPUs, fp32'."""
    if not isinstance(record, dict):
        return "an unrecorded machine"
    bf16 = "native bf16" if record.get("cpu_native_bf16") else "without native bf16"
    if record.get("onednn_max_cpu_isa"):
        bf16 += f" (oneDNN capped at {record['onednn_max_cpu_isa']})"
    threads = record.get("threads")
    text = f"{record.get('cpu', 'unknown CPU')}, {record.get('cpu_capability', '?')} {bf16}"
    if threads is not None:
        text += f", {threads} thread{'s' if threads != 1 else ''} of {record.get('usable_cpus', '?')} CPUs"
    if record.get("gpu"):
        text += f", GPU {record['gpu']}"
    if record.get("precision"):
        text += f", {record['precision']}"
        times = probe_times(record.get("precision_probe_ms"))
        if times:
            text += f" (bf16 {times[0] / times[1]:.2f}x as fast as fp32 at its layers)"
    if record.get("matmul"):
        text += f", matmul {record['matmul']}"
    return text


def measured_on(records) -> str:
    """The machines of several runs' metrics, each named once ('an unrecorded machine' for old runs)."""
    names = list(dict.fromkeys(describe(r.get("machine")) for r in records))
    return "; ".join(names) if names else "an unrecorded machine"
