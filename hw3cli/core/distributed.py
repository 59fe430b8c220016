"""Running under torchrun: which process this is, the process group, and the few collectives the training needs.

torchrun (or srun with torchrun inside) sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without
them the process is alone (world size 1) and nothing here talks to anything. Every rank runs the same command
with the same seed, draws the same batch order and noise, and takes its own contiguous part of each global batch
(`World.part`); gradients are averaged across ranks, each weighted by its part's size (`World.share`), through
DistributedDataParallel or, where DDP's wrapper cannot follow, `average_gradients`; so N ranks compute what one
process computes, up to float rounding.
"""

from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from hw3cli.errors import Hw3Error

# Every collective gives up after this long (seconds; HW3CLI_COLLECTIVE_TIMEOUT), so a rank that stopped
# answering ends the job with an error instead of a hang (torchrun's agent notices a dead rank sooner and stops
# the others itself). Long enough for rank 0 to write a checkpoint while the others wait.
TIMEOUT_DEFAULT = 300


def collective_timeout() -> datetime.timedelta:
    text = os.environ.get("HW3CLI_COLLECTIVE_TIMEOUT", str(TIMEOUT_DEFAULT)).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 86400:
        raise Hw3Error(f"HW3CLI_COLLECTIVE_TIMEOUT={text!r}: give whole seconds from 1 to 86400")
    return datetime.timedelta(seconds=int(text))


@dataclass(frozen=True)
class World:
    rank: int = 0  # this process, 0..size-1; rank 0 writes every file and draws the progress bar
    local_rank: int = 0  # this process on its node: its GPU index
    size: int = 1  # processes in the job
    backend: str = "none"  # gloo (CPU), nccl (CUDA), or none for a single process

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def part(self, n: int) -> slice:
        """This rank's contiguous part of a global batch of n items (parts differ by at most one item)."""
        return slice(n * self.rank // self.size, n * (self.rank + 1) // self.size)

    def share(self, n: int) -> float:
        """This rank's part of a global batch of n items, as a fraction: the weight of its mean in the batch's."""
        part = self.part(n)
        return (part.stop - part.start) / n


ALONE = World()


def from_environment() -> World:
    """The world torchrun describes in the environment (no process group yet); ALONE without torchrun."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise Hw3Error("WORLD_SIZE, RANK and LOCAL_RANK must be integers (torchrun sets them)") from None
    if size <= 1:
        return ALONE
    if not 0 <= rank < size:
        raise Hw3Error(f"RANK {rank} is outside 0..{size - 1} (WORLD_SIZE {size})")
    return World(rank, local_rank, size, "pending")


def start(world: World, requested_device: str) -> World:
    """Join the process group: nccl where the ranks train on GPUs, gloo on CPU. Returns the world with its
    backend. It forms before any input is checked, so a refusal on one rank reaches every rank (`leaving`)."""
    global _stage
    if world.size == 1:
        return ALONE
    if requested_device.startswith("cuda:"):  # the same on every rank: rank 0 says it
        raise Hw3Error(f"--device {requested_device}: under torchrun each rank takes the GPU of its LOCAL_RANK; "
                       "pass --device cuda (or auto)")
    timeout = collective_timeout()
    _stage = "joining"  # from here a rank's error may be its own: it says it
    on_gpu = requested_device in ("auto", "cuda") and torch.cuda.is_available()
    if on_gpu and world.local_rank >= torch.cuda.device_count():
        raise Hw3Error(f"LOCAL_RANK {world.local_rank} has no GPU: this node has {torch.cuda.device_count()}; "
                       "start at most that many processes per node (--nproc-per-node)")
    backend = "nccl" if on_gpu else "gloo"
    if on_gpu:
        torch.cuda.set_device(world.local_rank)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, timeout=timeout)
        except (RuntimeError, ValueError) as exc:
            raise Hw3Error(f"cannot join the torchrun process group ({' '.join(str(exc).split())[:200]})") from None
        # Left at exit, not after the command: a script that calls several commands in one torchrun job keeps
        # one group (a group re-formed from torchrun's store can meet the old one's stale keys).
        atexit.register(dist.destroy_process_group)
    global _world
    _world, _stage = World(world.rank, world.local_rank, world.size, backend), "agreeing"
    return _world


def device_for(world: World, requested: str) -> str:
    """Under torchrun each rank takes its own GPU (LOCAL_RANK); a single process keeps what was asked for."""
    if world.backend == "nccl":
        return f"cuda:{world.local_rank}"
    return requested


# Where this process stands, for the one-line error it may leave with (see `leaving`): "parsing" before the group
# forms (every rank read the same command line), "joining", "agreeing" (until the ranks agree their inputs are
# fine: `settled`), "training".
_stage = "parsing"
_world: World = ALONE


def lost_peer(exc: BaseException) -> bool:
    """Whether `exc` is a collective that failed because another rank is gone (died, or stopped on an error)."""
    if _stage == "parsing" or not isinstance(exc, RuntimeError):
        return False
    text = str(exc)
    return isinstance(exc, dist.DistBackendError) or any(
        word in text for word in ("Connection closed", "Connection reset", "gloo", "NCCL", "Broken pipe"))


def settled(world: World) -> None:
    global _stage
    _stage = "training" if world.size > 1 else "parsing"


def finished() -> None:
    global _stage
    _stage = "parsing"


def leaving(message: str, shared: bool, named_rank_zero: bool) -> bool:
    """Called with this rank's one-line error on its way out; returns whether this rank prints it. Until the
    ranks have agreed, the others receive it and fail with it, rank 0 saying it for all. An error from the command
    line (the same on every rank) or one every rank holds (`shared`) is said by rank 0 alone; one met while
    joining, or by one rank while training, by the rank that met it. `named_rank_zero`: whether the environment
    names this process rank 0 (or alone), for errors before the process group knows."""
    rank_zero = _world.leader if _stage != "parsing" else named_rank_zero
    if _stage == "agreeing":
        try:
            agree(_world, message)
        except RuntimeError:  # the others are gone already: nobody else will say it
            return True
        return rank_zero
    if _stage == "joining" or (_stage == "training" and not shared):
        return True
    return rank_zero


class RanksFailed(Hw3Error):
    """An input error that every rank holds (from `agree`): rank 0 reports it for all."""


def agree(world: World, problem: str | None) -> str | None:
    """Every rank's problem (or None) gathered: the first rank's that has one, named, or None when all are
    fine. Every rank calls it at the same point, so all fail together with the same message, or none does."""
    if world.size == 1:
        return problem
    problems: list = [None] * world.size
    dist.all_gather_object(problems, problem)
    return next((f"rank {rank}: {p}" if rank != world.rank else p for rank, p in enumerate(problems) if p), None)


def any_rank(world: World, flag: bool, device: torch.device) -> bool:
    """True on every rank if it is true on any (a stop request seen by one rank stops all at the same step)."""
    if world.size == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def batch_mean(world: World, values: torch.Tensor, share: float) -> torch.Tensor:
    """The global batch's mean of `values` from each rank's mean over its part (`share`: World.share)."""
    if world.size == 1:
        return values
    values = values * share
    dist.all_reduce(values)
    return values


def total(world: World, values: torch.Tensor) -> torch.Tensor:
    """`values` summed over ranks (counts)."""
    if world.size == 1:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values


def average_gradients(world: World, parameters: Iterable[torch.nn.Parameter], share: float) -> None:
    """The global batch's gradient on every rank, in one collective: each rank's gradient (of its part's mean)
    weighted by its `share` and summed. For the steps DDP's wrapper cannot follow: a generator forward that serves
    several critic steps, a look-ahead copy of the critic."""
    if world.size == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch._utils._flatten_dense_tensors(grads) * share
    dist.all_reduce(flat)
    for grad, averaged in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
        grad.copy_(averaged)


def for_ddp(world: World, loss: torch.Tensor, share: float) -> torch.Tensor:
    """The loss to call backward() on under DistributedDataParallel, which averages the ranks' gradients with
    equal weights: scaled so that the average is the global batch's gradient when the parts differ in size."""
    return loss if world.size == 1 else loss * (share * world.size)


def from_leader(world: World, value):
    """Rank 0's `value` on every rank (a decision the ranks must take together, e.g. early stopping)."""
    if world.size == 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def parallel(world: World, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around `model` under torchrun (gradients averaged during backward); the model
    itself when alone."""
    if world.size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
