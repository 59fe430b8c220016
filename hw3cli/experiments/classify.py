"""`hw3cli classify`: D's architecture with 10 outputs, initialised from a trained discriminator and
fine-tuned on Fashion-MNIST, to measure what generators produce."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from hw3cli.core.checkpoint import load_model, save_checkpoint
from hw3cli.core.device import resolve_device
from hw3cli.core.files import atomic_folder, where
from hw3cli.core.hardware import PRECISIONS, machine_record
from hw3cli.core.numerics import numerics
from hw3cli.core.progress import RESUME_IGNORES, load_progress, progress_file, save_progress
from hw3cli.core.runs import check_run_folder, config_record, write_config, write_metrics
from hw3cli.core.schema import PROGRESS
from hw3cli.core.seeding import seed_everything
from hw3cli.core.stopping import graceful_stop
from hw3cli.data.fashion_mnist import CLASSES, load_fashion_mnist
from hw3cli.errors import Hw3Error, Interrupted
from hw3cli.experiments import display
from hw3cli.models.gan import Classifier, Discriminator
from hw3cli.plots.classifier import accuracy_curve, confusion_matrix
from hw3cli.train.image_classifier import (
    ClassifierSettings,
    accuracy,
    make_optimizer,
    predict,
    train_image_classifier,
)

RUN_FILES = ("classifier.safetensors", "config.json", "metrics.json", "timings.json", "accuracy.png",
             "confusion.png")


@dataclass(frozen=True)
class ClassifyConfig:
    init_from: Path | None = Path("artifacts/gan/vanilla")  # a train-gan run whose D initialises the hidden layers
    from_scratch: bool = False  # ignore init_from: random initial weights
    out_dir: Path = Path("artifacts/gan/classifier")  # run folder
    epochs: int = 30  # passes over the training images
    batch_size: int = 128  # images per step
    lr: float = 1e-3  # AdamW peak learning rate (cosine decay to 0)
    weight_decay: float = 5e-4  # AdamW weight decay
    dropout: float = 0.2  # after every hidden layer
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    shift: int = 0  # random shifts of up to this many pixels (an MLP is not shift-invariant: 1 px cost 0.5 points)
    flip: bool = True  # random horizontal flips
    validation: int = 5000  # training images held out to watch accuracy per epoch
    seed: int = 0  # seeds weights, batch order and augmentation
    precision: str = "auto"  # auto (bf16 autocast where the device has native bf16, else fp32), fp32 or bf16
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    deterministic: bool = False  # PyTorch's deterministic kernels (CPU runs repeat exactly without it)
    detect_anomaly: bool = False  # autograd anomaly mode: name the backward op that made a NaN (slow)
    device: str = "auto"  # auto, cpu, cuda or mps
    data_dir: Path | None = None  # a folder with the four IDX files
    download: bool = False  # let torchvision download Fashion-MNIST
    limit: int = 0  # use the first N training images only (0: all)
    overwrite: bool = False  # replace a finished run in out_dir
    resume: bool = False  # continue the interrupted run whose progress is saved beside out_dir

    @property
    def progress_file(self) -> Path:
        return progress_file(self.out_dir)


def load_discriminator(run_dir: Path) -> Discriminator:
    path = Path(run_dir) / "discriminator.safetensors"
    if not os.path.lexists(path):
        raise Hw3Error(f"{where(run_dir)} holds no discriminator (discriminator.safetensors); train a GAN first, "
                       "or use --from-scratch")
    discriminator, _ = load_model(path, Discriminator.kind, lambda _, a: Discriminator(
        tuple(a["hidden"]), a.get("classes", 0), a.get("outputs", 1)), "discriminator")
    return discriminator


def load_classifier(run_dir: Path) -> Classifier:
    path = Path(run_dir) / "classifier.safetensors"
    if not os.path.lexists(path):
        raise Hw3Error(f"{where(run_dir)} is not a classify run (no classifier.safetensors)")
    model, _ = load_model(path, Classifier.kind, lambda _, a: Classifier(
        tuple(a["hidden"]), a.get("dropout", 0.0), a["classes"]), "classifier")
    if model.args["classes"] != len(CLASSES):
        raise Hw3Error(f"{path} classifies {model.args['classes']} classes, not the {len(CLASSES)} of Fashion-MNIST")
    return model.eval()


def run(config: ClassifyConfig) -> int:
    if config.epochs < 1 or config.batch_size < 1:
        raise Hw3Error("--epochs and --batch-size must be at least 1")
    if not 0 <= config.dropout < 1 or config.lr <= 0 or config.shift < 0 or config.validation < 1:
        raise Hw3Error("--dropout must be in [0, 1), --lr positive, --shift >= 0, --validation >= 1")
    if config.precision not in PRECISIONS:
        raise Hw3Error(f"--precision must be one of {', '.join(PRECISIONS)}, not '{config.precision}'")
    if config.resume and not config.progress_file.is_file():
        raise Hw3Error(f"--resume: no interrupted run to continue ({config.progress_file} does not exist)")
    check_run_folder(config.out_dir, "classify", RUN_FILES, config.overwrite or config.resume)
    source = None if config.from_scratch else load_discriminator(config.init_from) if config.init_from else None
    device = resolve_device(config.device, config.threads)
    precision = display.use_precision(config.precision, device)
    data = load_fashion_mnist(config.data_dir, config.download)
    images, labels = data.training(config.limit)
    if len(images) <= config.validation + config.batch_size:
        raise Hw3Error(f"{len(images)} training images are too few for --validation {config.validation}")
    generator = seed_everything(config.seed)
    hidden = tuple(source.args["hidden"]) if source is not None else (1024, 512, 256)
    model = Classifier(hidden, config.dropout)
    try:
        copied = model.load_hidden_from(source) if source is not None else 0
    except ValueError:
        raise Hw3Error(f"{config.init_from}'s discriminator does not fit a classifier (a conditional D takes 794 "
                       "inputs, not 784); use an unconditional run or --from-scratch") from None
    model.to(device)
    split = len(images) - config.validation
    settings = ClassifierSettings(config.epochs, config.batch_size, config.lr, config.weight_decay,
                                  config.label_smoothing, config.shift, config.flip, precision)
    steps = config.epochs * (split // config.batch_size)
    optimizer, schedule = make_optimizer(model, settings, split)
    epochs, started, resume_at = [], time.perf_counter(), {}
    parts = ({"model": model}, {"model": optimizer}, {"batches": generator})
    record_now = config_record("classify", config)["config"]
    if config.resume:
        state, _ = load_progress(config.progress_file, "classify-progress", *parts, record_now, RESUME_IGNORES,
                                 PROGRESS["classify"], {"precision": precision})
        try:
            schedule.load_state_dict(state["schedule"])
        except (KeyError, TypeError, ValueError):
            raise Hw3Error(f"--resume: {config.progress_file} holds no usable learning-rate schedule") from None
        epochs = state["epochs"]
        resume_at = {"start_epoch": epochs[-1]["epoch"] + 1, "step": epochs[-1]["step"]}
    with display.progress_bar() as bar, graceful_stop() as stop, numerics(config.deterministic,
                                                                          config.detect_anomaly):
        task = bar.add_task("classify", total=steps, completed=steps * len(epochs) // config.epochs, status="")
        note = ""
        for record in train_image_classifier(model, images[:split].to(device), labels[:split].to(device),
                                             images[split:].to(device), labels[split:].to(device), settings,
                                             generator, optimizer, schedule, **resume_at):
            if stop.requested:
                raise Interrupted(
                    f"hw3cli: interrupted in epoch {record['epoch']}; the {len(epochs)} finished epochs are saved in "
                    f"{config.progress_file.parent}. Continue with the same command and --resume.", stop.exit_code)
            if record["event"] == "batch":
                if record["step"] % 20 == 0:
                    bar.update(task, completed=record["step"],
                               status=f"epoch {record['epoch']}  loss {record['loss']:.3f}{note}")
                continue
            epochs.append({k: v for k, v in record.items() if k != "event"})
            note = f"  val acc {100 * record['val_accuracy']:.1f}%"
            save_progress(config.progress_file, "classify-progress", *parts,
                          {"epochs": epochs, "schedule": schedule.state_dict(), "config": record_now,
                           "precision": precision})
        bar.update(task, completed=steps)
    test_images, test_labels = data.test_images.to(device), data.test_labels.to(device)
    probs, _ = predict(model, test_images.float() / 255)
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    confusion.index_put_((test_labels.cpu(), probs.argmax(1).cpu()), torch.ones(len(test_labels), dtype=torch.int64),
                         accumulate=True)
    metrics = {
        "initialised_from": None if source is None else str(config.init_from),
        "layers_copied": copied,
        "epochs": epochs,
        "test_accuracy": accuracy(model, test_images, test_labels),
        "per_class_accuracy": {c: float(confusion[i, i] / confusion[i].sum()) for i, c in enumerate(CLASSES)},
        "confusion": confusion.tolist(),
        "total_seconds": time.perf_counter() - started,
        "precision": precision,
        "machine": machine_record(device, precision),
    }
    with atomic_folder(config.out_dir) as tmp:
        save_checkpoint(tmp / "classifier.safetensors", model.state_dict(), Classifier.kind, model.args)
        write_config(tmp, "classify", config)
        write_metrics(tmp, metrics)
        accuracy_curve(metrics, tmp / "accuracy.png")
        confusion_matrix(metrics, tmp / "confusion.png")
    shutil.rmtree(config.progress_file.parent, ignore_errors=True)
    start = "from scratch" if source is None else f"from {config.init_from}'s discriminator ({copied} layers)"
    display.stdout().print(f"classify ({start}): test accuracy [bold]{100 * metrics['test_accuracy']:.2f}%[/] "
                           f"after {config.epochs} epochs, {metrics['total_seconds']:.0f} s -> {config.out_dir}")
    return 0
