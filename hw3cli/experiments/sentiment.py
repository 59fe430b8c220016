"""`train-gru`, `train-mlp`, `predict` and `compare-imdb`: Problem 1's classifiers, trained by one loop."""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from hw3cli.core.checkpoint import load_model, save_checkpoint
from hw3cli.core.device import resolve_device
from hw3cli.core.files import atomic_folder, atomic_write_bytes, atomic_write_text, read_input, where
from hw3cli.core.hardware import PRECISIONS, machine_record, measured_on
from hw3cli.core.memory import available_bytes, require_model, size_text
from hw3cli.core.numerics import numerics
from hw3cli.core.progress import RESUME_IGNORES, load_progress, progress_file, save_progress
from hw3cli.core.runs import check_run_folder, config_record, read_run, write_config, write_metrics
from hw3cli.core.schema import PROGRESS
from hw3cli.core.seeding import seed_everything
from hw3cli.core.stopping import graceful_stop
from hw3cli.data.sentiment import load_sentiment_data
from hw3cli.data.vocab import Vocabulary
from hw3cli.errors import Hw3Error, Interrupted
from hw3cli.experiments import display
from hw3cli.models.sentiment import MODELS, GRUClassifier, MLPClassifier, build_classifier
from hw3cli.plots.curves import classifier_curves
from hw3cli.train.classifier import LoopSettings, evaluate, make_optimizer, predict_probabilities, train_classifier

RUN_FILES = ("model.safetensors", "vocab.json", "config.json", "metrics.json", "timings.json",
             "curves.png")


@dataclass(frozen=True)
class TrainConfig:
    data_dir: Path = Path("artifacts/imdb/data")  # the output folder of `hw3cli preprocess`
    out_dir: Path = Path("artifacts/imdb/run")  # the run folder this command writes
    epochs: int = 6  # at most this many passes over the training split
    batch_size: int = 64  # reviews per Adam step
    lr: float = 2e-3  # Adam learning rate
    weight_decay: float = 0.0  # Adam's L2 penalty
    clip: float = 1.0  # gradient-norm clipping threshold
    patience: int = 2  # stop after this many epochs without a better dev accuracy
    bucket: bool = True  # batch reviews of similar length and skip all-padding columns (changes the GRU's input)
    precision: str = "auto"  # auto (bf16 autocast where the device has native bf16, else fp32), fp32 or bf16
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    deterministic: bool = False  # PyTorch's deterministic kernels (CPU runs repeat exactly without it)
    detect_anomaly: bool = False  # autograd anomaly mode: name the backward op that made a NaN (slow)
    seed: int = 0  # seeds weights, batch order and dropout
    device: str = "auto"  # auto, cpu, cuda or mps
    overwrite: bool = False  # replace a finished run in out_dir
    resume: bool = False  # continue the interrupted run whose progress is saved beside out_dir

    @property
    def progress_file(self) -> Path:
        return progress_file(self.out_dir)


@dataclass(frozen=True)
class GRUConfig(TrainConfig):
    out_dir: Path = Path("artifacts/imdb/gru")
    embed_dim: int = 128  # embedding size
    hidden: int = 128  # GRU hidden units
    layers: int = 1  # stacked GRU layers
    dropout: float = 0.3  # dropout on the embeddings and on the last hidden state


@dataclass(frozen=True)
class MLPConfig(TrainConfig):
    out_dir: Path = Path("artifacts/imdb/mlp-embedding")
    input: str = "embedding"  # "ids": the raw indices as features; "embedding": embedded, then flattened
    embed_dim: int = 16  # embedding size (input "embedding" only)
    hidden: int = 64  # hidden units of the first layer
    dropout: float = 0.5  # dropout on the flattened input and the hidden layer
    epochs: int = 30  # its dev accuracy climbs slowly and noisily: a longer budget and patience pay
    patience: int = 6


@dataclass(frozen=True)
class PredictConfig:
    model_dir: Path  # a run folder of train-gru or train-mlp
    source: str = "-"  # a file of reviews, one per line, or "-" for standard input
    batch_size: int = 256  # reviews per forward pass
    device: str = "auto"  # auto, cpu, cuda or mps


def _validate(config: TrainConfig) -> None:
    for name in ("epochs", "batch_size", "patience"):
        if getattr(config, name) < 1:
            raise Hw3Error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(config, name)}")
    if config.lr <= 0 or config.clip <= 0 or config.weight_decay < 0:
        raise Hw3Error("--lr and --clip must be positive and --weight-decay not negative")
    if config.precision not in PRECISIONS:
        raise Hw3Error(f"--precision must be one of {', '.join(PRECISIONS)}, not '{config.precision}'")
    if isinstance(config, (GRUConfig, MLPConfig)):
        if config.embed_dim < 1 or config.hidden < 1:
            raise Hw3Error("--embed-dim and --hidden must be at least 1")
        if not 0.0 <= config.dropout < 1.0:
            raise Hw3Error(f"--dropout must be in [0, 1), got {config.dropout}")
    if isinstance(config, GRUConfig) and config.layers < 1:
        raise Hw3Error(f"--layers must be at least 1, got {config.layers}")
    if isinstance(config, MLPConfig) and config.input not in ("ids", "embedding"):
        raise Hw3Error(f"--input must be ids or embedding, not '{config.input}'")
    if config.resume and not config.progress_file.is_file():
        raise Hw3Error(f"--resume: no interrupted run to continue ({config.progress_file} does not exist)")
    check_run_folder(config.out_dir, "train-gru" if isinstance(config, GRUConfig) else "train-mlp", RUN_FILES,
                     config.overwrite or config.resume)


def _build(config: TrainConfig, vocab_size: int, max_len: int) -> torch.nn.Module:
    if isinstance(config, GRUConfig):
        return GRUClassifier(vocab_size, config.embed_dim, config.hidden, config.layers, config.dropout)
    assert isinstance(config, MLPConfig)
    return MLPClassifier(vocab_size, max_len, config.input, config.embed_dim, config.hidden, config.dropout)


def run_train(config: TrainConfig) -> int:
    _validate(config)
    experiment = "train-gru" if isinstance(config, GRUConfig) else "train-mlp"
    device = resolve_device(config.device, config.threads)
    precision = display.use_precision(config.precision, device)
    data = load_sentiment_data(config.data_dir)
    generator = seed_everything(config.seed)
    sizes = " ".join(f"--{k.replace('_', '-')} {getattr(config, k)}" for k in ("embed_dim", "hidden", "batch_size"))
    require_model(lambda: _build(config, len(data.vocab), data.max_len), f"{sizes} with {len(data.vocab):,} words",
                  4 * 8 * config.batch_size * data.max_len * (config.embed_dim + 3 * config.hidden))
    model = _build(config, len(data.vocab), data.max_len).to(device)
    settings = LoopSettings(config.epochs, config.batch_size, config.lr, config.weight_decay, config.clip,
                            config.patience, config.bucket, precision)
    steps_per_epoch = -(-len(data.splits["train"]["labels"]) // config.batch_size)
    optimizer = make_optimizer(model, settings)
    epochs, best_state, best_epoch, resume_at = [], None, 0, {}
    if config.resume:
        state, extra = load_progress(config.progress_file, f"{experiment}-progress", {"model": model},
                                     {"model": optimizer}, {"batches": generator},
                                     config_record(experiment, config)["config"], RESUME_IGNORES,
                                     PROGRESS[experiment], {"precision": precision})
        epochs, best_epoch = state["epochs"], state["best_epoch"]
        best_state = {k[len("best."):]: v for k, v in extra.items() if k.startswith("best.")}
        if set(best_state) != set(model.state_dict()):
            raise Hw3Error(f"--resume: {config.progress_file} lacks the best weights so far; delete "
                           f"{config.progress_file.parent} to start over")
        last = epochs[-1]
        resume_at = {"start_epoch": last["epoch"] + 1, "best": last["best_accuracy"], "stale": last["stale"],
                     "step": last["step"]}
    started = time.perf_counter()
    with display.progress_bar() as bar, graceful_stop() as stop, numerics(config.deterministic,
                                                                          config.detect_anomaly):
        task = bar.add_task(experiment, total=steps_per_epoch * config.epochs,
                            completed=steps_per_epoch * len(epochs), status="")
        dev_note = ""
        for record in train_classifier(model, data.splits, settings, generator, device, optimizer, **resume_at):
            if stop.requested:
                raise Interrupted(
                    f"hw3cli: interrupted in epoch {record['epoch']}; the {len(epochs)} finished epochs are saved in "
                    f"{config.progress_file.parent}. Continue with the same command and --resume.", stop.exit_code)
            if record["event"] == "batch":
                bar.update(task, advance=1, status=f"epoch {record['epoch']}  loss {record['loss']:.3f}{dev_note}")
                continue
            if record["improved"]:
                best_state, best_epoch = record.pop("state"), record["epoch"]
            epochs.append({k: v for k, v in record.items() if k != "event"})
            dev_note = f"  dev acc {100 * record['dev_accuracy']:.1f}%"
            bar.update(task, completed=steps_per_epoch * record["epoch"])
            save_progress(config.progress_file, f"{experiment}-progress", {"model": model}, {"model": optimizer},
                          {"batches": generator}, {"epochs": epochs, "best_epoch": best_epoch, "precision": precision,
                                                   "config": config_record(experiment, config)["config"]},
                          {f"best.{k}": v for k, v in best_state.items()})
        bar.update(task, total=bar.tasks[0].completed)
    model.load_state_dict(best_state)
    dev = evaluate(model, data.splits["dev"], device, bucket=config.bucket, precision=precision)
    test = evaluate(model, data.splits["test"], device, bucket=config.bucket, precision=precision)
    metrics = {
        "model": model.kind,
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": epochs,
        "best_epoch": best_epoch,
        "dev_accuracy": dev["accuracy"],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "seconds_per_epoch": sum(e["seconds"] for e in epochs) / len(epochs),
        "total_seconds": time.perf_counter() - started,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "precision": precision,
        "machine": machine_record(device, precision),
    }
    with atomic_folder(config.out_dir) as tmp:
        save_checkpoint(tmp / "model.safetensors", model.state_dict(), model.kind, model.args,
                        {"vocab_sha256": data.vocab_sha256, "max_len": str(data.max_len),
                         "truncate": data.truncate, "bucket": str(config.bucket)})
        # The very bytes the model's vocab_sha256 was taken of.
        atomic_write_bytes(tmp / "vocab.json", read_input(config.data_dir / "vocab.json", "vocabulary"))
        write_config(tmp, experiment, config)
        write_metrics(tmp, metrics)
        classifier_curves(metrics, tmp / "curves.png", f"{experiment} ({_describe(model)})")
    shutil.rmtree(config.progress_file.parent, ignore_errors=True)
    display.stdout().print(
        f"{experiment}: best dev accuracy {100 * dev['accuracy']:.2f}% (epoch {best_epoch}), "
        f"test accuracy [bold]{100 * test['accuracy']:.2f}%[/], {metrics['seconds_per_epoch']:.0f} s/epoch "
        f"-> {config.out_dir}"
    )
    return 0


def _describe(model: torch.nn.Module) -> str:
    args = model.args
    if model.kind == GRUClassifier.kind:
        return f"embedding {args['embed_dim']}, GRU {args['hidden']} x {args['layers']}"
    return f"input {args['input']}, hidden {args['hidden']}"


def load_classifier(model_dir: Path) -> tuple[torch.nn.Module, Vocabulary, dict]:
    """A trained run folder back to (model, vocabulary, checkpoint metadata); refuses mismatched vocabularies."""
    model_dir = Path(model_dir)
    if not os.path.lexists(model_dir / "model.safetensors"):
        raise Hw3Error(f"{where(model_dir)} is not a train-gru or train-mlp run (no model.safetensors)")
    model, meta = load_model(model_dir / "model.safetensors", tuple(MODELS), build_classifier,
                             "train-gru or train-mlp model")
    vocab = Vocabulary.load(model_dir / "vocab.json")
    if vocab.sha256() != meta.get("vocab_sha256"):
        raise Hw3Error(f"{model_dir}/vocab.json is not the vocabulary this model was trained with")
    if model.args["vocab_size"] != len(vocab):
        raise Hw3Error(f"{model_dir}: the model expects {model.args['vocab_size']} words, the vocabulary has "
                       f"{len(vocab)}")
    try:  # written by run_train as strings
        meta["max_len"], meta["bucket"] = int(meta["max_len"]), {"True": True, "False": False}[meta["bucket"]]
        if not 1 <= meta["max_len"] <= 100_000 or meta["truncate"] not in ("head", "tail"):
            raise ValueError
    except (KeyError, ValueError):
        raise Hw3Error(f"{model_dir}/model.safetensors: its metadata lacks a valid max_len, truncate or "
                       "bucket") from None
    return model, vocab, meta


def run_predict(config: PredictConfig) -> int:
    if config.batch_size < 1:
        raise Hw3Error(f"--batch-size must be at least 1, got {config.batch_size}")
    model, vocab, meta = load_classifier(config.model_dir)
    device = resolve_device(config.device)
    # Bytes, decoded leniently, from a file or standard input alike: a review is text whatever its encoding.
    limit = max(2**26, int(0.1 * available_bytes()))  # encoding takes about 10 bytes per byte of text
    if config.source == "-":
        raw = sys.stdin.buffer.read(limit + 1)
        if len(raw) > limit:
            raise Hw3Error(f"standard input holds more than {size_text(limit)} of reviews; split it into parts")
    else:
        raw = read_input(config.source, "review file", limit)
    lines = raw.decode("utf-8", errors="replace").splitlines()
    if not lines:
        raise Hw3Error(f"no reviews to classify in {config.source if config.source != '-' else 'standard input'}")
    ids = torch.from_numpy(vocab.encode(lines, meta["max_len"], meta["truncate"]))
    lengths = (ids != 0).sum(1)
    probs = predict_probabilities(model.to(device), ids, lengths, device, meta["bucket"], config.batch_size)
    # A line with no word at all gets no probability: the model would only be reading padding.
    sys.stdout.write("".join(f"{p:.4f}\t{'positive' if p >= 0.5 else 'negative'}\n" if n else "-\tno words\n"
                             for p, n in zip(probs.tolist(), lengths.tolist())))
    return 0


@dataclass(frozen=True)
class CompareConfig:
    runs: tuple[Path, ...]  # run folders of train-gru / train-mlp
    out: Path = Path("artifacts/imdb/comparison.md")  # the Markdown table and discussion


def run_compare(config: CompareConfig) -> int:
    rows = []
    for run in config.runs:
        cfg, metrics = read_run(run, ("train-gru", "train-mlp"))
        name = "GRU" if cfg["experiment"] == "train-gru" else f"MLP ({cfg['config'].get('input', '?')} input)"
        rows.append((name, metrics, cfg))
    if not rows:
        raise Hw3Error("give at least one run folder")
    lines = ["# IMDB: GRU vs two-layer MLP", "",
             "| model | test accuracy | dev accuracy | parameters | seconds / epoch | epochs (best) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, m, _ in rows:
        lines.append(f"| {name} | {100 * m['test_accuracy']:.2f}% | {100 * m['dev_accuracy']:.2f}% | "
                     f"{m['parameters']:,} | {_number(m.get('seconds_per_epoch'), '.0f')} | {len(m['epochs'])} "
                     f"({m['best_epoch']}) |")
    lines += ["", f"Seconds per epoch measured on {measured_on(m for _, m, _ in rows)}."]
    lines += ["", *_discussion(rows), "", "Made by `hw3cli compare-imdb` from: "
              + ", ".join(f"`{r}`" for r in config.runs) + "."]
    atomic_write_text(config.out, "\n".join(lines) + "\n")
    display.stdout().print("\n".join(lines))
    return 0


def _number(value, spec: str) -> str:
    """A measured number, or '-' where a run folder kept none (no timings.json)."""
    return "-" if value is None else format(value, spec)


def _discussion(rows) -> list[str]:
    by = {name: m for name, m, _ in rows}
    gru = by.get("GRU")
    mlps = [(name, m) for name, m in by.items() if name != "GRU"]
    if gru is None or not mlps:
        return []
    best_name, best = max(mlps, key=lambda item: item[1]["test_accuracy"])
    gap = 100 * (gru["test_accuracy"] - best["test_accuracy"])
    # Within half a point (a few hundred of 25,000 test reviews, about one seed's spread) neither model wins.
    verdict = ("Why the GRU is ahead" if gap >= 0.5 else "Why the GRU is not ahead here" if gap <= -0.5
               else "Why the two are level here")
    text = [
        f"The GRU reaches {100 * gru['test_accuracy']:.1f}% on test, {gap:+.1f} points against the best MLP "
        f"({best_name}, {100 * best['test_accuracy']:.1f}%).",
        "",
        f"{verdict}: the GRU reads the review in order with the same weights at every position, so a phrase such "
        "as \"not good\" means the same wherever it appears, and its state carries what it has read to the last "
        "step. The MLP has one weight per (position, feature): with left padding a word lands at a different "
        "position in every review, so what it learns about a word at one position does not transfer to another, "
        "and it must see each word at many positions to generalise"
        + ("; with this training budget and data that cost did not show in the result." if gap < 0.5 else ".")
        + " On raw indices it has less still to use: an index is an arbitrary label, and treating the padded rows of "
        "indices as numbers gives a linear layer almost nothing to work with.",
    ]
    return text
