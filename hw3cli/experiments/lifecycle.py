"""One run of a training command, from its checks to its finished folder. Every training command (train-gan,
train-gru, train-mlp, classify, rnn-add --learn) goes through it, so what is common to them is written once:

    run = TrainingRun(config, "train-gan", RUN_FILES)  # folder and --resume checked, device and precision
    generator = run.seed()  # right before the weights are made
    run.track(modules={"G": generator}, optimizers={"G": opt_g}, generators={"batches": rng})
    state, extra = run.restore(RESUME_STATE["train-gan"])  # ({}, {}) unless --resume
    with run.training() as bar:  # the progress bar, graceful Ctrl-C/SIGTERM, --deterministic/--detect-anomaly
        for record in run.watch(loop, "epoch", lambda: len(epochs)):  # a stop request ends here, saved
            ...
            run.save(state, extra)  # after every finished epoch, beside the run folder
    with run.finish(metrics) as folder:  # config.json and metrics.json, then the command's files; atomic
        ...
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress

from hw3cli.core.device import resolve_device
from hw3cli.core.files import atomic_folder
from hw3cli.core.numerics import numerics
from hw3cli.core.resume import RESUME_IGNORES, load_state, save_state, state_file
from hw3cli.core.runs import check_run_folder, config_record, write_config, write_metrics
from hw3cli.core.seeding import seed_everything
from hw3cli.core.stopping import graceful_stop
from hw3cli.errors import Hw3Error, Interrupted
from hw3cli.experiments import display


class TrainingRun:
    """A training command's run folder, device, precision, seeding and resumable state."""

    def __init__(self, config: Any, command: str, run_files: tuple[str, ...]):
        self.config, self.command, self.dir = config, command, Path(config.run_dir)
        options = config.run
        # Refusals first: they cost nothing before any data is read or any weight is made.
        check_run_folder(self.dir, command, run_files, options.overwrite or options.resume)
        self.state_file = state_file(self.dir)
        if options.resume and not self.state_file.is_file():
            raise Hw3Error(f"--resume: no interrupted run to continue ({self.state_file} does not exist)")
        self.device = resolve_device(options.device, options.threads)
        self.precision = display.use_precision(options.precision, self.device)
        self.record = config_record(command, config)["config"]
        self._parts: tuple[dict, dict, dict] = ({}, {}, {})

    def seed(self) -> torch.Generator:
        """Seed Python, NumPy and torch from --seed, and return a CPU generator for batch orders and augmentation.
        Called right before the weights are made, after any checkpoint is read (building a model draws from
        torch's generator)."""
        return seed_everything(self.config.run.seed)

    def track(self, modules: dict[str, torch.nn.Module] | None = None,
              optimizers: dict[str, torch.optim.Optimizer] | None = None,
              generators: dict[str, torch.Generator] | None = None) -> None:
        """What the resumable state holds beside each epoch's record: weights, optimizer states, generators."""
        self._parts = (modules or {}, optimizers or {}, generators or {})

    def restore(self, schema: dict) -> tuple[dict, dict[str, torch.Tensor]]:
        """With --resume: the tracked parts restored, and the saved record and extra tensors; else ({}, {})."""
        if not self.config.run.resume:
            return {}, {}
        return load_state(self.state_file, f"{self.command}-progress", *self._parts, self.record, RESUME_IGNORES,
                          schema, {"precision": self.precision})

    @contextlib.contextmanager
    def training(self) -> Iterator[Progress]:
        """The progress bar (on stderr), graceful stops, and the numerics switches, for the length of the loop."""
        options = self.config.run
        with display.progress_bar() as bar, graceful_stop() as self._stop, numerics(options.deterministic,
                                                                                    options.detect_anomaly):
            yield bar

    def watch(self, records: Iterable[dict], unit: str, done: Callable[[], int]) -> Iterator[dict]:
        """The loop's records, until a stop is asked for: then the one message saying what is saved."""
        for record in records:
            if self._stop.requested:
                raise Interrupted(
                    f"hw3cli: interrupted in {unit} {record[unit]}; the {done()} finished {unit}s are saved in "
                    f"{self.state_file.parent}. Continue with the same command and --resume.", self._stop.exit_code)
            yield record

    def save(self, state: dict, extra: dict[str, torch.Tensor] | None = None) -> None:
        """The resumable state after a finished epoch (seed): the tracked parts, `state` and `extra` tensors."""
        save_state(self.state_file, f"{self.command}-progress", *self._parts,
                   {**state, "precision": self.precision, "config": self.record}, extra)

    @contextlib.contextmanager
    def finish(self, metrics: dict) -> Iterator[Path]:
        """The finished run folder, built aside and swapped into place: config.json and metrics.json (with
        timings.json), then whatever the command writes into the yielded folder. The resumable state goes last."""
        with atomic_folder(self.dir) as folder:
            write_config(folder, self.command, self.config)
            write_metrics(folder, metrics)
            yield folder
        shutil.rmtree(self.state_file.parent, ignore_errors=True)
