"""`hw3cli train-gru` and `hw3cli train-mlp`: Problem 1's two sentiment classifiers, trained by one loop on the
output of `hw3cli preprocess`; the run folder keeps the best-by-dev weights and the vocabulary they read."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from hw3cli.configs import GRUConfig, MLPConfig
from hw3cli.core.checkpoint import save_checkpoint
from hw3cli.core.files import atomic_write_bytes, read_input
from hw3cli.core.memory import require_model
from hw3cli.core.schema import Number
from hw3cli.data.encoded_imdb import load_sentiment_data
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.lifecycle import TrainingRun
from hw3cli.models.sentiment import GRUClassifier, MLPClassifier
from hw3cli.plots.curves import classifier_curves
from hw3cli.train.sentiment import SentimentSettings, evaluate, sentiment_optimizer, train_sentiment

# The progress file's record (what --resume reads back): each finished epoch and early stopping's state.
PROGRESS = {"epochs": [{"epoch": int, "best_accuracy": Number, "stale": int, "step": int}], "best_epoch": int}
RUN_FILES = ("model.safetensors", "vocab.json", "config.json", "metrics.json", "timings.json", "curves.png")


def build(config: GRUConfig | MLPConfig, vocab_size: int, max_len: int) -> torch.nn.Module:
    if isinstance(config, GRUConfig):
        return GRUClassifier(vocab_size, config.embed_dim, config.hidden, config.layers, config.dropout)
    return MLPClassifier(vocab_size, max_len, config.input, config.embed_dim, config.hidden, config.dropout)


def run(config: GRUConfig | MLPConfig) -> int:
    command = "train-gru" if isinstance(config, GRUConfig) else "train-mlp"
    job = TrainingRun(config, command, RUN_FILES)
    data = load_sentiment_data(config.data_dir)
    batches = job.seed()
    sizes = " ".join(f"--{k.replace('_', '-')} {getattr(config, k)}" for k in ("embed_dim", "hidden", "batch_size"))
    require_model(lambda: build(config, len(data.vocab), data.max_len), f"{sizes} with {len(data.vocab):,} words",
                  4 * 8 * config.batch_size * data.max_len * (config.embed_dim + 3 * config.hidden))
    model = build(config, len(data.vocab), data.max_len).to(job.device)
    settings = SentimentSettings(config.epochs, config.batch_size, config.lr, config.weight_decay, config.clip,
                                 config.patience, config.bucket, job.precision)
    steps_per_epoch = batches_per_epoch(len(data.splits["train"]["labels"]), config.batch_size, job.world.size)
    optimizer = sentiment_optimizer(model, settings)
    job.track({"model": model}, {"model": optimizer}, {"batches": batches})
    state, extra = job.restore(PROGRESS)
    epochs, best_epoch, resume_at = state.get("epochs", []), state.get("best_epoch", 0), {}
    best_state = {k[len("best."):]: v for k, v in extra.items() if k.startswith("best.")} or None
    if epochs:
        if best_state is None or set(best_state) != set(model.state_dict()):
            raise Hw3Error(f"--resume: {job.state_file} lacks the best weights so far; delete "
                           f"{job.state_file.parent} to start over")
        last = epochs[-1]
        resume_at = {"start_epoch": last["epoch"] + 1, "best": last["best_accuracy"], "stale": last["stale"],
                     "step": last["step"]}
    started = time.perf_counter()
    with job.training() as bar:
        task = bar.add_task(command, total=steps_per_epoch * config.epochs, completed=steps_per_epoch * len(epochs),
                            status="")
        dev_note = ""
        for record in job.watch(train_sentiment(job.parallel(model), data.splits, settings, batches, job.device,
                                                optimizer, **resume_at, world=job.world), "epoch", lambda: len(epochs)):
            if record["event"] == "batch":
                bar.update(task, advance=1, status=f"epoch {record['epoch']}  loss {record['loss']:.3f}{dev_note}")
                continue
            if record["improved"]:
                best_state, best_epoch = record.pop("state"), record["epoch"]
            epochs.append({k: v for k, v in record.items() if k != "event"})
            dev_note = f"  dev acc {100 * record['dev_accuracy']:.1f}%"
            bar.update(task, completed=steps_per_epoch * record["epoch"])
            job.save({"epochs": epochs, "best_epoch": best_epoch}, {f"best.{k}": v for k, v in best_state.items()})
        bar.update(task, total=bar.tasks[0].completed)
    model.load_state_dict(best_state)
    metrics = final_metrics(config, job, model, data, epochs, best_epoch, started)
    job.finish(metrics, lambda folder: write_files(folder, config, command, model, data, metrics))
    display.stdout().print(
        f"{command}: best dev accuracy {100 * metrics['dev_accuracy']:.2f}% (epoch {best_epoch}), "
        f"test accuracy [bold]{100 * metrics['test_accuracy']:.2f}%[/], {metrics['seconds_per_epoch']:.0f} s/epoch "
        f"in {job.precision} -> {job.dir}")
    return 0


def batches_per_epoch(reviews: int, batch_size: int, ranks: int) -> int:
    """Steps in an epoch of `reviews`; refuses a batch the torchrun ranks cannot share."""
    if batch_size < ranks:
        raise Hw3Error(f"--batch-size {batch_size} is smaller than the {ranks} torchrun processes, each of which "
                       "takes its part of every batch")
    if 0 < reviews % batch_size < ranks:
        raise Hw3Error(f"the last batch of each epoch ({reviews % batch_size} of {reviews} reviews) is too small to "
                       f"share over {ranks} torchrun processes; choose another --batch-size")
    return -(-reviews // batch_size)


def write_files(folder: Path, config, command: str, model, data, metrics: dict) -> None:
    """The run folder's model (with what it reads: the vocabulary's hash, length and truncation) and figure."""
    save_checkpoint(folder / "model.safetensors", model.state_dict(), model.kind, model.args,
                    {"vocab_sha256": data.vocab_sha256, "max_len": str(data.max_len),
                     "truncate": data.truncate, "bucket": str(config.bucket)})
    # The very bytes the model's vocab_sha256 was taken of.
    atomic_write_bytes(folder / "vocab.json", read_input(config.data_dir / "vocab.json", "vocabulary"))
    classifier_curves(metrics, folder / "curves.png", f"{command} ({describe(model)})")


def final_metrics(config, job: TrainingRun, model, data, epochs, best_epoch, started: float) -> dict:
    """Dev and test accuracy of the best-by-dev weights, and what the run cost."""
    dev = evaluate(model, data.splits["dev"], job.device, bucket=config.bucket, precision=job.precision)
    test = evaluate(model, data.splits["test"], job.device, bucket=config.bucket, precision=job.precision)
    return {
        "model": model.kind,
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": epochs,
        "best_epoch": best_epoch,
        "dev_accuracy": dev["accuracy"],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "seconds_per_epoch": sum(e["seconds"] for e in epochs) / len(epochs),
        "total_seconds": time.perf_counter() - started,
        "device": str(job.device),
        "threads": torch.get_num_threads(),
        "precision": job.precision,
        "machine": job.machine(),
    }


def describe(model: torch.nn.Module) -> str:
    args = model.args
    if model.kind == GRUClassifier.kind:
        return f"embedding {args['embed_dim']}, GRU {args['hidden']} x {args['layers']}"
    return f"input {args['input']}, hidden {args['hidden']}"
