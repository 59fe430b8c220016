"""How much memory this process may still take, so that a request that cannot fit is refused before anything
is allocated (a 10^9-unit hidden layer, a billion samples, a checkpoint whose header promises 10 GB)."""

from __future__ import annotations

from pathlib import Path

from hw3cli.errors import Hw3Error

MEMINFO = Path("/proc/meminfo")
SELF_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")
UNKNOWN = 64 * 2**30  # where the system does not say (not Linux): assume a large workstation


def _cgroup_left() -> int | None:
    """Memory left under this process's cgroup limits (v2 memory.max, v1 memory.limit_in_bytes), its own group and
    every parent's; page cache that the kernel can drop (inactive_file) counts as free."""
    from hw3cli.core.hardware import own_cgroups

    left = []
    for folder, v2 in own_cgroups("memory", CGROUP_ROOT, SELF_CGROUP):
        files = ("memory.max", "memory.current") if v2 else ("memory.limit_in_bytes", "memory.usage_in_bytes")
        try:
            limit, usage = ((folder / f).read_text().strip() for f in files)
            if limit != "max" and int(limit) < 2**60:
                left.append(max(0, int(limit) - int(usage) + _inactive_file(folder)))
        except (OSError, ValueError):
            pass
    return min(left) if left else None


def _inactive_file(folder: Path) -> int:
    try:
        for line in (folder / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in ("inactive_file", "total_inactive_file"):
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def available_bytes() -> int:
    """Memory available to this process: the kernel's MemAvailable, capped by what its cgroups leave it."""
    available = None
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    left = _cgroup_left()
    if left is not None:
        available = left if available is None else min(available, left)
    return UNKNOWN if available is None else available


def size_text(nbytes: float) -> str:
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{int(nbytes)} bytes"


def require(nbytes: float, what: str) -> None:
    """Refuse `what` (named as the user asked for it: an option and its value, or a file) when it would need
    more memory than this process may take (with a margin for everything else the command holds)."""
    available = available_bytes()
    if nbytes > 0.8 * available:
        raise Hw3Error(f"{what} would need about {size_text(nbytes)} of memory, and {size_text(available)} is "
                       "available here")


# A parameter's weight, its gradient, two optimizer moments, and the copies a checkpoint or progress save makes.
BYTES_PER_PARAMETER = 4 * 6


def require_model(build, what: str, activations: int = 0) -> None:
    """Refuse a model (built by `build()` on the meta device, so nothing is allocated) that could not be trained
    here: its parameters and their optimizer state, plus `activations` bytes for one batch."""
    import torch

    with torch.device("meta"):
        models = build()
    models = models if isinstance(models, (tuple, list)) else (models,)
    parameters = sum(p.numel() for m in models if m is not None for p in m.parameters())
    require(parameters * BYTES_PER_PARAMETER + activations, f"{what} ({parameters:,} parameters)")
