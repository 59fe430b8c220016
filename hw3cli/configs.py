"""Every command's options, declared once: a frozen dataclass per command, one field per option with its default,
its flag, its range and a line of help. The command line (cli.py) builds its options from these fields and the
experiments read them; config.json records them (the nested option groups flattened in, as one level).

This module imports no torch, so `hw3cli --help` stays instant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from hw3cli.data.sources import CACHE_DIR, DEFAULT_DATASET, GAN_DATASETS
from hw3cli.train.gan_losses import LOSSES

SEED_MAX = 2**63 - 1
SIZE_MAX = 65_536  # widths of layers and embeddings
COUNT_MAX = 10**9  # images, epochs, steps

LossName = Literal[tuple(LOSSES)]  # the registered GAN variants (train/gan_losses.py)
DatasetName = Literal[tuple(GAN_DATASETS)]  # the data sets train-gan learns (data/sources.py)
UnrollMode = Literal["surrogate", "exact"]
UnrollOptimizer = Literal["adam", "sgd"]
Precision = Literal["auto", "fp32", "bf16"]
Matmul = Literal["auto", "torch", "openblas", "onednn"]  # core/matmul.py BACKENDS (torch-free here: --help stays fast)
MlpInput = Literal["ids", "embedding"]
Truncate = Literal["head", "tail"]


def option(default: Any, flag: str, help: str, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, high_open: bool = False, metavar: str | None = None, sizes: bool = False,
           required: bool = False, was: str | None = None) -> Any:
    """A config field that is also a command-line option: `flag`, `help`, and for numbers the range [low, high]
    (open at an end with low_open/high_open), which the CLI enforces and shows. `sizes`: a tuple of layer widths
    written as comma-separated integers; `required`: the command needs it given; `was`: the flag's former name,
    still taken, with a one-line note naming the new one."""
    meta = {"flag": flag, "help": help, "low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "metavar": metavar, "sizes": sizes, "required": required, "was": was}
    return dataclasses.field(default=default, metadata=meta)


def argument(help: str, default: Any = dataclasses.MISSING) -> Any:
    """A config field that is a positional command-line argument (required unless it has a default)."""
    return dataclasses.field(default=default, metadata={"argument": True, "help": help})


def group(default: Any, hide: tuple[str, ...] = ()) -> Any:
    """A nested option group (its fields become the command's options), with `default` the group's own defaults;
    `hide`: its options this command does not offer (they keep the group's default)."""
    return dataclasses.field(default=default, metadata={"group": True, "hide": hide})


def like(base: type, name: str, default: Any) -> Any:
    """The option `name` of `base` with another default (the GRU and the MLP share their loop options)."""
    return dataclasses.field(default=default, metadata=base.__dataclass_fields__[name].metadata)


@dataclass(frozen=True)
class RunOptions:
    """What every training command shares: how it is seeded, where and how it computes, and what it does with
    an existing run folder."""

    PANELS: ClassVar[dict[str, tuple[str, ...]]] = {
        "Run": ("seed", "overwrite", "resume"),
        "Runtime": ("device", "precision", "matmul", "threads", "deterministic", "detect_anomaly")}
    seed: int = option(0, "--seed", "Seeds every random draw (weights, batches, noise).",
                       0, SEED_MAX)
    device: str = option("auto", "--device", "auto, cpu, cuda, cuda:N or mps.")
    precision: Precision = option(
        "auto", "--precision", "auto: bf16 if native and as good, else fp32 (docs/machines.md).")
    matmul: Matmul = option(
        "auto", "--matmul", "CPU fp32 dense-layer products: auto, the fastest (docs/machines.md).")
    threads: int = option(0, "--threads", "torch CPU threads (0: OMP_NUM_THREADS, else the usable CPUs).", 0, 256)
    deterministic: bool = option(False, "--deterministic", "PyTorch's deterministic kernels (for GPUs; CPU runs "
                                                           "repeat anyway).")
    detect_anomaly: bool = option(False, "--detect-anomaly", "Debugging: name the operation whose backward made a "
                                                             "NaN (slow).")
    overwrite: bool = option(False, "--overwrite", "Replace a finished run in the output folder.")
    resume: bool = option(False, "--resume", "Continue an interrupted run (same options) from its last saved epoch.")


# --- Problem 0: the adder -------------------------------------------------------------------------------------

WEIGHTS_HELP = "Use a learned adder (learned.safetensors) instead of the hand-set weights."


@dataclass(frozen=True)
class AddConfig:
    a: str | None = argument("First binary number, most significant bit first (e.g. 100111).", None)
    b: str | None = argument("Second binary number (e.g. 110010).", None)
    show_weights: bool = option(False, "--show-weights", "Also print U, W, b_h, v, b_y and h0.")
    as_json: bool = option(False, "--json", "Print one JSON object for scripts.")
    weights: Path | None = option(None, "--weights", WEIGHTS_HELP)
    save: Path | None = option(None, "--save", "Also write the JSON result to this file.")


@dataclass(frozen=True)
class VerifyConfig:
    bits: int = option(None, "--verify", "Check every pair of numbers up to this many bits, then random pairs "
                       "(default: off).", 1, 14)
    random_pairs: int = option(1000, "--random-pairs", "With --verify: random pairs to check.", 0, 10**7)
    random_bits: int = option(256, "--random-bits", "With --verify: bits of the random pairs.", 1, 100_000)
    seed: int = option(0, "--seed", "First seed (--learn) or the random pairs' seed (--verify).", 0, SEED_MAX)
    weights: Path | None = option(None, "--weights", WEIGHTS_HELP)
    as_json: bool = option(False, "--json", "Print one JSON object for scripts.")
    threads: int = like(RunOptions, "threads", 0)


@dataclass(frozen=True)
class LearnConfig:
    learn: bool = option(False, "--learn", "Train the 3-unit network by gradient descent instead.")
    seeds: int = option(5, "--seeds", "With --learn: how many seeds to train (--seed, --seed + 1, ...).", 1, 10_000)
    steps: int = option(2000, "--steps", "With --learn: Adam steps per seed.", 1, 10**7)
    batch: int = 128  # random additions per step
    width: int = 8  # bits per training addend
    lr: float = 0.1  # Adam learning rate
    max_steepness: float = 8.0  # the sigmoid's final steepness (it rises linearly from 1)
    verify_bits: int = 10  # the hardened network is checked on every pair up to this width
    out_dir: Path = option(Path("artifacts/adder/learned"), "--out", "With --learn: the run folder.")
    # seed: the first seed (rnn-add's --seed); always the CPU in fp32
    runtime: RunOptions = group(RunOptions(device="cpu", precision="fp32"),
                                hide=("seed", "device", "precision", "matmul"))

    @property
    def run_dir(self) -> Path:
        return self.out_dir


@dataclass(frozen=True)
class DataConfig:
    fashion_dir: Path | None = option(None, "--fashion-dir", "Fashion-MNIST's IDX files (default: Debian's folder, "
                                                             "then the cache).")
    imdb_source: Path = option(Path("../shared/data/imdb"), "--imdb-source", "IMDB in any of preprocess's forms "
                               "(default: the assignment's folder).")
    cache_dir: Path = option(CACHE_DIR, "--cache-dir", "Where --download puts what it fetches.")
    download: bool = option(False, "--download", "Fetch what is missing (published checksums checked).")


# --- Problem 1: IMDB sentiment --------------------------------------------------------------------------------

DATA_HELP = "The output folder of hw3cli preprocess."


@dataclass(frozen=True)
class PreprocessConfig:
    source: Path | None = option(
        Path("../shared/data/imdb"), "--data", "IMDB: the assignment's files, aclImdb/ or its tarball.", was="--source")
    download: bool = option(False, "--download", "Fetch aclImdb_v1.tar.gz (checksummed) into --cache-dir.")
    cache_dir: Path = option(CACHE_DIR, "--cache-dir", "Where --download keeps the tarball.")
    out_dir: Path = option(Path("artifacts/imdb/data"), "--out", "Output folder.")
    max_len: int = option(400, "--max-len", "Indices per review: shorter ones are left-padded with 0.", 1, 100_000)
    truncate: Truncate = option("head", "--truncate", "Longer reviews keep their first (head) or last (tail) tokens.")
    min_freq: int = option(1, "--min-freq", "Words seen fewer times in training become <unk>.", 1, COUNT_MAX)
    # Rarer words (most seen once or twice) only help a model overfit; the models were measured with this cap.
    max_vocab: int = option(25_000, "--max-vocab", "Vocabulary cap, <pad> and <unk> included.", 3, 10**8)
    dev_fraction: float = option(0.2, "--validation", "Share of training held out as dev (stratified).", 0, 1,
                                 low_open=True, high_open=True, was="--dev-fraction")
    seed: int = option(0, "--seed", "Seeds the dev split.", 0, SEED_MAX)


@dataclass(frozen=True)
class SentimentConfig:
    """The loop options train-gru and train-mlp share (their defaults differ)."""

    data_dir: Path = option(Path("artifacts/imdb/data"), "--data", DATA_HELP)
    out_dir: Path | None = option(None, "--out", "Run folder to write (default: artifacts/imdb/gru).")
    epochs: int = option(6, "--epochs", "At most this many epochs.", 1, 100_000)
    batch_size: int = option(64, "--batch-size", "Reviews per step.", 1, 10**6)
    lr: float = option(2e-3, "--lr", "Adam learning rate.", 0, 10, low_open=True)
    weight_decay: float = option(0.0, "--weight-decay", "Adam weight decay.", 0, 10)
    clip: float = option(1.0, "--grad-clip", "Gradient-norm clipping threshold.", 0, 1e6, low_open=True, was="--clip")
    patience: int = option(2, "--patience", "Early stopping: epochs without a better dev accuracy.", 1, 100_000)
    bucket: bool = option(True, "--bucket/--no-bucket", "Batch reviews of similar length, cutting shared padding "
                                                        "(docs/commands.md).")
    runtime: RunOptions = RunOptions()


@dataclass(frozen=True)
class GRUConfig(SentimentConfig):
    # bf16 autocast trained it 2.35x faster but cost 2.5 points of test accuracy (bench/gru_bench.py): auto is fp32.
    bf16_keeps_quality: ClassVar[bool] = False

    embed_dim: int = option(128, "--embed-dim", "Embedding size.", 1, SIZE_MAX)
    hidden: int = option(128, "--hidden", "GRU hidden units.", 1, SIZE_MAX)
    layers: int = option(1, "--layers", "Stacked GRU layers.", 1, 64)
    dropout: float = option(0.3, "--dropout", "Dropout on the embeddings and the last hidden state.", 0, 1,
                            high_open=True)

    @property
    def run_dir(self) -> Path:
        return self.out_dir or Path("artifacts/imdb/gru")


@dataclass(frozen=True)
class MLPConfig(SentimentConfig):
    out_dir: Path | None = option(None, "--out", "Run folder to write (default: artifacts/imdb/mlp-INPUT).")
    input: MlpInput = option("embedding", "--input", "ids: the raw indices; embedding: their embeddings, "
                                                     "concatenated.")
    embed_dim: int = option(16, "--embed-dim", "Embedding size (--input embedding).", 1, SIZE_MAX)
    hidden: int = option(64, "--hidden", "Hidden units.", 1, SIZE_MAX)
    dropout: float = option(0.5, "--dropout", "Dropout on the input features and the hidden layer.", 0, 1,
                            high_open=True)
    # Its dev accuracy climbs slowly and noisily: a longer budget and patience pay.
    epochs: int = like(SentimentConfig, "epochs", 30)
    patience: int = like(SentimentConfig, "patience", 6)

    @property
    def run_dir(self) -> Path:
        return self.out_dir or Path(f"artifacts/imdb/mlp-{self.input}")


@dataclass(frozen=True)
class PredictConfig:
    source: str = argument("A file with one review per line, or - for standard input.", "-")
    model_dir: Path = option(None, "--model", "A run folder of train-gru or train-mlp.", required=True)
    batch_size: int = option(256, "--batch-size", "Reviews per forward pass.", 1, 100_000)
    device: str = like(RunOptions, "device", "auto")


@dataclass(frozen=True)
class CompareImdbConfig:
    runs: tuple[Path, ...] = argument("Run folders of train-gru / train-mlp.")
    out: Path = option(Path("artifacts/imdb/comparison.md"), "--out", "Markdown file to write.")


# --- Problem 2: Fashion-MNIST GANs ----------------------------------------------------------------------------

DATA_DIR_HELP = "Fashion-MNIST's four IDX files (default: Debian's folder, then the cache)."


@dataclass(frozen=True)
class FashionData:
    """Where the Fashion-MNIST images come from."""

    PANELS: ClassVar[dict[str, tuple[str, ...]]] = {"Run": ("data_dir", "download", "limit")}

    data_dir: Path | None = option(None, "--data", DATA_DIR_HELP, was="--data-dir")
    download: bool = option(False, "--download", "Fetch Fashion-MNIST into --data or the cache if missing (MD5 "
                                                 "checked).")
    limit: int = option(0, "--limit", "Use the first N training images (0: all); classify, judge: --validation "
                                      "among them.", 0, COUNT_MAX)


def gan_variant(loss: str, clip: float, unroll: int | None, unroll_mode: str, conditional: bool = False,
                standardize: bool = False) -> str:
    """A GAN run's variant name, as its default folder and toy-summary call it: vanilla, wgan-clip0.01,
    unrolled-exact-k5, cgan-vanilla; -std after it for --standardize."""
    if unroll:
        name = f"unrolled-{unroll_mode}-k{unroll}"
    elif conditional:
        name = f"cgan-{loss}"
    else:
        name = LOSSES[loss].variant(clip)
    return name + ("-std" if standardize else "")


# The conditional GAN's recipe, what --conditional brings unless an option overrides it. With the one-hot labels alone
# the judge read 79% of its samples as the class asked for (Pullover 13%): a matching-aware D, D's class head with
# weight 2 and samples from an average of G's weights over about 5,000 steps make it draw each class (by the judge,
# on 1,000 samples a class, Pullover 75% at epoch 30, against 66% averaging over 2,000 steps, 61% over 1,000 and 58%
# with weight 3). The average starts from G's first weights and forgets them slowly (39% of it after 4,685 steps).
CONDITIONAL_RECIPE = {"mismatch": True, "class_loss": 2.0, "ema": 0.9998}


def _mlp_products(rows: int, sizes: list[int]) -> tuple[tuple[int, int, int], ...]:
    return tuple((rows, fan_in, fan_out) for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


@dataclass(frozen=True)
class GanConfig:
    # the options whose default is a recipe (resolved() fills them); --resume keeps the values a run began with
    RECIPE: ClassVar[tuple[str, ...]] = ("lr_decay", "unroll_optimizer", "mismatch", "class_loss", "ema")
    PANELS: ClassVar[dict[str, tuple[str, ...]]] = {
        "Model": ("loss", "dataset", "noise_dim", "g_hidden", "d_hidden", "clip", "standardize"),
        "Optimizer": ("epochs", "batch_size", "lr", "d_lr", "lr_decay", "critic_steps", "ema"),
        "Unrolled": ("unroll", "unroll_mode", "unroll_optimizer", "unroll_lr"),
        "Conditional": ("conditional", "mismatch", "class_loss"),
        "Grading": ("classifier", "judge", "eval_every"),
        "Run": ("out_dir", "sample_every", "samples")}
    loss: LossName = option("vanilla", "--loss", "The GAN variant; each one's loss is in docs/commands.md.")
    dataset: DatasetName = option(
        DEFAULT_DATASET, "--dataset", "Fashion-MNIST, or a 2-D mixture (docs/commands.md).")
    out_dir: Path | None = option(None, "--out", "Run folder (default: artifacts/gan/VARIANT, as docs/commands.md "
                                                 "names it).")
    epochs: int = option(30, "--epochs", "Passes over the training images (ring, grid: 100 generator steps "
                         "each).", 1, 100_000)
    batch_size: int | None = option(None, "--batch-size", "Images (points) per step (default: 64; 512 for ring "
                                    "and grid).", 1, 10**6)
    noise_dim: int | None = option(None, "--noise-dim", "Size of G's Gaussian input (default: 100; 256 for ring "
                                   "and grid).", 1, SIZE_MAX)
    g_hidden: tuple[int, ...] | None = option(None, "--g-hidden", "G's hidden layer sizes (default: 256,512,1024; "
                                              "128,128 for ring and grid).", sizes=True)
    d_hidden: tuple[int, ...] | None = option(None, "--d-hidden", "D's hidden layer sizes (default: 1024,512,256; "
                                              "128,128 for ring and grid).", sizes=True)
    lr: float | None = option(None, "--lr", "Learning rate (default: the variant's and data set's, docs/recipes.md).",
                              0, 10, low_open=True)
    d_lr: float | None = option(None, "--d-lr", "D's learning rate (default: --lr's; on ring and grid 1e-4, as in "
                                "the unrolled GAN's reference code).", 0, 10, low_open=True)
    clip: float = option(0.01, "--weight-clip", "wgan: critic weights clipped to [-c, c] after each step.",
                         0, 1000, low_open=True, was="--clip")
    lr_decay: float | None = option(None, "--lr-decay", "Rates fall to 0 over this final share of the run (default: "
                                                        "0.2 on ring, grid).", 0, 1)
    critic_steps: int | None = option(None, "--critic-steps", "D steps per G step (default: " + ", ".join(
        f"{k} for " + " and ".join(n for n, v in LOSSES.items() if v.default_critic_steps == k)
        for k in sorted({v.default_critic_steps for v in LOSSES.values()} - {1})) + ", else 1).",
        1, 1000)
    sample_every: int = option(0, "--sample-every", "Also keep samples every N epochs (0: start, middle and end "
                               "only).", 0, 100_000)
    samples: int = option(64, "--samples", "Fixed-noise samples per grid.", 1, 512)
    unroll: int | None = option(None, "--unroll", "Unrolled GAN: G trains against D after K more steps (default: "
                                                  "off).", 1, 100)
    unroll_mode: UnrollMode = option(
        "surrogate", "--unroll-mode", "surrogate (the assignment's) or exact (Metz et al.); docs/commands.md.")
    unroll_optimizer: UnrollOptimizer | None = option(
        None, "--unroll-optimizer", "exact: D's own Adam or SGD at --unroll-lr (default: sgd on fashion, else adam).")
    unroll_lr: float = option(1e-3, "--unroll-lr", "Exact unrolling with --unroll-optimizer sgd: the step size.", 0,
                              10, low_open=True)
    standardize: bool = option(False, "--standardize", "ring, grid: G and D work in unit-scale coordinates "
                                                       "(docs/commands.md).")
    classifier: Path | None = option(None, "--classifier", "A classify run to grade the samples with (FD, classes, "
                                                           "coverage).")
    judge: Path | None = option(None, "--judge", "A judge run (hw3cli judge) to grade the samples with too.")
    eval_every: int = option(0, "--eval-every", "With --classifier or --judge: measure every N epochs (0: at the "
                             "end).", 0, 100_000)
    conditional: bool = option(False, "--conditional", "Conditional GAN: a one-hot label joins G's noise and D's "
                                                       "image.")
    mismatch: bool | None = option(None, "--mismatch/--no-mismatch", "Conditional: D sees real images with wrong "
                                                                     "labels as fakes (default: on).")
    ema: float | None = option(None, "--ema", "EMA of G's weights for its samples (0: off; default 0.9998 with "
                                              "--conditional).", 0, 1, high_open=True)
    class_loss: float | None = option(None, "--class-loss", "Conditional: weight of D's class head (AC-GAN; 0: off; "
                                                            "default 2).", 0, 100)
    data: FashionData = FashionData()
    runtime: RunOptions = RunOptions()

    @property
    def run_dir(self) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        name = gan_variant(self.loss, self.clip, self.unroll, self.unroll_mode, self.conditional, self.standardize)
        return Path("artifacts/gan") / GAN_DATASETS[self.dataset].folder / name

    def resolved(self) -> GanConfig:
        """The recipe filled in where no option set it (what config.json records): the dataset's sizes, schedule and
        exact unroll, and the conditional GAN's recipe."""
        dataset = GAN_DATASETS[self.dataset]
        exact = self.unroll is not None and self.unroll_mode == "exact"
        recipe = dict(CONDITIONAL_RECIPE) if self.conditional else {"mismatch": False, "class_loss": 0.0, "ema": 0.0}
        if LOSSES[self.loss].gradient_penalty:  # the penalty takes one critic output: no class head
            recipe["class_loss"] = 0.0
        return dataclasses.replace(
            self, batch_size=self.batch_size or dataset.batch_size, noise_dim=self.noise_dim or dataset.noise_dim,
            g_hidden=self.g_hidden or dataset.g_hidden, d_hidden=self.d_hidden or dataset.d_hidden,
            lr_decay=dataset.lr_decay if self.lr_decay is None else self.lr_decay,
            unroll_optimizer=self.unroll_optimizer or (dataset.unroll_optimizer if exact else "adam"),
            **{name: value if getattr(self, name) is None else getattr(self, name) for name, value in recipe.items()})

    @property
    def bf16_keeps_quality(self) -> bool:
        """Whether bf16 autocast kept this GAN's measured quality (--precision auto is fp32 where not): the
        conditional GAN's accuracy goal was met in fp32; the 2-D mixtures see the data set's own reason. (The
        surrogate unrolled GAN keeps its quality in bf16: 6-8 classes >= 5% and Frechet distance 9.2-14.8 by the
        classifier over two seeds, fp32 6 and 14.0-28.3; docs/results.md.)"""
        return GAN_DATASETS[self.dataset].bf16 and not self.conditional

    @property
    def dense_products(self) -> tuple[tuple[int, int, int], ...]:
        """(rows, fan_in, fan_out) of each dense layer's product in a step, which --precision auto's probe times on a
        CPU with native bf16 (core/precision.py): G's layers on a batch, D's on real and fake together. A sketch of
        the step, enough to weigh bf16's casts against its products: the G step's pass through D, WGAN's extra critic
        steps and the unrolled steps repeat these shapes."""
        dataset = GAN_DATASETS[self.dataset]
        batch = self.batch_size or dataset.batch_size
        g_sizes = [self.noise_dim or dataset.noise_dim, *(self.g_hidden or dataset.g_hidden), dataset.sample_size]
        d_sizes = [dataset.sample_size, *(self.d_hidden or dataset.d_hidden), 1]
        with_d = LOSSES[self.loss].uses_discriminator
        return _mlp_products(batch, g_sizes) + (_mlp_products(2 * batch, d_sizes) if with_d else ())


@dataclass(frozen=True)
class ClassifyConfig:
    init_from: Path | None = option(Path("artifacts/gan/vanilla"), "--init-from",
                                    "A train-gan run whose discriminator initialises the hidden layers.")
    from_scratch: bool = option(False, "--from-scratch", "Start from random weights instead.")
    out_dir: Path = option(Path("artifacts/gan/classifier"), "--out", "Run folder.")
    epochs: int = option(30, "--epochs", "Passes over the training images.", 1, 100_000)
    batch_size: int = option(128, "--batch-size", "Images per step.", 1, 10**6)
    lr: float = option(1e-3, "--lr", "AdamW peak learning rate (cosine decay to 0).", 0, 10, low_open=True)
    weight_decay: float = 5e-4  # AdamW weight decay
    dropout: float = option(0.2, "--dropout", "Dropout after every hidden layer.", 0, 1, high_open=True)
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    # An MLP is not shift-invariant: shifts of 1 pixel cost 0.5 points of test accuracy.
    shift: int = option(0, "--shift", "Random shifts of up to this many pixels (augmentation).", 0, 13)
    flip: bool = option(True, "--flip/--no-flip", "Random horizontal flips (augmentation).")
    validation: int = option(5000, "--validation", "Training images held out to watch accuracy.", 1, COUNT_MAX)
    data: FashionData = FashionData()
    runtime: RunOptions = RunOptions()

    @property
    def run_dir(self) -> Path:
        return self.out_dir


@dataclass(frozen=True)
class JudgeConfig:
    out_dir: Path = option(Path("artifacts/gan/judge"), "--out", "Run folder.")
    epochs: int = like(ClassifyConfig, "epochs", 12)
    batch_size: int = like(ClassifyConfig, "batch_size", 128)
    lr: float = like(ClassifyConfig, "lr", 1e-3)
    weight_decay: float = 5e-4  # AdamW weight decay
    dropout: float = option(0.3, "--dropout", "Dropout before the output layer.", 0, 1, high_open=True)
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    # Convolutions are shift-invariant up to the pooling grid: shifts of 2 pixels add variety at no cost.
    shift: int = like(ClassifyConfig, "shift", 2)
    flip: bool = like(ClassifyConfig, "flip", True)
    validation: int = like(ClassifyConfig, "validation", 5000)
    channels: tuple[int, int] = (32, 64)  # the two convolution blocks' widths
    hidden: int = 128  # the feature layer (what the Frechet distance compares)
    data: FashionData = FashionData()
    runtime: RunOptions = RunOptions()

    @property
    def run_dir(self) -> Path:
        return self.out_dir


@dataclass(frozen=True)
class HistogramConfig:
    generators: tuple[Path, ...] = option((), "--generator", "A train-gan run folder (repeat the option).",
                                          required=True)
    classifier: Path = option(Path("artifacts/gan/classifier"), "--classifier", "A classify run.")
    judge: Path | None = option(None, "--judge", "A judge run to label the same samples with too.")
    n: int = option(3000, "--samples", "Samples per generator, and real baseline images.", 10,
                    10**6, was="-n")
    seed: int = option(0, "--seed", "Seeds the noise and the real baseline images.", 0, SEED_MAX)
    device: str = like(RunOptions, "device", "auto")
    prdc_samples: int = option(10_000, "--prdc-samples", "Samples for precision/recall, density/coverage (0: none).",
                               0, 100_000)
    out_dir: Path = option(Path("artifacts/gan/histograms"), "--out", "Folder for the figure and JSON.")
    data_dir: Path | None = option(None, "--data", DATA_DIR_HELP, was="--data-dir")


ALL_CLASSES = tuple(range(10))


@dataclass(frozen=True)
class CganSampleConfig:
    generator: Path = option(None, "--generator", "A train-gan --conditional run folder.", required=True)
    per_class: int = option(3, "--samples", "Samples of each class (a column each in the grid).", 1, 100,
                            was="--per-class")
    classes: tuple[int, ...] = option(ALL_CLASSES, "--classes", "Classes, by index or name (e.g. 0,7,9 or "
                                                                "sneaker,bag).")
    seed: int = option(0, "--seed", "Seeds the noise.", 0, SEED_MAX)
    out: Path = option(Path("artifacts/gan/cgan-samples.png"), "--out", "The labelled grid (PNG).")
    tensor: Path | None = option(None, "--tensor", "Also save images and labels as safetensors.")
    classifier: Path | None = option(None, "--classifier", "A classify run: print the conditional accuracy.")
    judge: Path | None = option(None, "--judge", "A judge run: print the conditional accuracy it finds too.")
    device: str = like(RunOptions, "device", "auto")
    score_per_class: int = option(1000, "--score-samples", "Samples per class to score with --classifier, --judge.",
                                  1, 100_000, was="--score-per-class")


@dataclass(frozen=True)
class CompareGanConfig:
    runs: tuple[Path, ...] = argument("train-gan run folders (e.g. the four WGAN clip values).")
    out_dir: Path = option(Path("artifacts/gan/comparison"), "--out", "Folder for comparison.png/.md.")


@dataclass(frozen=True)
class ToySummaryConfig:
    runs: tuple[Path, ...] = argument("train-gan runs on --dataset ring or grid (several seeds each).")
    out_dir: Path = option(Path("artifacts/gan/toy"), "--out", "Folder for summary.json, summary.md and "
                           "summary.png.")


@dataclass(frozen=True)
class CollapseSummaryConfig:
    runs: tuple[Path, ...] = argument("Graded train-gan runs on Fashion-MNIST, several seeds of each variant.")
    out_dir: Path = option(Path("artifacts/gan/mode-collapse"), "--out", "Folder for summary.json and summary.md.")


@dataclass(frozen=True)
class ReportConfig:
    artifacts: Path = option(Path("artifacts"), "--artifacts", "The folder the runs are in.")
    out: Path = option(Path("artifacts/REPORT.md"), "--out", "The Markdown report (HTML beside it).")

