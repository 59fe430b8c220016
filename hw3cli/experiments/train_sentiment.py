"""`hw3cli train-gru` and `hw3cli train-mlp`: Problem 1's two sentiment classifiers, trained by one loop on the
output of `hw3cli preprocess`; the run folder keeps the best-by-dev weights and the vocabulary they read."""

from __future__ import annotations

import time

import torch

from hw3cli.configs import GRUConfig, MLPConfig
from hw3cli.core.checkpoint import save_checkpoint
from hw3cli.core.files import atomic_write_bytes, read_input
from hw3cli.core.hardware import machine_record
from hw3cli.core.memory import require_model
from hw3cli.core.schema import RESUME_STATE
from hw3cli.data.encoded_imdb import load_sentiment_data
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.lifecycle import TrainingRun
from hw3cli.models.sentiment import GRUClassifier, MLPClassifier
from hw3cli.plots.curves import classifier_curves
from hw3cli.train.sentiment import SentimentSettings, evaluate, sentiment_optimizer, train_sentiment

RUN_FILES = ("model.safetensors", "vocab.json", "config.json", "metrics.json", "timings.json", "curves.png")


def build(config: GRUConfig | MLPConfig, vocab_size: int, max_len: int) -> torch.nn.Module:
    if isinstance(config, GRUConfig):
        return GRUClassifier(vocab_size, config.embed_dim, config.hidden, config.layers, config.dropout)
    return MLPClassifier(vocab_size, max_len, config.input, config.embed_dim, config.hidden, config.dropout)


def run(config: GRUConfig | MLPConfig) -> int:
    command = "train-gru" if isinstance(config, GRUConfig) else "train-mlp"
    run = TrainingRun(config, command, RUN_FILES)
    data = load_sentiment_data(config.data_dir)
    batches = run.seed()
    sizes = " ".join(f"--{k.replace('_', '-')} {getattr(config, k)}" for k in ("embed_dim", "hidden", "batch_size"))
    require_model(lambda: build(config, len(data.vocab), data.max_len), f"{sizes} with {len(data.vocab):,} words",
                  4 * 8 * config.batch_size * data.max_len * (config.embed_dim + 3 * config.hidden))
    model = build(config, len(data.vocab), data.max_len).to(run.device)
    settings = SentimentSettings(config.epochs, config.batch_size, config.lr, config.weight_decay, config.clip,
                                 config.patience, config.bucket, run.precision)
    reviews = len(data.splits["train"]["labels"])
    steps_per_epoch = -(-reviews // config.batch_size)
    if config.batch_size < run.world.size:
        raise Hw3Error(f"--batch-size {config.batch_size} is smaller than the {run.world.size} torchrun processes, "
                       "each of which takes its part of every batch")
    if 0 < reviews % config.batch_size < run.world.size:
        raise Hw3Error(f"the last batch of each epoch ({reviews % config.batch_size} of {reviews} reviews) is too "
                       f"small to share over {run.world.size} torchrun processes; choose another --batch-size")
    optimizer = sentiment_optimizer(model, settings)
    run.track({"model": model}, {"model": optimizer}, {"batches": batches})
    state, extra = run.restore(RESUME_STATE[command])
    epochs, best_epoch, resume_at = state.get("epochs", []), state.get("best_epoch", 0), {}
    best_state = {k[len("best."):]: v for k, v in extra.items() if k.startswith("best.")} or None
    if epochs:
        if best_state is None or set(best_state) != set(model.state_dict()):
            raise Hw3Error(f"--resume: {run.state_file} lacks the best weights so far; delete "
                           f"{run.state_file.parent} to start over")
        last = epochs[-1]
        resume_at = {"start_epoch": last["epoch"] + 1, "best": last["best_accuracy"], "stale": last["stale"],
                     "step": last["step"]}
    started = time.perf_counter()
    with run.training() as bar:
        task = bar.add_task(command, total=steps_per_epoch * config.epochs, completed=steps_per_epoch * len(epochs),
                            status="")
        dev_note = ""
        for record in run.watch(train_sentiment(run.parallel(model), data.splits, settings, batches, run.device,
                                                optimizer, **resume_at, world=run.world), "epoch", lambda: len(epochs)):
            if record["event"] == "batch":
                bar.update(task, advance=1, status=f"epoch {record['epoch']}  loss {record['loss']:.3f}{dev_note}")
                continue
            if record["improved"]:
                best_state, best_epoch = record.pop("state"), record["epoch"]
            epochs.append({k: v for k, v in record.items() if k != "event"})
            dev_note = f"  dev acc {100 * record['dev_accuracy']:.1f}%"
            bar.update(task, completed=steps_per_epoch * record["epoch"])
            run.save({"epochs": epochs, "best_epoch": best_epoch}, {f"best.{k}": v for k, v in best_state.items()})
        bar.update(task, total=bar.tasks[0].completed)
    model.load_state_dict(best_state)
    metrics = final_metrics(config, run, model, data, epochs, best_epoch, started)

    def write_files(folder):
        save_checkpoint(folder / "model.safetensors", model.state_dict(), model.kind, model.args,
                        {"vocab_sha256": data.vocab_sha256, "max_len": str(data.max_len),
                         "truncate": data.truncate, "bucket": str(config.bucket)})
        # The very bytes the model's vocab_sha256 was taken of.
        atomic_write_bytes(folder / "vocab.json", read_input(config.data_dir / "vocab.json", "vocabulary"))
        classifier_curves(metrics, folder / "curves.png", f"{command} ({describe(model)})")

    run.finish(metrics, write_files)
    display.stdout().print(
        f"{command}: best dev accuracy {100 * metrics['dev_accuracy']:.2f}% (epoch {best_epoch}), "
        f"test accuracy [bold]{100 * metrics['test_accuracy']:.2f}%[/], {metrics['seconds_per_epoch']:.0f} s/epoch "
        f"-> {run.dir}")
    return 0


def final_metrics(config, run: TrainingRun, model, data, epochs, best_epoch, started: float) -> dict:
    """Dev and test accuracy of the best-by-dev weights, and what the run cost."""
    dev = evaluate(model, data.splits["dev"], run.device, bucket=config.bucket, precision=run.precision)
    test = evaluate(model, data.splits["test"], run.device, bucket=config.bucket, precision=run.precision)
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
        "device": str(run.device),
        "threads": torch.get_num_threads(),
        "precision": run.precision,
        "machine": machine_record(run.device, run.precision),
    }


def describe(model: torch.nn.Module) -> str:
    args = model.args
    if model.kind == GRUClassifier.kind:
        return f"embedding {args['embed_dim']}, GRU {args['hidden']} x {args['layers']}"
    return f"input {args['input']}, hidden {args['hidden']}"
