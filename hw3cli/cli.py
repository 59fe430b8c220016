"""The command line: parse options, build a frozen config, call the experiment's run(config).

This is the only module that imports typer. Every option's default, range and help come from its config field
(configs.py); a command here only lists which options it takes. Errors the user can fix (Hw3Error, bad options)
become one line on stderr and exit code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import os
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

from hw3cli import __version__
from hw3cli import configs as c
from hw3cli.errors import Hw3Error, Interrupted

app = typer.Typer(
    name="hw3cli",
    help="The deep-learning assignment as reproducible experiments: a threshold-RNN adder, IMDB sentiment "
    "(GRU vs MLP) and Fashion-MNIST GANs. Outputs go to artifacts/ (relative to the current folder).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: rich markup would swallow every "[default: ...]"
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)


# Every number is checked here, when the command line is parsed: the range its config field declares (shown in
# --help), finite floats only (NaN and infinity are refused), ASCII digits only. What depends on the machine
# (memory for a model of that size) is checked by the experiment before it allocates anything.
def _real(low: float, high: float, low_open: bool, high_open: bool):
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text):
        if isinstance(text, float):
            return text
        try:
            value = float(text)
        except ValueError:
            raise typer.BadParameter(f"'{text}' is not a number") from None
        if not (math.isfinite(value) and low <= value <= high) or (low_open and value == low) or (
                high_open and value == high):
            raise typer.BadParameter(f"{text} is not a finite number in {interval}")
        return value

    return parse, f"In {interval}."


def _count(low: int, high: int):
    def parse(text):
        if isinstance(text, int):
            return text
        if not re.fullmatch(r"[+-]?[0-9]+", str(text).strip()):
            raise typer.BadParameter(f"'{text}' is not an integer")
        value = int(text)
        if value < low or value > high:
            raise typer.BadParameter(f"must be at {'least' if value < low else 'most'} {low if value < low else high:,}"
                                     f", got {value:,}")
        return value

    return parse, f"From {low:,} to {high:,}."


def _sizes(flag: str):
    def parse(text):
        if isinstance(text, tuple):
            return text
        if not re.fullmatch(r"[0-9]+(,[0-9]+)*", str(text).strip()):
            raise typer.BadParameter(f"takes comma-separated positive integers like 256,512,1024, not '{text}'")
        sizes = tuple(int(part) for part in str(text).split(","))
        if any(not 1 <= s <= c.SIZE_MAX for s in sizes):
            raise typer.BadParameter(f"takes layer sizes from 1 to {c.SIZE_MAX:,}, got '{text}'")
        return sizes

    return parse, ""


def _device(text: str) -> str:
    if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]{1,3})?", str(text).lower()):
        raise typer.BadParameter(f"'{text}' is not a device: auto, cpu, cuda, cuda:N or mps")
    return str(text).lower()


def opt(config: type, name: str, required: bool = False, help: str | None = None) -> Any:
    """The typer option of the config field `name`: its flag, default, help and (for numbers) range."""
    field = {f.name: f for f in dataclasses.fields(config)}[name]
    meta = field.metadata
    kinds = set(typing.get_args(typing.get_type_hints(config)[name])) or {typing.get_type_hints(config)[name]}
    parse, extra, metavar = None, "", meta["metavar"]
    default = ... if required else field.default
    if isinstance(default, tuple):  # layer sizes, class lists: comma-separated on the command line
        default = ",".join(map(str, default))
    if meta["sizes"]:
        parse, extra = _sizes(meta["flag"])
        metavar = "N,N,N"
    elif meta["flag"] == "--device":
        parse = _device
    elif meta["low"] is not None and float in kinds:
        parse, extra = _real(meta["low"], meta["high"], meta["low_open"], meta["high_open"])
    elif meta["low"] is not None and int in kinds:
        parse, extra = _count(int(meta["low"]), int(meta["high"]))
    text = " ".join(part for part in (help or meta["help"], extra) if part)
    if metavar is None and parse is not None:
        metavar = "FLOAT" if float in kinds else "INT"
    return typer.Option(default, *meta["flag"].split(" "), help=text, parser=parse, metavar=metavar)


def run_opt(name: str, help: str | None = None) -> Any:
    return opt(c.RunOptions, name, help=help)


RUN_OPTIONS = ("precision", "threads", "deterministic", "detect_anomaly", "seed", "device", "overwrite", "resume")


def with_run_options(*names: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Give a training command the shared run options (configs.RunOptions: seed, device, precision, threads,
    resume...), declared once there; the command receives them as one `run` argument."""

    def wrap(command: Callable[..., int]) -> Callable[..., int]:
        own = inspect.signature(command)
        hints = typing.get_type_hints(c.RunOptions)
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=run_opt(name), annotation=hints[name])
                 for name in names]

        @functools.wraps(command)
        def with_options(**values: Any) -> int:
            run = dataclasses.replace(c.RunOptions(), **{name: values.pop(name) for name in names})
            return command(**values, run=run)

        params = [p for p in own.parameters.values() if p.name != "run"]
        with_options.__signature__ = own.replace(parameters=params + added)
        with_options.__annotations__ = {**{k: v for k, v in command.__annotations__.items() if k != "run"},
                                        **{name: hints[name] for name in names}}
        return with_options

    return wrap


def build(config: type, values: dict[str, Any], **fixed: Any) -> Any:
    """The config from a command's parsed options; the nested option groups (run, data) take theirs by name, and
    start from the group's own default (e.g. rnn-add's run options say cpu and fp32)."""
    values = {**values, **fixed}
    kwargs = {}
    for f in dataclasses.fields(config):
        if dataclasses.is_dataclass(values.get(f.name)):
            kwargs[f.name] = values[f.name]
        elif dataclasses.is_dataclass(f.default):
            group = {g.name: values[g.name] for g in dataclasses.fields(f.default) if g.name in values}
            kwargs[f.name] = dataclasses.replace(f.default, **group)
        elif f.name in values:
            kwargs[f.name] = values[f.name]
    return config(**kwargs)


def _version(value: bool) -> None:
    if value:
        print(f"hw3cli {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """hw3cli: every experiment is one subcommand."""


@app.command("rnn-add")
def rnn_add(
    a: Optional[str] = typer.Argument(None, help="First binary number, most significant bit first (e.g. 100111)."),
    b: Optional[str] = typer.Argument(None, help="Second binary number (e.g. 110010)."),
    show_weights: bool = opt(c.AddConfig, "show_weights"),
    as_json: bool = opt(c.AddConfig, "as_json"),
    save: Optional[Path] = opt(c.AddConfig, "save"),
    bits: Optional[int] = opt(c.VerifyConfig, "bits"),
    random_pairs: int = opt(c.VerifyConfig, "random_pairs"),
    random_bits: int = opt(c.VerifyConfig, "random_bits"),
    learn: bool = typer.Option(False, "--learn", help="Train the 3-unit network by gradient descent instead."),
    seeds: int = opt(c.LearnConfig, "seeds"),
    seed: int = opt(c.VerifyConfig, "seed"),
    steps: int = opt(c.LearnConfig, "steps"),
    weights: Optional[Path] = opt(c.AddConfig, "weights"),
    out_dir: Path = opt(c.LearnConfig, "out_dir"),
    overwrite: bool = run_opt("overwrite"),
    resume: bool = run_opt("resume", "With --learn: continue an interrupted run (same options) from its last "
                           "finished seed."),
    threads: int = run_opt("threads"),
    deterministic: bool = run_opt("deterministic"),
    detect_anomaly: bool = run_opt("detect_anomaly"),
) -> int:
    """Add two binary numbers with the hand-set 3-unit threshold RNN (Problem 0), verify it, or learn one."""
    from hw3cli.experiments import rnn_add as exp

    values = locals()
    if sum([a is not None or b is not None, bits is not None, learn]) != 1:
        raise Hw3Error("give two binary numbers, or --verify N, or --learn (exactly one of them)")
    if bits is not None:
        return exp.run_verify(build(c.VerifyConfig, values))
    if learn:
        return exp.run_learn(build(c.LearnConfig, values))
    if a is None or b is None:
        raise Hw3Error("rnn-add needs two binary numbers, e.g. hw3cli rnn-add 100111 110010")
    return exp.run(build(c.AddConfig, values))


@app.command("preprocess")
def preprocess(
    source: Optional[Path] = opt(c.PreprocessConfig, "source"),
    download: bool = opt(c.PreprocessConfig, "download"),
    cache_dir: Path = opt(c.PreprocessConfig, "cache_dir"),
    out_dir: Path = opt(c.PreprocessConfig, "out_dir"),
    max_len: int = opt(c.PreprocessConfig, "max_len"),
    truncate: c.Truncate = opt(c.PreprocessConfig, "truncate"),
    min_freq: int = opt(c.PreprocessConfig, "min_freq"),
    max_vocab: Optional[int] = opt(c.PreprocessConfig, "max_vocab"),
    dev_fraction: float = opt(c.PreprocessConfig, "dev_fraction"),
    seed: int = opt(c.PreprocessConfig, "seed"),
) -> int:
    """IMDB text to a JSON vocabulary (from the training split only) and left-padded index matrices."""
    from hw3cli.experiments import preprocess as exp

    return exp.run(build(c.PreprocessConfig, locals()))


@app.command("train-gru")
@with_run_options(*RUN_OPTIONS)
def train_gru(
    data_dir: Path = opt(c.GRUConfig, "data_dir"),
    out_dir: Optional[Path] = opt(c.GRUConfig, "out_dir"),
    embed_dim: int = opt(c.GRUConfig, "embed_dim"),
    hidden: int = opt(c.GRUConfig, "hidden"),
    layers: int = opt(c.GRUConfig, "layers"),
    dropout: float = opt(c.GRUConfig, "dropout"),
    epochs: int = opt(c.GRUConfig, "epochs"),
    batch_size: int = opt(c.GRUConfig, "batch_size"),
    lr: float = opt(c.GRUConfig, "lr"),
    weight_decay: float = opt(c.GRUConfig, "weight_decay"),
    clip: float = opt(c.GRUConfig, "clip"),
    patience: int = opt(c.GRUConfig, "patience"),
    bucket: bool = opt(c.GRUConfig, "bucket"),
    run: c.RunOptions = c.RunOptions(),
) -> int:
    """Train the GRU sentiment classifier: Embedding -> GRU -> Linear -> Sigmoid on the last step."""
    from hw3cli.experiments import train_sentiment as exp

    return exp.run(build(c.GRUConfig, locals()))


@app.command("train-mlp")
@with_run_options(*RUN_OPTIONS)
def train_mlp(
    data_dir: Path = opt(c.MLPConfig, "data_dir"),
    out_dir: Optional[Path] = opt(c.MLPConfig, "out_dir"),
    input: c.MlpInput = opt(c.MLPConfig, "input"),
    embed_dim: int = opt(c.MLPConfig, "embed_dim"),
    hidden: int = opt(c.MLPConfig, "hidden"),
    dropout: float = opt(c.MLPConfig, "dropout"),
    epochs: int = opt(c.MLPConfig, "epochs"),
    batch_size: int = opt(c.MLPConfig, "batch_size"),
    lr: float = opt(c.MLPConfig, "lr"),
    weight_decay: float = opt(c.MLPConfig, "weight_decay"),
    clip: float = opt(c.MLPConfig, "clip"),
    patience: int = opt(c.MLPConfig, "patience"),
    run: c.RunOptions = c.RunOptions(),
) -> int:
    """Train the two-layer MLP sentiment classifier on the same fixed-length input."""
    from hw3cli.experiments import train_sentiment as exp

    return exp.run(build(c.MLPConfig, locals()))


@app.command("predict")
def predict(
    source: str = typer.Argument("-", help="A file with one review per line, or - for standard input."),
    model_dir: Path = opt(c.PredictConfig, "model_dir", required=True),
    batch_size: int = opt(c.PredictConfig, "batch_size"),
    device: str = run_opt("device"),
) -> int:
    """Classify reviews, one per line: prints probability<TAB>label (positive/negative) per line."""
    from hw3cli.experiments import predict as exp

    return exp.run(build(c.PredictConfig, locals()))


@app.command("compare-imdb")
def compare_imdb(
    runs: list[Path] = typer.Argument(..., help="Run folders of train-gru / train-mlp."),
    out: Path = opt(c.CompareImdbConfig, "out"),
) -> int:
    """Write the GRU-vs-MLP comparison table (test and dev accuracy, parameters, time) from run folders."""
    from hw3cli.experiments import compare_imdb as exp

    return exp.run(build(c.CompareImdbConfig, locals(), runs=tuple(runs)))


@app.command("train-gan")
@with_run_options(*RUN_OPTIONS)
def train_gan(
    loss: c.GanLoss = opt(c.GanConfig, "loss"),
    dataset: c.GanDataset = opt(c.GanConfig, "dataset"),
    out_dir: Optional[Path] = opt(c.GanConfig, "out_dir"),
    epochs: int = opt(c.GanConfig, "epochs"),
    batch_size: Optional[int] = opt(c.GanConfig, "batch_size"),
    noise_dim: Optional[int] = opt(c.GanConfig, "noise_dim"),
    g_hidden: Optional[str] = opt(c.GanConfig, "g_hidden"),
    d_hidden: Optional[str] = opt(c.GanConfig, "d_hidden"),
    lr: Optional[float] = opt(c.GanConfig, "lr"),
    d_lr: Optional[float] = opt(c.GanConfig, "d_lr"),
    clip: float = opt(c.GanConfig, "clip"),
    lr_decay: float = opt(c.GanConfig, "lr_decay"),
    critic_steps: Optional[int] = opt(c.GanConfig, "critic_steps"),
    sample_every: int = opt(c.GanConfig, "sample_every"),
    samples: int = opt(c.GanConfig, "samples"),
    data_dir: Optional[Path] = opt(c.FashionData, "data_dir"),
    download: bool = opt(c.FashionData, "download"),
    limit: int = opt(c.FashionData, "limit"),
    unroll: Optional[int] = opt(c.GanConfig, "unroll"),
    unroll_mode: c.UnrollMode = opt(c.GanConfig, "unroll_mode"),
    unroll_optimizer: c.UnrollOptimizer = opt(c.GanConfig, "unroll_optimizer"),
    unroll_lr: float = opt(c.GanConfig, "unroll_lr"),
    standardize: bool = opt(c.GanConfig, "standardize"),
    classifier: Optional[Path] = opt(c.GanConfig, "classifier"),
    judge: Optional[Path] = opt(c.GanConfig, "judge"),
    eval_every: int = opt(c.GanConfig, "eval_every"),
    conditional: bool = opt(c.GanConfig, "conditional"),
    mismatch: bool = opt(c.GanConfig, "mismatch"),
    class_loss: float = opt(c.GanConfig, "class_loss"),
    ema: float = opt(c.GanConfig, "ema"),
    run: c.RunOptions = c.RunOptions(),
) -> int:
    """Train an MLP GAN on Fashion-MNIST (or a 2-D mixture) with one of five losses; writes checkpoints, curves and
    sample grids (scatter plots for the mixtures)."""
    from hw3cli.experiments import train_gan as exp

    return exp.run(build(c.GanConfig, locals()))


@app.command("cgan-sample")
def cgan_sample(
    generator: Path = opt(c.CganSampleConfig, "generator", required=True),
    per_class: int = opt(c.CganSampleConfig, "per_class"),
    classes: str = opt(c.CganSampleConfig, "classes"),
    seed: int = opt(c.CganSampleConfig, "seed"),
    out: Path = opt(c.CganSampleConfig, "out"),
    tensor: Optional[Path] = opt(c.CganSampleConfig, "tensor"),
    classifier: Optional[Path] = opt(c.CganSampleConfig, "classifier"),
    judge: Optional[Path] = opt(c.CganSampleConfig, "judge"),
    score_per_class: int = opt(c.CganSampleConfig, "score_per_class"),
) -> int:
    """Samples of chosen classes from a conditional generator, as a labelled grid (and tensors for scripts)."""
    from hw3cli.experiments import cgan_sample as exp

    return exp.run(build(c.CganSampleConfig, locals(), classes=exp.parse_classes(classes)))


@app.command("classify")
@with_run_options(*RUN_OPTIONS)
def classify(
    init_from: Path = opt(c.ClassifyConfig, "init_from"),
    from_scratch: bool = opt(c.ClassifyConfig, "from_scratch"),
    out_dir: Path = opt(c.ClassifyConfig, "out_dir"),
    epochs: int = opt(c.ClassifyConfig, "epochs"),
    batch_size: int = opt(c.ClassifyConfig, "batch_size"),
    lr: float = opt(c.ClassifyConfig, "lr"),
    dropout: float = opt(c.ClassifyConfig, "dropout"),
    shift: int = opt(c.ClassifyConfig, "shift"),
    validation: int = opt(c.ClassifyConfig, "validation"),
    flip: bool = opt(c.ClassifyConfig, "flip"),
    data_dir: Optional[Path] = opt(c.FashionData, "data_dir"),
    download: bool = opt(c.FashionData, "download"),
    limit: int = opt(c.FashionData, "limit"),
    run: c.RunOptions = c.RunOptions(),
) -> int:
    """Fine-tune D's architecture with 10 outputs into a Fashion-MNIST classifier (to measure generators)."""
    from hw3cli.experiments import classify as exp

    return exp.run(build(c.ClassifyConfig, locals()))


@app.command("judge")
@with_run_options(*RUN_OPTIONS)
def judge(
    out_dir: Path = opt(c.JudgeConfig, "out_dir"),
    epochs: int = opt(c.JudgeConfig, "epochs"),
    batch_size: int = opt(c.JudgeConfig, "batch_size"),
    lr: float = opt(c.JudgeConfig, "lr"),
    dropout: float = opt(c.JudgeConfig, "dropout"),
    shift: int = opt(c.JudgeConfig, "shift"),
    validation: int = opt(c.JudgeConfig, "validation"),
    flip: bool = opt(c.JudgeConfig, "flip"),
    data_dir: Optional[Path] = opt(c.FashionData, "data_dir"),
    download: bool = opt(c.FashionData, "download"),
    limit: int = opt(c.FashionData, "limit"),
    run: c.RunOptions = c.RunOptions(),
) -> int:
    """Train the judge, a small CNN from scratch on the training images, to grade generated samples independently
    of every GAN (the classifier is fine-tuned from a GAN's discriminator)."""
    from hw3cli.experiments import judge as exp

    return exp.run(build(c.JudgeConfig, locals()))


@app.command("histogram")
def histogram(
    generators: list[Path] = opt(c.HistogramConfig, "generators", required=True),
    classifier: Path = opt(c.HistogramConfig, "classifier"),
    judge: Optional[Path] = opt(c.HistogramConfig, "judge"),
    n: int = opt(c.HistogramConfig, "n"),
    seed: int = opt(c.HistogramConfig, "seed"),
    out_dir: Path = opt(c.HistogramConfig, "out_dir"),
    data_dir: Optional[Path] = opt(c.HistogramConfig, "data_dir"),
) -> int:
    """Class histograms of generated samples (mode collapse), with KL, chi-square, inception score and FD."""
    from hw3cli.experiments import histogram as exp

    return exp.run(build(c.HistogramConfig, locals(), generators=tuple(generators)))


@app.command("compare-gan")
def compare_gan(
    runs: list[Path] = typer.Argument(..., help="train-gan run folders (e.g. the four WGAN clip values)."),
    out_dir: Path = opt(c.CompareGanConfig, "out_dir"),
) -> int:
    """Put train-gan runs side by side: loss curves, final samples and a table."""
    from hw3cli.experiments import compare_gan as exp

    return exp.run(build(c.CompareGanConfig, locals(), runs=tuple(runs)))


@app.command("toy-summary")
def toy_summary(
    runs: list[Path] = typer.Argument(..., help="train-gan runs on --dataset ring or grid (several seeds each)."),
    out_dir: Path = opt(c.ToySummaryConfig, "out_dir"),
) -> int:
    """Average the 2-D mixture runs per dataset and variant over their seeds, beside the published numbers."""
    from hw3cli.experiments import toy_summary as exp

    return exp.run(build(c.ToySummaryConfig, locals(), runs=tuple(runs)))


@app.command("report")
def report(
    artifacts: Path = opt(c.ReportConfig, "artifacts"),
    out: Path = opt(c.ReportConfig, "out"),
) -> int:
    """Build REPORT.md and REPORT.html from the run folders: every figure, table and measured number."""
    from hw3cli.experiments import report as exp

    return exp.run(build(c.ReportConfig, locals()))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn every failure into a one-line message."""
    from hw3cli.core.files import tracking_inputs

    args = sys.argv[1:] if argv is None else argv
    try:
        with tracking_inputs():
            code = app(args=args, prog_name="hw3cli", standalone_mode=False)
    except Interrupted as exc:  # under torchrun every rank stops at the same step; rank 0 says so
        _fail(str(exc) if _rank_zero() else "", exc.exit_code)
    except Hw3Error as exc:
        if "hw3cli.core.distributed" in sys.modules:  # under torchrun: the other ranks hear of it and stop too
            from hw3cli.core.distributed import RanksFailed, leaving
            from hw3cli.errors import TrainingDiverged

            # A divergence is checked over the global batch, so every rank meets it at the same step.
            if not leaving(str(exc), isinstance(exc, (RanksFailed, TrainingDiverged)), _rank_zero()):
                sys.exit(exc.exit_code)  # rank 0 says it for every rank
        _fail(f"hw3cli: error: {exc}", exc.exit_code)
    except RuntimeError as exc:
        lost = "hw3cli.core.distributed" in sys.modules and sys.modules["hw3cli.core.distributed"].lost_peer(exc)
        if not lost:
            raise
        # torchrun's own summary names the rank that failed first; this one only lost contact with it.
        _fail(f"hw3cli: error: rank {os.environ.get('RANK', '?')}: another rank of the torchrun job stopped "
              f"({' '.join(str(exc).split())[:160]})", 1)
    except (KeyboardInterrupt, typer.Abort):
        _fail("hw3cli: interrupted" if _rank_zero() else "", 130)
    except Exception as exc:
        # Typer's usage errors (click's, or the copy of click that newer Typer vendors): one line, exit 2.
        if not (hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError" or not exc.format_message():  # bare `hw3cli`: the help
            print(exc.format_message())
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        where = f"hw3cli {ctx.info_name}" if ctx is not None and ctx.parent is not None else "hw3cli"
        # Under torchrun every rank parsed the same command line: rank 0 says what is wrong with it.
        _fail(f"{where}: {exc.format_message()} (see '{where} --help')" if _rank_zero() else "", exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _rank_zero() -> bool:
    """True in a single process, and in rank 0 of a torchrun job."""
    return os.environ.get("WORLD_SIZE", "1") in ("", "0", "1") or os.environ.get("RANK", "0") == "0"


def _fail(message: str, code: int) -> None:
    if message:
        print(" ".join(message.split()), file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
