"""The command line: parse options, build a frozen config, call the experiment's run(config).

This is the only module that imports typer. Every option's flag, default, range and help come from its config
field (configs.py, turned into options by options.py): a command here is its config, its summary and its call.
Errors the user can fix (Hw3Error, bad options) become one line on stderr and exit code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

import typer

from hw3cli import __version__, options
from hw3cli import configs as c
from hw3cli.errors import Hw3Error, Interrupted

app = typer.Typer(
    name="hw3cli",
    help="The deep-learning assignment as reproducible experiments: a threshold-RNN adder, IMDB sentiment "
    "(GRU vs MLP) and Fashion-MNIST GANs. Outputs go to artifacts/ (relative to the current folder).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help (_Grouped): rich's tables squeeze the help to a sliver at 80 columns
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)

def _option(field: dataclasses.Field, hint: Any, default: Any, panel: str | None) -> Any:
    """The typer option (or argument) of a config field: its flag, default, help, panel and (for numbers) range."""
    meta = field.metadata
    if meta.get("argument"):
        return typer.Argument(... if default is dataclasses.MISSING else default, help=meta["help"])
    parse, text, metavar, default = options.parsing(field, hint, default)

    def parser(value: Any) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return typer.Option(... if meta["required"] else default, *meta["flag"].split(" "), help=text,
                        parser=parser if parse else None, metavar=metavar, rich_help_panel=panel)


COMMANDS: dict[str, tuple[type, ...]] = {}  # each command's configs


class _Grouped(typer.core.TyperCommand):
    """Help with the options under their panels' headings (configs' PANELS), as rich_help_panel groups them."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list] = {}
        for param in self.get_params(ctx):
            if (record := param.get_help_record(ctx)) is not None:
                panel = getattr(param, "rich_help_panel", None) or "Options"
                sections.setdefault("Arguments" if param.param_type_name == "argument" else panel, []).append(record)
        order = ["Arguments", "Options" if len(sections.get("Options", [])) > 1 else "", *options.PANEL_ORDER]
        for title, rows in sorted(sections.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99):
            with formatter.section(title):
                formatter.write_dl(rows)


def command(name: str, **configs: type) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Register `name`, whose options are the fields of `configs` (declared once, in configs.py); the function
    receives each config, built, as the keyword of that name. An option two configs share is offered once."""

    def register(function: Callable[..., int]) -> Callable[..., int]:
        params: dict[str, inspect.Parameter] = {}
        COMMANDS[name] = tuple(configs.values())
        for config in configs.values():
            for field_name, field, hint, default in options.of(config):
                params.setdefault(field_name, inspect.Parameter(
                    field_name, inspect.Parameter.KEYWORD_ONLY,
                    default=_option(field, hint, default, options.panel(config, field_name)),
                    annotation=options.cli_type(hint)))

        def parsed(**values: Any) -> int:
            used: set[str] = set()
            built = {key: options.build(config, values, used) for key, config in configs.items()}
            if set(values) - used:  # an option that reaches no config would be silently ignored
                raise AssertionError(f"hw3cli {name}: options {sorted(set(values) - used)} reach no config field")
            return function(**built)

        parsed.__signature__, parsed.__doc__ = inspect.Signature(list(params.values())), function.__doc__
        app.command(name, cls=_Grouped)(parsed)
        return function

    return register


def _experiment(name: str) -> Any:
    """An experiment's module, imported when its command runs (torch with it): --help stays instant."""
    return importlib.import_module(f"hw3cli.experiments.{name}")


def _version(value: bool) -> None:
    if value:
        print(f"hw3cli {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version.")) -> None:
    """hw3cli: every experiment is one subcommand."""


@command("rnn-add", add=c.AddConfig, verify=c.VerifyConfig, learn=c.LearnConfig)
def rnn_add(*, add: c.AddConfig, verify: c.VerifyConfig, learn: c.LearnConfig) -> int:
    """Binary addition by the hand-set threshold RNN. Problem 0: add two numbers, verify the network, or learn one."""
    if sum([add.a is not None or add.b is not None, verify.bits is not None, learn.learn]) != 1:
        raise Hw3Error("give two binary numbers, or --verify N, or --learn (exactly one of them)")
    if verify.bits is None and not learn.learn and (add.a is None or add.b is None):
        raise Hw3Error("rnn-add needs two binary numbers, e.g. hw3cli rnn-add 100111 110010")
    exp = _experiment("rnn_add")
    return exp.run_verify(verify) if verify.bits is not None else exp.run_learn(learn) if learn.learn else exp.run(add)


@command("data", config=c.DataConfig)
def data(*, config: c.DataConfig) -> int:
    """Find the data sets, or fetch them. Fashion-MNIST and IMDB, or what is missing with --download; make all runs it
    first."""
    return _experiment("data").run(config)


@command("preprocess", config=c.PreprocessConfig)
def preprocess(*, config: c.PreprocessConfig) -> int:
    """IMDB text to a vocabulary and padded indices. The JSON vocabulary comes from the training split only; the index
    matrices are left-padded."""
    return _experiment("preprocess").run(config)


@command("train-gru", config=c.GRUConfig)
def train_gru(*, config: c.GRUConfig) -> int:
    """Train the GRU sentiment classifier. Embedding -> GRU -> Linear -> Sigmoid on the last step."""
    return _experiment("train_sentiment").run(config)


@command("train-mlp", config=c.MLPConfig)
def train_mlp(*, config: c.MLPConfig) -> int:
    """Train the two-layer MLP sentiment classifier. It reads the same fixed-length input as the GRU."""
    return _experiment("train_sentiment").run(config)


@command("predict", config=c.PredictConfig)
def predict(*, config: c.PredictConfig) -> int:
    """Classify reviews with a trained model. One review per line in; probability<TAB>label (positive/negative) out."""
    return _experiment("predict").run(config)


@command("compare-imdb", config=c.CompareImdbConfig)
def compare_imdb(*, config: c.CompareImdbConfig) -> int:
    """Compare the GRU and MLP runs. A table of test and dev accuracy, parameters and time, from run folders."""
    return _experiment("compare_imdb").run(config)


@command("train-gan", config=c.GanConfig)
def train_gan(*, config: c.GanConfig) -> int:
    """Train an MLP GAN on Fashion-MNIST or a 2-D mixture. Writes checkpoints, curves and sample grids."""
    return _experiment("train_gan").run(config)


@command("cgan-sample", config=c.CganSampleConfig)
def cgan_sample(*, config: c.CganSampleConfig) -> int:
    """Draw chosen classes from a conditional GAN. A labelled grid (and tensors for scripts)."""
    exp = _experiment("cgan_sample")
    return exp.run(dataclasses.replace(config, classes=exp.parse_classes(config.classes)))


@command("classify", config=c.ClassifyConfig)
def classify(*, config: c.ClassifyConfig) -> int:
    """Train the Fashion-MNIST classifier (D with 10 outputs). It fine-tunes a GAN's discriminator and then grades
    generators."""
    return _experiment("classify").run(config)


@command("judge", config=c.JudgeConfig)
def judge(*, config: c.JudgeConfig) -> int:
    """Train the judge, an independent CNN grader. Trained from scratch, it shares nothing with any GAN."""
    return _experiment("judge").run(config)


@command("histogram", config=c.HistogramConfig)
def histogram(*, config: c.HistogramConfig) -> int:
    """Class histograms of generated samples (mode collapse). With KL, chi-square, inception score, FD and coverage."""
    return _experiment("histogram").run(config)


@command("compare-gan", config=c.CompareGanConfig)
def compare_gan(*, config: c.CompareGanConfig) -> int:
    """Put train-gan runs side by side. Loss curves, final samples and a table."""
    return _experiment("compare_gan").run(config)


@command("toy-summary", config=c.ToySummaryConfig)
def toy_summary(*, config: c.ToySummaryConfig) -> int:
    """Summarise the 2-D mixture runs over seeds. Per data set and variant, beside the published numbers."""
    return _experiment("toy_summary").run(config)


@command("collapse-summary", config=c.CollapseSummaryConfig)
def collapse_summary(*, config: c.CollapseSummaryConfig) -> int:
    """Mode-collapse measures over seeds, with intervals. Whether each variant beats vanilla, from 95% intervals."""
    return _experiment("collapse_summary").run(config)


@command("report", config=c.ReportConfig)
def report(*, config: c.ReportConfig) -> int:
    """Build REPORT.md and REPORT.html from the run folders. Every figure, table and measured number."""
    return _experiment("report").run(config)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn every failure into a one-line message."""
    from hw3cli.core.files import holding_locks, tracking_inputs
    args, notes = options.modernised(sys.argv[1:] if argv is None else argv, COMMANDS)
    for note in notes if _rank_zero() else ():
        print(note, file=sys.stderr)
    try:
        with tracking_inputs(), holding_locks():
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
        ctx = getattr(exc, "ctx", None)  # under torchrun every rank parsed it alike: rank 0 says what is wrong
        where = f"hw3cli {ctx.info_name}" if ctx is not None and ctx.parent is not None else "hw3cli"
        message = exc.format_message().replace("Value error, ", "")  # typer's wording of a bad choice
        _fail(f"hw3cli: error: {message} (see '{where} --help')" if _rank_zero() else "", exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _rank_zero() -> bool:  # True in a single process, and in rank 0 of a torchrun job
    return os.environ.get("WORLD_SIZE", "1") in ("", "0", "1") or os.environ.get("RANK", "0") == "0"


def _fail(message: str, code: int) -> None:  # one line on stderr (none for the ranks that leave it to rank 0)
    if message:
        print(" ".join(message.split()), file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
