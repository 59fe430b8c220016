"""One run of a training command, from its checks to its finished folder. Every training command (train-gan,
train-gru, train-mlp, classify, rnn-add --learn) goes through it, so what is common to them is written once:

    job = TrainingRun(config, "train-gan", RUN_FILES)  # folder and --resume checked, device and precision
    generator = job.seed()  # right before the weights are made
    job.track(modules={"G": generator}, optimizers={"G": opt_g}, generators={"batches": rng})
    state, extra = job.restore(PROGRESS)  # ({}, {}) unless --resume; PROGRESS: the record's schema
    with job.training() as bar:  # the progress bar, graceful Ctrl-C/SIGTERM, --deterministic/--detect-anomaly
        for record in job.watch(loop, "epoch", lambda: len(epochs)):  # a stop request ends here, saved
            ...
            job.save(state, extra)  # after every finished epoch, beside the run folder
    job.finish(metrics, write_files)  # config.json, metrics.json, then write_files(folder); atomic

Under torchrun the same code runs on every rank: each takes its own device (LOCAL_RANK), the process group forms
here, a stop request or an input error on any rank stops every rank at the same point, and only rank 0 draws the
bar and writes files (the others write nothing).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import shutil
import typing
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress

from hw3cli.core import distributed, matmul
from hw3cli.core.device import resolve_device
from hw3cli.core.files import atomic_folder, lock_folder
from hw3cli.core.hardware import machine_record, probe_times
from hw3cli.core.numerics import numerics
from hw3cli.core.resume import RESUME_IGNORES, load_state, save_state, saved_record, state_file
from hw3cli.core.runs import check_run_folder, config_record, write_config, write_metrics
from hw3cli.core.seeding import seed_everything
from hw3cli.core.stopping import graceful_stop
from hw3cli.core.wording import counted
from hw3cli.errors import Hw3Error, Interrupted
from hw3cli.experiments import display
from hw3cli.options import parsing


class TrainingRun:
    """A training command's run folder, device, precision, seeding and resumable state."""

    def __init__(self, config: Any, command: str, run_files: tuple[str, ...]):
        self.config, self.command, self.dir = config, command, Path(config.run_dir)
        options = config.runtime
        world = distributed.from_environment()
        display.quiet(not world.leader)  # one bar and one set of messages: rank 0's
        self.world = distributed.start(world, options.device)  # under torchrun; a refusal now reaches every rank
        # Refusals first: they cost nothing before any data is read or any weight is made (every rank checks the
        # same folder: under torchrun it lives on a file system they share).
        check_run_folder(self.dir, command, run_files, options.overwrite or options.resume, self.world.leader)
        self.state_file = state_file(self.dir)
        if self.world.leader:  # one writer per run: a second process for the same folder stops here
            lock_folder(self.state_file.parent, f"--out {self.dir}")
            # and a run another process finished while this one started is not replaced unasked
            check_run_folder(self.dir, command, run_files, options.overwrite or options.resume)
        if options.resume and not self.state_file.is_file():
            raise Hw3Error(f"--resume: no interrupted run to continue ({self.state_file} does not exist)")
        self.device = resolve_device(distributed.device_for(self.world, options.device), options.threads)
        saved = saved_record(self.state_file) if options.resume else {}
        # (a run saved before --matmul existed computed its products with torch)
        self.precision, self.matmul = self._numerics(config, saved, saved.get("matmul", "torch") if saved else None)
        self.record = config_record(command, config)["config"]
        self._parts: tuple[dict, dict, dict] = ({}, {}, {})

    def _numerics(self, config: Any, saved: dict, saved_library: Any) -> tuple[str, str]:
        """The precision and the library of the dense layers' CPU fp32 products. `auto` precision weighs bf16 against
        fp32 on that library (`dense_products`: the config's layer shapes); the library is torch's on another device
        and under bf16 autocast (whose products are torch's bf16 ones). --resume under `auto` keeps what the run began
        with where it runs here; under torchrun rank 0 decides for every rank."""
        options = config.runtime
        requested = saved.get("precision") if options.precision == "auto" and saved.get("precision") in (
            "fp32", "bf16") else options.precision
        decided, problem = None, None
        self.precision_probe: dict | None = None  # what --precision auto's probe measured, where one decided
        if self.world.leader:
            try:
                @functools.cache
                def library() -> str:  # resolved only where fp32 may be chosen
                    wanted = getattr(options, "matmul", "torch")
                    resumed = wanted == "auto" and saved_library in matmul.LIBRARIES and \
                        not matmul.unavailable(saved_library)
                    return saved_library if resumed else matmul.resolve(wanted)

                # each rank multiplies its part of a batch: rank 0's part is probed
                shapes = tuple((len(range(rows)[self.world.part(rows)]), fan_in, fan_out)
                               for rows, fan_in, fan_out in getattr(config, "dense_products", ()))
                precision, self.precision_probe = display.use_precision(
                    requested, self.device, getattr(config, "bf16_keeps_quality", True), shapes, library)
                if requested != options.precision:  # resumed under auto: why the run began in this precision
                    self.precision_probe = _probe_record(saved.get("precision_probe_ms"))
                decided = (precision, "torch" if self.device.type != "cpu" or precision == "bf16" else library())
            except Hw3Error as exc:
                problem = str(exc)
        problem = distributed.from_leader(self.world, problem)
        if problem:
            raise Hw3Error(problem)
        return distributed.from_leader(self.world, decided)

    def machine(self, device: torch.device | None = None) -> dict:
        """What the run computed on, for timings.json: the machine, its precision and its product library."""
        return machine_record(device or self.device, self.precision, matmul.describe(self.matmul), self.precision_probe)

    def parallel(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model to train: DistributedDataParallel under torchrun, the model itself alone."""
        return distributed.parallel(self.world, model, self.device)

    def seed(self) -> torch.Generator:
        """Seed Python, NumPy and torch from --seed, and return a CPU generator for batch orders and augmentation.
        Called right before the weights are made, after any checkpoint is read (building a model draws from
        torch's generator)."""
        return seed_everything(self.config.runtime.seed)

    def track(self, modules: dict[str, torch.nn.Module] | None = None,
              optimizers: dict[str, torch.optim.Optimizer] | None = None,
              generators: dict[str, torch.Generator] | None = None) -> None:
        """What the resumable state holds beside each epoch's record: weights, optimizer states, generators."""
        self._parts = (modules or {}, optimizers or {}, generators or {})

    def restore(self, schema: dict) -> tuple[dict, dict[str, torch.Tensor]]:
        """With --resume: the tracked parts restored, and the saved record and extra tensors; else ({}, {})."""
        if not self.config.runtime.resume:
            if self.world.size > 1:  # the weights are made (the same on every rank): from here each rank draws
                torch.manual_seed(self.config.runtime.seed + self.world.rank)  # its own dropout masks
            return {}, {}
        state, extra = load_state(self.state_file, f"{self.command}-progress", *self._parts, self.record,
                                  RESUME_IGNORES, schema, {"precision": self.precision, "world_size": self.world.size})
        own = f"rng.rank{self.world.rank}"
        if own in extra:  # each rank's own generators (dropout), saved by rank 0 for all
            torch.set_rng_state(extra[own])
            if f"{own}.cuda" in extra:
                torch.cuda.set_rng_state(extra[f"{own}.cuda"], self.device)
        return state, {k: v for k, v in extra.items() if not k.startswith("rng.rank")}

    @contextlib.contextmanager
    def training(self) -> Iterator[Progress]:
        """The progress bar (on stderr), graceful stops, and the numerics switches, for the length of the loop."""
        options = self.config.runtime
        # Every rank has its inputs by now, or has failed with a one-line error that the others now share.
        problem = distributed.agree(self.world, None)
        distributed.settled(self.world)
        if problem:
            raise distributed.RanksFailed(problem)
        # Under torchrun a Ctrl-C reaches every rank twice (from the terminal and forwarded by torchrun): only a
        # lone process treats the second one as "stop now".
        with display.progress_bar() as bar, graceful_stop(repeat_stops_now=self.world.size == 1) as self._stop, \
                numerics(options.deterministic, options.detect_anomaly), matmul.products(self.matmul):
            yield bar

    def watch(self, records: Iterable[dict], unit: str, done: Callable[[], int]) -> Iterator[dict]:
        """The loop's records, until a stop is asked for: then the one message saying what is saved."""
        for record in records:
            if distributed.any_rank(self.world, self._stop.requested, self.device):
                saved = done()
                raise Interrupted(
                    f"hw3cli: interrupted in {unit} {record[unit]}; the {counted(saved, 'finished ' + unit)} "
                    f"{'is' if saved == 1 else 'are'} saved in {self.state_file.parent}. Continue with the same "
                    "command and --resume.", self._stop.exit_code)
            yield record

    def save(self, state: dict, extra: dict[str, torch.Tensor] | None = None) -> None:
        """The resumable state after a finished epoch (seed): the tracked parts, `state` and `extra` tensors.
        Every rank calls it; rank 0 writes it, with every rank's own random-number generator."""
        extra = dict(extra or {})
        if self.world.size > 1:
            states: list = [None] * self.world.size
            on_gpu = self.device.type == "cuda"
            torch.distributed.all_gather_object(states, (torch.get_rng_state(),
                                                         torch.cuda.get_rng_state(self.device) if on_gpu else None))
            for rank, (cpu, gpu) in enumerate(states):
                extra.update({f"rng.rank{rank}": cpu, **({f"rng.rank{rank}.cuda": gpu} if on_gpu else {})})
        if self.world.leader:
            save_state(self.state_file, f"{self.command}-progress", *self._parts,
                       {**state, "precision": self.precision, "matmul": self.matmul, "world_size": self.world.size,
                        "config": self.record, **({"precision_probe_ms": self.precision_probe}
                                                  if self.precision_probe else {})},
                       extra)

    def finish(self, metrics: dict, write_files: Callable[[Path], None]) -> None:
        """The finished run folder, built aside and swapped into place by rank 0: config.json, metrics.json (and
        timings.json, with the machine and the world), then `write_files(folder)`. The resumable state goes last."""
        world = {"size": self.world.size, "backend": self.world.backend}
        if self.world.leader:
            with atomic_folder(self.dir) as folder:
                write_config(folder, self.command, self.config, {"world": world})
                write_metrics(folder, {**metrics, "world": world})
                write_files(folder)
            shutil.rmtree(self.state_file.parent, ignore_errors=True)
        if self.world.size > 1:  # every rank returns once the files are there
            torch.distributed.barrier()
        distributed.finished()


def _probe_record(saved: Any) -> dict | None:
    """--precision auto's probe as a progress file kept it ({"fp32": ms, "bf16": ms}), or None where it is not one."""
    return saved if isinstance(saved, dict) and set(saved) == {"fp32", "bf16"} and probe_times(saved) else None


def resumed_options(config: Any) -> Any:
    """`config` as --resume continues it: a recipe option left out (None: its default, configs' RECIPE fields)
    takes the value the run began with, so a run resumes as it began where a default has changed since. A saved
    value outside the option's range or choices is not taken (load_state then names the difference)."""
    if not config.runtime.resume:
        return config
    saved = saved_record(state_file(Path(config.run_dir))).get("config", {})
    hints = typing.get_type_hints(type(config))
    fields = {f.name: f for f in dataclasses.fields(config)}
    taken = {name: saved[name] for name in getattr(config, "RECIPE", ())
             if getattr(config, name) is None and _fits(saved.get(name), fields[name], hints[name])}
    return dataclasses.replace(config, **taken)


def _fits(value: Any, field: dataclasses.Field, hint: Any) -> bool:
    """Whether `value`, read back from a progress file, is one the option `field` would accept."""
    kinds = [k for k in typing.get_args(hint) if k is not type(None)]
    if value is None or isinstance(value, bool) or bool in kinds:
        return isinstance(value, bool) and bool in kinds
    choices = [c for k in kinds for c in typing.get_args(k)]
    if choices:
        return value in choices
    parse = parsing(field, hint, None)[0]
    try:
        return parse is not None and parse(str(value)) == value
    except ValueError:
        return False
