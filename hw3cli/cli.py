"""The command line: parse options, build a frozen config, call the experiment's run(config).

This is the only module that imports typer. Errors the user can fix (Hw3Error, bad options) become one
line on stderr and exit code 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from hw3cli import __version__
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

# Every number is checked here, when the command line is parsed: a range for each, finite floats only (NaN and
# infinity are refused), and upper bounds on sizes and counts. What depends on the machine (memory for a model
# of that size) is checked by the experiment before it allocates anything.
SEED_MAX = 2**63 - 1
SIZE_MAX = 65_536  # widths of layers and embeddings
COUNT_MAX = 10**9  # images, epochs, steps


def _finite(low: float, high: float, low_open: bool = False, high_open: bool = False):
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

    return parse, interval


def Real(flag: str, help: str, low: float, high: float, low_open: bool = False, high_open: bool = False):
    """A float option that must be finite and in the interval, which its help shows."""
    parse, interval = _finite(low, high, low_open, high_open)
    return typer.Option(flag, help=f"{help} In {interval}.", parser=parse, metavar="FLOAT")


def Count(flag: str, help: str, low: int = 1, high: int = COUNT_MAX, metavar: str = "INT"):
    """An integer option (ASCII digits) from low to high, which its help shows."""

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

    return typer.Option(flag, help=f"{help} From {low:,} to {high:,}.", parser=parse, metavar=metavar)


def _device(text: str) -> str:
    if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]{1,3})?", str(text).lower()):
        raise typer.BadParameter(f"'{text}' is not a device: auto, cpu, cuda, cuda:N or mps")
    return str(text).lower()


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
Threads = Annotated[int, Count(
    "--threads", "torch CPU threads (0: OMP_NUM_THREADS if set, else the CPUs this process may use: its "
    "affinity and cgroup CPU quota).", 0, 256)]
Seed = Annotated[int, Count("--seed", "Seeds weights, batch order and every random draw.", 0, SEED_MAX)]
# The sentiment models' loop options: the same for the GRU and the MLP (their defaults differ).
ReviewBatch = Annotated[int, Count("--batch-size", "Reviews per step.", 1, 10**6)]
AdamLr = Annotated[float, Real("--lr", "Adam learning rate.", 0, 10, low_open=True)]
WeightDecay = Annotated[float, Real("--weight-decay", "Adam weight decay.", 0, 10)]
GradClip = Annotated[float, Real("--clip", "Gradient-norm clipping threshold.", 0, 1e6, low_open=True)]
MaxEpochs = Annotated[int, Count("--epochs", "At most this many epochs.", 1, 100_000)]
Patience = Annotated[int, Count("--patience", "Early stopping: epochs without a better dev accuracy.", 1, 100_000)]
Deterministic = Annotated[bool, typer.Option(
    "--deterministic", help="PyTorch's deterministic kernels (for GPUs; seeded CPU runs already repeat exactly). "
    "An operation without a deterministic version is then an error.")]
DetectAnomaly = Annotated[bool, typer.Option(
    "--detect-anomaly",
    help="Debugging: autograd anomaly mode names the operation whose backward made a NaN (several times slower).")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.", parser=_device,
                                     metavar="DEVICE")]
Precision = Annotated[Literal["auto", "fp32", "bf16"], typer.Option(
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
    verify: Annotated[Optional[int], Count(
        "--verify", "Check every pair of numbers up to N bits, then random pairs.", 1, 14, "N")] = None,
    random_pairs: Annotated[int, Count("--random-pairs", "With --verify: random pairs to check.", 0, 10**7)] = 1000,
    random_bits: Annotated[int, Count("--random-bits", "With --verify: bits of the random pairs.", 1, 100_000)] = 256,
    learn: bool = typer.Option(False, "--learn", help="Train the 3-unit network by gradient descent instead."),
    seeds: Annotated[int, Count("--seeds", "With --learn: how many seeds to train.", 1, 10_000)] = 5,
    seed: Annotated[int, Count("--seed", "First seed (--learn) or the random pairs' seed (--verify).", 0,
                               SEED_MAX)] = 0,
    steps: Annotated[int, Count("--steps", "With --learn: Adam steps per seed.", 1, 10**7)] = 2000,
    weights: Optional[Path] = typer.Option(
        None, "--weights", help="Use a learned adder (learned.safetensors) instead of the hand-set weights."
    ),
    out: Path = typer.Option(Path("artifacts/adder/learned"), "--out", help="With --learn: the run folder."),
    overwrite: Overwrite = False,
    resume: bool = typer.Option(False, "--resume", help="With --learn: continue an interrupted run (same options) "
                                "from its last finished seed."),
    threads: Threads = 0,
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
    max_len: Annotated[int, Count("--max-len", "Indices per review: shorter ones are left-padded with 0.", 1,
                                  100_000)] = 400,
    truncate: Literal["head", "tail"] = typer.Option(
        "head", "--truncate", help="Longer reviews keep their first (head) or last (tail) tokens."
    ),
    min_freq: Annotated[int, Count("--min-freq", "Words seen fewer times in training become <unk>.")] = 1,
    max_vocab: Annotated[Optional[int], Count("--max-vocab", "Vocabulary size cap, <pad> and <unk> included.", 3,
                                              10**8)] = None,
    dev_fraction: Annotated[float, Real("--dev-fraction", "Share of training held out as dev (stratified).", 0, 1,
                                        True, True)] = 0.2,
    seed: Annotated[int, Count("--seed", "Seeds the dev split.", 0, SEED_MAX)] = 0,
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
    embed_dim: Annotated[int, Count("--embed-dim", "Embedding size.", 1, SIZE_MAX)] = 128,
    hidden: Annotated[int, Count("--hidden", "GRU hidden units.", 1, SIZE_MAX)] = 128,
    layers: Annotated[int, Count("--layers", "Stacked GRU layers.", 1, 64)] = 1,
    dropout: Annotated[float, Real("--dropout", "Dropout on the embeddings and the last hidden state.", 0, 1,
                                   high_open=True)] = 0.3,
    epochs: MaxEpochs = 6,
    batch_size: ReviewBatch = 64,
    lr: AdamLr = 2e-3,
    weight_decay: WeightDecay = 0.0,
    clip: GradClip = 1.0,
    patience: Patience = 2,
    bucket: bool = typer.Option(True, "--bucket/--no-bucket", help=BUCKET_HELP),
    precision: Precision = "auto",
    threads: Threads = 0,
    deterministic: Deterministic = False,
    detect_anomaly: DetectAnomaly = False,
    seed: Seed = 0,
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
    input: Literal["ids", "embedding"] = typer.Option(
        "embedding", "--input",
        help="ids: the 400 raw indices are the features (the assignment's literal reading); embedding: each "
        "index embedded, the 400 embeddings concatenated.",
    ),
    embed_dim: Annotated[int, Count("--embed-dim", "Embedding size (--input embedding).", 1, SIZE_MAX)] = 16,
    hidden: Annotated[int, Count("--hidden", "Hidden units.", 1, SIZE_MAX)] = 64,
    dropout: Annotated[float, Real("--dropout", "Dropout on the input features and the hidden layer.", 0, 1,
                                   high_open=True)] = 0.5,
    epochs: MaxEpochs = 30,
    batch_size: ReviewBatch = 64,
    lr: AdamLr = 2e-3,
    weight_decay: WeightDecay = 0.0,
    clip: GradClip = 1.0,
    patience: Patience = 6,
    precision: Precision = "auto",
    threads: Threads = 0,
    deterministic: Deterministic = False,
    detect_anomaly: DetectAnomaly = False,
    seed: Seed = 0,
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
    batch_size: Annotated[int, Count("--batch-size", "Reviews per forward pass.", 1, 100_000)] = 256,
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
    loss: Literal["vanilla", "mse", "wgan", "lsgan"] = typer.Option(
        "vanilla", "--loss",
        help="vanilla (D: -log D(x) - log(1-D(G(z))), G: -log D(G(z))); mse (no D: G minimises (x - G(z))^2); "
        "wgan (critic without sigmoid, weights clipped to [-clip, clip], RMSprop, 5 critic steps); "
        "lsgan (least squares).",
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: artifacts/gan/LOSS; "
                                       "artifacts/gan/wgan-clipC for wgan)."),
    epochs: Annotated[int, Count("--epochs", "Passes over the training images.", 1, 100_000)] = 30,
    batch_size: Annotated[int, Count("--batch-size", "Images per step.", 1, 10**6)] = 64,
    noise_dim: Annotated[int, Count("--noise-dim", "Size of G's Gaussian input.", 1, SIZE_MAX)] = 100,
    g_hidden: str = typer.Option("256,512,1024", "--g-hidden", help="G's three hidden layer sizes."),
    d_hidden: str = typer.Option("1024,512,256", "--d-hidden", help="D's three hidden layer sizes."),
    lr: Annotated[Optional[float], Real("--lr", "Learning rate (default: 2e-4 with Adam; 5e-5 with RMSprop for "
                                        "wgan).", 0, 10, low_open=True)] = None,
    clip: Annotated[float, Real("--clip", "wgan: clip every critic weight to [-clip, clip].", 0, 1000,
                                low_open=True)] = 0.01,
    critic_steps: Annotated[Optional[int], Count("--critic-steps", "D steps per G step (default: 5 for wgan, "
                                                 "else 1).", 1, 1000)] = None,
    sample_every: Annotated[int, Count("--sample-every", "Also keep samples every N epochs (0: start, middle and "
                                       "end only).", 0, 100_000)] = 0,
    samples: Annotated[int, Count("--samples", "Fixed-noise samples per grid.", 1, 512)] = 64,
    precision: Precision = "auto",
    threads: Threads = 0,
    deterministic: Deterministic = False,
    detect_anomaly: DetectAnomaly = False,
    seed: Annotated[int, Count("--seed", "Seeds weights, batches, noise and the fixed sample noise.", 0,
                               SEED_MAX)] = 0,
    device: Device = "auto",
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder with the four Fashion-MNIST IDX files "
                                            "(default: /usr/share/datasets/fashion-mnist, then torchvision's root)."),
    download: bool = typer.Option(False, "--download", help="Let torchvision download Fashion-MNIST."),
    limit: Annotated[int, Count("--limit", "Train on the first N images only (0: all).", 0)] = 0,
    unroll: Annotated[Optional[int], Count(
        "--unroll", "Unrolled GAN: train G against D as it will be after K more steps. See --unroll-mode.", 1, 100,
        "K")] = None,
    unroll_mode: Literal["surrogate", "exact"] = typer.Option(
        "surrogate", "--unroll-mode",
        help="surrogate (the assignment's scheme): a copy of D (and of its optimizer state) takes K steps on fresh "
        "batches and G is trained against the copy; the real D is untouched and no gradient flows through the "
        "K steps. exact (Metz et al. 2016): D's weights are unrolled through K differentiable SGD steps, so G's "
        "gradient also flows through D's reaction to G's samples (vanilla and lsgan only).",
    ),
    unroll_lr: Annotated[float, Real("--unroll-lr", "Exact unrolling: the SGD step size.", 0, 10,
                                     low_open=True)] = 1e-3,
    classifier: Optional[Path] = typer.Option(
        None, "--classifier", help="A classify run: measure sample quality (Frechet distance, inception score, "
        "class histogram) at the end and every --eval-every epochs."),
    eval_every: Annotated[int, Count("--eval-every", "With --classifier: measure every N epochs (0: at the end).",
                                     0, 100_000)] = 0,
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
    per_class: Annotated[int, Count("--per-class", "Samples of each class (a column each in the grid).", 1,
                                    100)] = 3,
    classes: str = typer.Option("0,1,2,3,4,5,6,7,8,9", "--classes",
                                help="Class indices or names, comma-separated (e.g. 0,7,9 or 'sneaker,bag')."),
    seed: Annotated[int, Count("--seed", "Seeds the noise.", 0, SEED_MAX)] = 0,
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
    epochs: Annotated[int, Count("--epochs", "Passes over the training images.", 1, 100_000)] = 30,
    batch_size: Annotated[int, Count("--batch-size", "Images per step.", 1, 10**6)] = 128,
    lr: Annotated[float, Real("--lr", "AdamW peak learning rate (cosine decay).", 0, 10, low_open=True)] = 1e-3,
    dropout: Annotated[float, Real("--dropout", "Dropout after every hidden layer.", 0, 1, high_open=True)] = 0.2,
    shift: Annotated[int, Count("--shift", "Random shifts of up to this many pixels (augmentation).", 0, 13)] = 0,
    validation: Annotated[int, Count("--validation", "Training images held out to watch accuracy.")] = 5000,
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Random horizontal flips (augmentation)."),
    seed: Annotated[int, Count("--seed", "Seeds weights, batch order and augmentation.", 0, SEED_MAX)] = 0,
    precision: Precision = "auto",
    threads: Threads = 0,
    deterministic: Deterministic = False,
    detect_anomaly: DetectAnomaly = False,
    device: Device = "auto",
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Folder with the four Fashion-MNIST IDX files."),
    download: bool = typer.Option(False, "--download", help="Let torchvision download Fashion-MNIST."),
    limit: Annotated[int, Count("--limit", "Use the first N training images only (0: all).", 0)] = 0,
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
    n: Annotated[int, Count("-n", "Samples per generator (and real test images for the baseline row).", 10,
                            10**6)] = 3000,
    seed: Annotated[int, Count("--seed", "Seeds the noise and the real baseline images.", 0, SEED_MAX)] = 0,
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
    from hw3cli.core.files import tracking_inputs

    args = sys.argv[1:] if argv is None else argv
    try:
        with tracking_inputs():
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
        if type(exc).__name__ == "NoArgsIsHelpError" or not exc.format_message():  # bare `hw3cli`: the help
            print(exc.format_message())
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
