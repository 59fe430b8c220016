"""`hw3cli judge`: a small CNN trained from scratch on Fashion-MNIST's training images, the sample-quality judge
that shares nothing with the GANs it grades."""

from __future__ import annotations

from hw3cli.configs import JudgeConfig
from hw3cli.core.wording import counted
from hw3cli.experiments import display
from hw3cli.experiments.classify import fit
from hw3cli.experiments.lifecycle import TrainingRun
from hw3cli.models.judge import Judge

RUN_FILES = ("judge.safetensors", "config.json", "metrics.json", "timings.json", "accuracy.png", "confusion.png")


def run(config: JudgeConfig) -> int:
    job = TrainingRun(config, "judge", RUN_FILES)
    _, metrics = fit(job, config, lambda: (Judge(config.channels, config.hidden, config.dropout), {}),
                     "judge.safetensors", f"the judge: a CNN (channels {config.channels[0]}, {config.channels[1]}) "
                     "trained from scratch on Fashion-MNIST")
    worst = min(metrics["per_class_accuracy"], key=metrics["per_class_accuracy"].get)
    display.stdout().print(f"judge: test accuracy [bold]{100 * metrics['test_accuracy']:.2f}%[/] (lowest: {worst} "
                           f"{100 * metrics['per_class_accuracy'][worst]:.1f}%) after "
                           f"{counted(config.epochs, 'epoch')}, {metrics['total_seconds']:.0f} s in {job.precision} "
                           f"-> {job.dir}")
    return 0
