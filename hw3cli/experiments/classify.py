"""`hw3cli classify`: D's architecture with 10 outputs, initialised from a trained discriminator and
fine-tuned on Fashion-MNIST, to measure what generators produce."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from hw3cli.configs import ClassifyConfig
from hw3cli.core.checkpoint import save_checkpoint
from hw3cli.core.wording import counted
from hw3cli.data.fashion_mnist import CLASSES, load_fashion_mnist
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.lifecycle import TrainingRun
from hw3cli.models.gan import Classifier, load_discriminator
from hw3cli.plots.classifier import accuracy_curve, confusion_matrix
from hw3cli.train.fashion_classifier import (
    ClassifierSettings,
    accuracy,
    adamw_with_cosine,
    predict,
    train_fashion_classifier,
)

# The progress file's record (what --resume reads back): each finished epoch and the learning-rate schedule.
PROGRESS = {"epochs": [{"epoch": int, "step": int}], "schedule": dict}
RUN_FILES = ("classifier.safetensors", "config.json", "metrics.json", "timings.json", "accuracy.png",
             "confusion.png")


def run(config: ClassifyConfig) -> int:
    job = TrainingRun(config, "classify", RUN_FILES)
    source = None if config.from_scratch or not config.init_from else load_discriminator(config.init_from)

    def make_model() -> tuple[Classifier, dict]:
        model, copied = build_classifier(config, source)
        return model, {"initialised_from": None if source is None else str(config.init_from), "layers_copied": copied}

    start = "random weights" if source is None else config.init_from
    model, metrics = fit(job, config, make_model, "classifier.safetensors",
                         f"Fashion-MNIST classifier (D's architecture, 10 outputs), initialised from {start}")
    start = ("from scratch" if source is None
             else f"from {config.init_from}'s discriminator ({metrics['layers_copied']} layers)")
    display.stdout().print(f"classify ({start}): test accuracy [bold]{100 * metrics['test_accuracy']:.2f}%[/] after "
                           f"{counted(config.epochs, 'epoch')}, {metrics['total_seconds']:.0f} s in {job.precision} "
                           f"-> {job.dir}")
    return 0


def fit(job: TrainingRun, config, make_model: Callable[[], tuple[torch.nn.Module, dict]], checkpoint: str,
        title: str) -> tuple[torch.nn.Module, dict]:
    """Train an image classifier (`make_model()` gives it and the first fields of its metrics) on Fashion-MNIST's
    training images less the last `config.validation`, test it, and finish the run folder. Shared by classify and
    judge, whose configs name the same training options."""
    data = load_fashion_mnist(config.data.data_dir, config.data.download)
    images, labels = data.training(config.data.limit)
    if len(images) <= config.validation + config.batch_size:
        raise Hw3Error(f"{len(images)} training images are too few for --validation {config.validation}")
    batches = job.seed()
    model, header = make_model()
    model.to(job.device)
    split = len(images) - config.validation
    if config.batch_size < job.world.size:
        raise Hw3Error(f"--batch-size {config.batch_size} is smaller than the {job.world.size} torchrun processes, "
                       "each of which takes its part of every batch")
    settings = ClassifierSettings(config.epochs, config.batch_size, config.lr, config.weight_decay,
                                  config.label_smoothing, config.shift, config.flip, job.precision)
    steps = config.epochs * (split // config.batch_size)
    optimizer, schedule = adamw_with_cosine(model, settings, split)
    job.track({"model": model}, {"model": optimizer}, {"batches": batches})
    state, _ = job.restore(PROGRESS)
    epochs, resume_at = state.get("epochs", []), {}
    if epochs:
        try:
            schedule.load_state_dict(state["schedule"])
        except (KeyError, TypeError, ValueError):
            raise Hw3Error(f"--resume: {job.state_file} holds no usable learning-rate schedule") from None
        resume_at = {"start_epoch": epochs[-1]["epoch"] + 1, "step": epochs[-1]["step"]}
    started, device = time.perf_counter(), job.device
    with job.training() as bar:
        task = bar.add_task(job.command, total=steps, completed=steps * len(epochs) // config.epochs, status="")
        note = ""
        for record in job.watch(train_fashion_classifier(
                job.parallel(model), images[:split].to(device), labels[:split].to(device), images[split:].to(device),
                labels[split:].to(device), settings, batches, optimizer, schedule, **resume_at, world=job.world),
                "epoch", lambda: len(epochs)):
            if record["event"] == "batch":
                if record["step"] % 20 == 0:
                    bar.update(task, completed=record["step"],
                               status=f"epoch {record['epoch']}  loss {record['loss']:.3f}{note}")
                continue
            epochs.append({k: v for k, v in record.items() if k != "event"})
            note = f"  val acc {100 * record['val_accuracy']:.1f}%"
            job.save({"epochs": epochs, "schedule": schedule.state_dict()})
        bar.update(task, completed=steps)
    metrics = {**header, "epochs": epochs, **test_metrics(model, data, device),
               "total_seconds": time.perf_counter() - started, "precision": job.precision,
               "machine": job.machine(device)}

    def write_files(folder):
        save_checkpoint(folder / checkpoint, model.state_dict(), model.kind, model.args)
        accuracy_curve(metrics, folder / "accuracy.png", title)
        confusion_matrix(metrics, folder / "confusion.png")

    job.finish(metrics, write_files)
    return model, metrics


def build_classifier(config: ClassifyConfig, source) -> tuple[Classifier, int]:
    """The classifier and how many of its layers came from the discriminator `source` (None: from scratch)."""
    hidden = tuple(source.args["hidden"]) if source is not None else (1024, 512, 256)
    model = Classifier(hidden, config.dropout)
    try:
        return model, model.load_hidden_from(source) if source is not None else 0
    except ValueError:
        raise Hw3Error(f"{config.init_from}'s discriminator does not fit a classifier (a conditional D takes 794 "
                       "inputs, not 784); use an unconditional run or --from-scratch") from None


def test_metrics(model: Classifier, data, device: torch.device) -> dict:
    """Test accuracy, overall and per class, and the confusion matrix (rows: true class)."""
    test_images, test_labels = data.test_images.to(device), data.test_labels.to(device)
    probs, _ = predict(model, test_images.float() / 255)
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    confusion.index_put_((test_labels.cpu(), probs.argmax(1).cpu()), torch.ones(len(test_labels), dtype=torch.int64),
                         accumulate=True)
    return {"test_accuracy": accuracy(model, test_images, test_labels),
            "per_class_accuracy": {c: float(confusion[i, i] / confusion[i].sum()) for i, c in enumerate(CLASSES)},
            "confusion": confusion.tolist()}
