"""The command line: parse options, build a frozen config, call the experiment's run(config).

This is the only module that imports typer. Errors the user can fix (Hw3Error, bad options) become one
line on stderr and exit code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from hw3cli import __version__
from hw3cli.errors import Hw3Error, Interrupted

app = typer.Typer(
    name="hw3cli",
    help="The deep-learning assignment as reproducible experiments: a threshold-RNN adder, IMDB sentiment "
    "(GRU vs MLP) and Fashion-MNIST GANs. Outputs go to artifacts/.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"hw3cli {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """hw3cli: every experiment is one subcommand."""


# Options every training command shares, declared once.
Threads = Annotated[int, typer.Option(
    "--threads", help="torch CPU threads (0: OMP_NUM_THREADS if set, else the CPUs this process may use: its "
    "affinity and cgroup CPU quota).")]
Deterministic = Annotated[bool, typer.Option(
    "--deterministic", help="PyTorch's deterministic kernels (for GPUs; seeded CPU runs already repeat exactly). "
    "An operation without a deterministic version is then an error.")]
DetectAnomaly = Annotated[bool, typer.Option(
    "--detect-anomaly",
    help="Debugging: autograd anomaly mode names the operation whose backward made a NaN (several times slower).")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")]
Precision = Annotated[str, typer.Option(
    "--precision", help="auto: bf16 autocast where the device computes bf16 natively (CUDA with bf16, a CPU with "
    "AVX512_BF16 or AMX), else fp32; or fp32, or bf16 (autocast; changes the arithmetic, and is slow where bf16 "
    "is emulated).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace a finished run in the output folder.")]
Resume = Annotated[bool, typer.Option(
    "--resume", help="Continue an interrupted run (same options) from its last finished epoch, saved beside the "
    "run folder as RUN.partial/.")]


@app.command("rnn-add")
def rnn_add(
    a: Optional[str] = typer.Argument(None, help="First binary number, most significant bit first (e.g. 100111)."),
    b: Optional[str] = typer.Argument(None, help="Second binary number (e.g. 110010)."),
    show_weights: bool = typer.Option(False, "--show-weights", help="Also print U, W, b_h, v, b_y and h0."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object for scripts."),
    save: Optional[Path] = typer.Option(None, "--save", help="Also write the JSON result to this file."),
    verify: Optional[int] = typer.Option(
        None, "--verify", metavar="N", help="Check every pair of numbers up to N bits, then random pairs."
    ),
    random_pairs: int = typer.Option(1000, "--random-pairs", help="With --verify: random pairs to check."),
    random_bits: int = typer.Option(256, "--random-bits", help="With --verify: bits of the random pairs."),
    learn: bool = typer.Option(False, "--learn", help="Train the 3-unit network by gradient descent instead."),
    seeds: int = typer.Option(5, "--seeds", help="With --learn: how many seeds to train."),
    seed: int = typer.Option(0, "--seed", help="First seed (--learn) or the random pairs' seed (--verify)."),
    steps: int = typer.Option(2000, "--steps", help="With --learn: Adam steps per seed."),
    weights: Optional[Path] = typer.Option(
        None, "--weights", help="Use a learned adder (learned.safetensors) instead of the hand-set weights."
    ),
    out: Path = typer.Option(Path("artifacts/adder/learned"), "--out", help="With --learn: the run folder."),
    overwrite: Overwrite = False,
    resume: bool = typer.Option(False, "--resume", help="With --learn: continue an interrupted run (same options) "
                                "from its last finished seed."),
    threads: int = typer.Option(0, "--threads", help="With --verify or --learn: torch CPU threads (0: default)."),
    deterministic: Deterministic = False,
    detect_anomaly: DetectAnomaly = False,
) -> int:
    """Add two binary numbers with the hand-set 3-unit threshold RNN (Problem 0), verify it, or learn one."""
    from hw3cli.experiments import rnn_add as exp

    modes = sum([a is not None or b is not None, verify is not None, learn])
    if modes != 1:
        raise Hw3Error("give two binary numbers, or --verify N, or --learn (exactly one of them)")
    if verify is not None:
        return exp.run_verify(exp.VerifyConfig(verify, random_pairs, random_bits, seed, weights, as_json, threads))
    if learn:
        return exp.run_learn(exp.LearnConfig(seeds=seeds, first_seed=seed, steps=steps, out_dir=out,
                                             overwrite=overwrite, threads=threads, resume=resume,
                                             deterministic=deterministic,
                                             detect_anomaly=detect_anomaly))
    if a is None or b is None:
        raise Hw3Error("rnn-add needs two binary numbers, e.g. hw3cli rnn-add 100111 110010")
    return exp.run(exp.AddConfig(a, b, show_weights, as_json, weights, save))


@app.command("preprocess")
def preprocess(
    source: Optional[Path] = typer.Option(
        Path("../shared/data/imdb"), "--source",
        help="The assignment's folder ({train,test}_{pos,neg}_reviews.txt[.gz]), an aclImdb/ folder, or "
        "aclImdb_v1.tar.gz (read without unpacking).",
    ),
    download: bool = typer.Option(False, "--download", help="Fetch aclImdb_v1.tar.gz (checksummed) into --cache-dir."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Where --download keeps the tarball."),
    out: Path = typer.Option(Path("artifacts/imdb/data"), "--out", help="Output folder."),
    max_len: int = typer.Option(400, "--max-len", help="Indices per review: shorter ones are left-padded with 0."),
    truncate: str = typer.Option(
        "head", "--truncate", help="Longer reviews keep their first (head) or last (tail) tokens."
    ),
    min_freq: int = typer.Option(1, "--min-freq", help="Words seen fewer times in training become <unk>."),
    max_vocab: Optional[int] = typer.Option(None, "--max-vocab", help="Vocabulary size cap, <pad> and <unk> included."),
    dev_fraction: float = typer.Option(0.2, "--dev-fraction", help="Share of training held out as dev (stratified)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the dev split."),
) -> int:
    """IMDB text to a JSON vocabulary (from the training split only) and left-padded index matrices."""
    from hw3cli.experiments import preprocess as exp

    config = exp.PreprocessConfig(source=source, download=download, out_dir=out, max_len=max_len, truncate=truncate,
                                  min_freq=min_freq, max_vocab=max_vocab, dev_fraction=dev_fraction, seed=seed)
    if cache_dir is not None:
        config = exp.PreprocessConfig(**{**config.__dict__, "cache_dir": cache_dir})
    return exp.run(config)


DATA_HELP = "The output folder of hw3cli preprocess."
BUCKET_HELP = (
    "Batch reviews of similar length and drop the columns that are padding in the whole batch. Faster, and it "
    "changes what the GRU computes: it starts at the batch's longest review instead of running over padding "
    "first (the MLP is unaffected: it pads back to full length)."
)


@app.command("train-gru")
def train_gru(
    data: Path = typer.Option(Path("artifacts/imdb/data"), "--data", help=DATA_HELP),
    out: Path = typer.Option(Path("artifacts/imdb/gru"), "--out", help="Run folder to write."),
    embed_dim: int = typer.Option(128, "--embed-dim", help="Embedding size."),
    hidden: int = typer.Option(128, "--hidden", help="GRU hidden units."),
    layers: int = typer.Option(1, "--layers", help="Stacked GRU layers."),
    dropout: float = typer.Option(0.3, "--dropout", help="Dropout on the embeddings and the last hidden state."),
    epochs: int = typer.Option(6, "--epochs", help="At most this many epochs."),
    batch_size: int = typer.Option(64, "--batch-size", help="Reviews per step."),
    lr: float = typer.Option(2e-3, "--lr", help="Adam learning rate."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Adam weight decay."),
    clip: float = typer.Option(1.0, "--clip", help="Gradient-norm clipping threshold."),
    patience: int = typer.Option(2, "--patience", help="Early stopping: epochs without a better dev accuracy."),
    bucket: bool = typer.Option(True, "--bucket/--no-bucket", help=BUCKET_HELP),
    precision: Precision = "auto",
    threads: Threads = 0,
    deterministic: Deterministic = False,
    detect_anomaly: DetectAnomaly = False,
    seed: int = typer.Option(0, "--seed", help="Seeds weights, batch order and dropout."),
    device: Device = "auto",
    overwrite: Overwrite = False,
    resume: Resume = False,
) -> int:
    """Train the GRU sentiment classifier: Embedding -> GRU -> Linear -> Sigmoid on the last step."""
    from hw3cli.experiments import sentiment as exp

    return exp.run_train(exp.GRUConfig(
        data_dir=data, out_dir=out, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        clip=clip, patience=patience, bucket=bucket, precision=precision, threads=threads,
        deterministic=deterministic, detect_anomaly=detect_anomaly, seed=seed,
        device=device, embed_dim=embed_dim, hidden=hidden, layers=layers, dropout=dropout, overwrite=overwrite,
        resume=resume))


@app.command("train-mlp")
def train_mlp(
    data: Path = typer.Option(Path("artifacts/imdb/data"), "--data", help=DATA_HELP),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder [default: artifacts/imdb/mlp-INPUT]."),
    input: str = typer.Option(
        "embedding", "--input",
        help="ids: the 400 raw indices are the features (the assignment's literal reading); embedding: each "
        "index embedded, the 400 embeddings concatenated.",
    ),
    embed_dim: int = typer.Option(16, "--embed-dim", help="Embedding size (--input embedding)."),
    hidden: int = typer.Option(64, "--hidden", help="Hidden units."),
    dropout: float = typer.Option(0.5, "--dropout", help="Dropout on the input features and the hidden layer."),
    epochs: int = typer.Option(30, "--epochs", help="At most this many epochs."),
    batch_size: int = typer.Option(64, "--batch-size", help="Reviews per step."),
    lr: float = typer.Option(2e-3, "--lr", help="Adam learning rate."),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="Adam weight decay."),
    clip: float = typer.Option(1.0, "--clip", help="Gradient-norm clipping threshold."),
    patience: int = typer.Option(6, "--patience", help="Early stopping: epochs without a better dev accuracy."),
    precision: Precision = "auto",
    threads: Threads = 0,
    deterministic: Deterministic = False,
    detect_anomaly: DetectAnomaly = False,
    seed: int = typer.Option(0, "--seed", help="Seeds weights, batch order and dropout."),
    device: Device = "auto",
    overwrite: Overwrite = False,
    resume: Resume = False,
) -> int:
    """Train the two-layer MLP sentiment classifier on the same fixed-length input."""
    from hw3cli.experiments import sentiment as exp

    return exp.run_train(exp.MLPConfig(
        data_dir=data, out_dir=out or Path(f"artifacts/imdb/mlp-{input}"), epochs=epochs, batch_size=batch_size,
        lr=lr, weight_decay=weight_decay, clip=clip, patience=patience, precision=precision, threads=threads,
        deterministic=deterministic, detect_anomaly=detect_anomaly,
        seed=seed, device=device, input=input, embed_dim=embed_dim, hidden=hidden, dropout=dropout,
        overwrite=overwrite, resume=resume))


@app.command("predict")
def predict(
    source: str = typer.Argument("-", help="A file with one review per line, or - for standard input."),
    model: Path = typer.Option(..., "--model", help="A run folder of train-gru or train-mlp."),
    batch_size: int = typer.Option(256, "--batch-size", help="Reviews per forward pass."),
    device: Device = "auto",
) -> int:
    """Classify reviews, one per line: prints probability<TAB>label (positive/negative) per line."""
    from hw3cli.experiments import sentiment as exp

    return exp.run_predict(exp.PredictConfig(model, source, batch_size, device))


@app.command("compare-imdb")
def compare_imdb(
    runs: list[Path] = typer.Argument(..., help="Run folders of train-gru / train-mlp."),
    out: Path = typer.Option(Path("artifacts/imdb/comparison.md"), "--out", help="Markdown file to write."),
) -> int:
    """Write the GRU-vs-MLP comparison table (test and dev accuracy, parameters, time) from run folders."""
    from hw3cli.experiments import sentiment as exp

    return exp.run_compare(exp.CompareConfig(tuple(runs), out))


@app.command("train-gan")
def train_gan(
    loss: str = typer.Option(
        "vanilla", "--loss",
        help="vanilla (D: -log D(x) - log(1-D(G(z))), G: -log D(G(z))); mse (no D: G minimises (x - G(z))^2); "
        "wgan (critic without sigmoid, weights clipped to [-clip, clip], RMSprop, 5 critic steps); "
        "lsgan (least squares).",
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder [default: artifacts/gan/LOSS, "
                                       "artifacts/gan/wgan-clipC for wgan]."),
    epochs: int = typer.Option(30, "--epochs", help="Passes over the training images."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per step."),
    noise_dim: int = typer.Option(100, "--noise-dim", help="Size of G's Gaussian input."),
    g_hidden: str = typer.Option("256,512,1024", "--g-hidden", help="G's three hidden layer sizes."),
    d_hidden: str = typer.Option("1024,512,256", "--d-hidden", help="D's three hidden layer sizes."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate [default: 2e-4 Adam; wgan 5e-5 RMSprop]."),
    clip: float = typer.Option(0.01, "--clip", help="wgan: clip every critic weight to [-clip, clip]."),
    critic_steps: Optional[int] = typer.Option(None, "--critic-steps", help="D steps per G step [wgan 5, else 1]."),
    sample_every: int = typer.Option(0, "--sample-every", help="Also keep samples every N epochs."),
    samples: int = typer.Option(64, "--samples", help="Fixed-noise samples per grid."),
    precision: Precision = "auto",
    threads: Threads = 0,
    deterministic: Deterministic = False,
    detect_anomaly: DetectAnomaly = False,
    seed: int = typer.Option(0, "--seed", help="Seeds weights, batches, noise and the fixed sample noise."),
    device: Device = "auto",
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder with the four Fashion-MNIST IDX files "
                                            "[default: /usr/share/datasets/fashion-mnist, then torchvision's root]."),
    download: bool = typer.Option(False, "--download", help="Let torchvision download Fashion-MNIST."),
    limit: int = typer.Option(0, "--limit", help="Train on the first N images only (0: all)."),
    unroll: Optional[int] = typer.Option(
        None, "--unroll", metavar="K",
        help="Unrolled GAN: train G against D as it will be after K more steps. See --unroll-mode.",
    ),
    unroll_mode: str = typer.Option(
        "surrogate", "--unroll-mode",
        help="surrogate (the assignment's scheme): a copy of D (and of its optimizer state) takes K steps on fresh "
        "batches and G is trained against the copy; the real D is untouched and no gradient flows through the "
        "K steps. exact (Metz et al. 2016): D's weights are unrolled through K differentiable SGD steps, so G's "
        "gradient also flows through D's reaction to G's samples (vanilla and lsgan only).",
    ),
    unroll_lr: float = typer.Option(1e-3, "--unroll-lr", help="Exact unrolling: the SGD step size."),
    classifier: Optional[Path] = typer.Option(
        None, "--classifier", help="A classify run: measure sample quality (Frechet distance, inception score, "
        "class histogram) at the end and every --eval-every epochs."),
    eval_every: int = typer.Option(0, "--eval-every", help="With --classifier: measure every N epochs."),
    conditional: bool = typer.Option(
        False, "--conditional", help="Conditional GAN: a one-hot class label is concatenated to G's noise and to "
        "D's image (first layers widened); sample grids show one row per class. Works with vanilla, lsgan and wgan."),
    overwrite: Overwrite = False,
    resume: Resume = False,
) -> int:
    """Train an MLP GAN on Fashion-MNIST with one of four losses; writes checkpoints, curves and sample grids."""
    from hw3cli.experiments import gan as exp

    return exp.run(exp.GanConfig(
        loss=loss, out_dir=out, epochs=epochs, batch_size=batch_size, noise_dim=noise_dim,
        g_hidden=exp.parse_sizes(g_hidden, "--g-hidden"), d_hidden=exp.parse_sizes(d_hidden, "--d-hidden"), lr=lr,
        clip=clip, critic_steps=critic_steps, sample_every=sample_every, samples=samples, precision=precision,
        threads=threads, deterministic=deterministic, detect_anomaly=detect_anomaly, seed=seed, device=device,
        data_dir=data_dir, download=download, limit=limit,
        unroll=unroll, unroll_mode=unroll_mode, unroll_lr=unroll_lr, classifier=classifier, eval_every=eval_every,
        conditional=conditional, overwrite=overwrite, resume=resume))


@app.command("cgan-sample")
def cgan_sample(
    generator: Path = typer.Option(..., "--generator", help="A train-gan --conditional run folder."),
    per_class: int = typer.Option(3, "--per-class", help="Samples of each class."),
    classes: str = typer.Option("0,1,2,3,4,5,6,7,8,9", "--classes",
                                help="Class indices or names, comma-separated (e.g. 0,7,9 or 'sneaker,bag')."),
    seed: int = typer.Option(0, "--seed", help="Seeds the noise."),
    out: Path = typer.Option(Path("artifacts/gan/cgan-samples.png"), "--out", help="The labelled grid (PNG)."),
    tensor: Optional[Path] = typer.Option(None, "--tensor", help="Also save images and labels as safetensors."),
    classifier: Optional[Path] = typer.Option(None, "--classifier",
                                              help="A classify run: print the conditional accuracy."),
) -> int:
    """Samples of chosen classes from a conditional generator, as a labelled grid (and tensors for scripts)."""
    from hw3cli.experiments import cgan_sample as exp

    return exp.run(exp.CganSampleConfig(generator, per_class, exp.parse_classes(classes), seed, out, tensor,
                                        classifier))


@app.command("classify")
def classify(
    init_from: Path = typer.Option(Path("artifacts/gan/vanilla"), "--init-from",
                                   help="A train-gan run whose discriminator initialises the hidden layers."),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="Start from random weights instead."),
    out: Path = typer.Option(Path("artifacts/gan/classifier"), "--out", help="Run folder."),
    epochs: int = typer.Option(30, "--epochs", help="Passes over the training images."),
    batch_size: int = typer.Option(128, "--batch-size", help="Images per step."),
    lr: float = typer.Option(1e-3, "--lr", help="AdamW peak learning rate (cosine decay)."),
    dropout: float = typer.Option(0.2, "--dropout", help="Dropout after every hidden layer."),
    shift: int = typer.Option(0, "--shift", help="Random shifts of up to this many pixels (augmentation)."),
    validation: int = typer.Option(5000, "--validation", help="Training images held out to watch accuracy."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Random horizontal flips (augmentation)."),
    seed: int = typer.Option(0, "--seed", help="Seeds weights, batch order and augmentation."),
    precision: Precision = "auto",
    threads: Threads = 0,
    deterministic: Deterministic = False,
    detect_anomaly: DetectAnomaly = False,
    device: Device = "auto",
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder with the four Fashion-MNIST IDX files."),
    download: bool = typer.Option(False, "--download", help="Let torchvision download Fashion-MNIST."),
    limit: int = typer.Option(0, "--limit", help="Use the first N training images only (0: all)."),
    overwrite: Overwrite = False,
    resume: Resume = False,
) -> int:
    """Fine-tune D's architecture with 10 outputs into a Fashion-MNIST classifier (to measure generators)."""
    from hw3cli.experiments import classify as exp

    return exp.run(exp.ClassifyConfig(
        init_from=init_from, from_scratch=from_scratch, out_dir=out, epochs=epochs, batch_size=batch_size, lr=lr,
        dropout=dropout, shift=shift, flip=flip, validation=validation, seed=seed, precision=precision, threads=threads,
        deterministic=deterministic, detect_anomaly=detect_anomaly, device=device,
        data_dir=data_dir, download=download, limit=limit, overwrite=overwrite, resume=resume))


@app.command("histogram")
def histogram(
    generator: list[Path] = typer.Option(..., "--generator", help="A train-gan run folder (repeat the option)."),
    classifier: Path = typer.Option(Path("artifacts/gan/classifier"), "--classifier", help="A classify run."),
    n: int = typer.Option(3000, "-n", help="Samples per generator."),
    seed: int = typer.Option(0, "--seed", help="Seeds the noise and the real baseline images."),
    out: Path = typer.Option(Path("artifacts/gan/histograms"), "--out", help="Folder for the figure and JSON."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder with the four Fashion-MNIST IDX files."),
) -> int:
    """Class histograms of generated samples (mode collapse), with KL, chi-square, inception score and FD."""
    from hw3cli.experiments import histogram as exp

    return exp.run(exp.HistogramConfig(tuple(generator), classifier, n, seed, out, data_dir))


@app.command("compare-gan")
def compare_gan(
    runs: list[Path] = typer.Argument(..., help="train-gan run folders (e.g. the four WGAN clip values)."),
    out: Path = typer.Option(Path("artifacts/gan/comparison"), "--out", help="Folder for comparison.png/.md."),
) -> int:
    """Put train-gan runs side by side: loss curves, final samples and a table."""
    from hw3cli.experiments import gan as exp

    return exp.run_compare(exp.CompareConfig(tuple(runs), out))


@app.command("report")
def report(
    artifacts: Path = typer.Option(Path("artifacts"), "--artifacts", help="The folder the runs are in."),
    out: Path = typer.Option(Path("artifacts/REPORT.md"), "--out", help="The Markdown report (HTML beside it)."),
) -> int:
    """Build REPORT.md and REPORT.html from the run folders: every figure, table and measured number."""
    from hw3cli.experiments import report as exp

    return exp.run(exp.ReportConfig(artifacts, out))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn every failure into a one-line message."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args, prog_name="hw3cli", standalone_mode=False)
    except Interrupted as exc:
        _fail(str(exc), exc.exit_code)
    except Hw3Error as exc:
        _fail(f"hw3cli: error: {exc}", exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _fail("hw3cli: interrupted", 130)
    except Exception as exc:
        # Typer's usage errors (click's, or the copy of click that newer Typer vendors): one line, exit 2.
        if not (hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)):
            raise
        if not exc.format_message():  # bare `hw3cli`: the help was printed, nothing went wrong
            sys.exit(0)
        ctx = getattr(exc, "ctx", None)
        where = f"hw3cli {ctx.info_name}" if ctx is not None and ctx.parent is not None else "hw3cli"
        _fail(f"{where}: {exc.format_message()} (see '{where} --help')", exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    print(" ".join(message.split()), file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
