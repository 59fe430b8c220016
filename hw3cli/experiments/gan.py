"""`hw3cli train-gan` and `hw3cli compare-gan`: Fashion-MNIST GANs with vanilla, MSE, WGAN and LSGAN losses."""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from hw3cli.core.checkpoint import load_model, read_safetensors, save_checkpoint
from hw3cli.core.device import resolve_device
from hw3cli.core.files import all_or_nothing, atomic_folder, atomic_write_text, read_json, where
from hw3cli.core.hardware import PRECISIONS, machine_record, measured_on
from hw3cli.core.memory import require_model
from hw3cli.core.numerics import numerics
from hw3cli.core.progress import RESUME_IGNORES, load_progress, progress_file, save_progress
from hw3cli.core.runs import check_run_folder, config_record, read_metrics, read_run, write_config, write_metrics
from hw3cli.core.schema import PROGRESS
from hw3cli.core.seeding import seed_everything
from hw3cli.core.stopping import graceful_stop
from hw3cli.data.fashion_mnist import CLASSES, load_fashion_mnist, to_unit_range
from hw3cli.errors import Hw3Error, Interrupted
from hw3cli.experiments import display
from hw3cli.experiments.classify import load_classifier
from hw3cli.metrics import frechet_distance, measure_samples
from hw3cli.models.gan import Discriminator, Generator
from hw3cli.plots.gan import loss_curves, sample_grid, sample_strip, score_curves
from hw3cli.train.gan_loop import GanSettings, make_optimizer, sample, train_gan
from hw3cli.train.gan_losses import LOSSES, make_loss
from hw3cli.train.image_classifier import predict
from hw3cli.train.unroll import EXACT_LOSSES

RUN_FILES = ("generator.safetensors", "discriminator.safetensors", "samples.safetensors", "config.json",
             "metrics.json", "timings.json", "loss.png", "scores.png", "samples_strip.png", "samples")


@dataclass(frozen=True)
class GanConfig:
    loss: str = "vanilla"  # vanilla, mse, wgan or lsgan
    out_dir: Path | None = None  # run folder; default artifacts/gan/<loss> (wgan: artifacts/gan/wgan-clip<c>)
    epochs: int = 30  # passes over the 60,000 training images
    batch_size: int = 64  # images per step
    noise_dim: int = 100  # size of G's Gaussian input
    g_hidden: tuple[int, ...] = (256, 512, 1024)  # G's three hidden layers
    d_hidden: tuple[int, ...] = (1024, 512, 256)  # D's three hidden layers
    lr: float | None = None  # default: 2e-4 with Adam(0.5, 0.999); WGAN 5e-5 with RMSprop, as in its paper
    clip: float = 0.01  # WGAN: every critic weight is clipped to [-clip, clip] after each critic step
    critic_steps: int | None = None  # D steps per G step; default 5 for WGAN, else 1
    sample_every: int = 0  # also keep samples every N epochs (0: start, middle and end only)
    samples: int = 64  # fixed-noise samples per grid
    precision: str = "auto"  # auto (bf16 autocast where the device has native bf16, else fp32), fp32 or bf16
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    deterministic: bool = False  # PyTorch's deterministic kernels (CPU runs repeat exactly without it)
    detect_anomaly: bool = False  # autograd anomaly mode: name the backward op that made a NaN (slow)
    seed: int = 0  # seeds weights, batch order, noise and the fixed sample noise
    device: str = "auto"  # auto, cpu, cuda or mps
    data_dir: Path | None = None  # a folder with the four IDX files; default: Debian's package, then torchvision's
    download: bool = False  # let torchvision download Fashion-MNIST
    limit: int = 0  # train on the first N training images only (0: all); for quick runs
    unroll: int | None = None  # unrolled GAN: K look-ahead steps of D for every G step
    unroll_mode: str = "surrogate"  # surrogate (a trained copy of D) or exact (differentiable unrolling)
    unroll_lr: float = 1e-3  # exact unrolling: the SGD step of the look-ahead
    eval_every: int = 0  # with classifier: sample-quality metrics every N epochs (0: at the end only)
    classifier: Path | None = None  # a classify run folder for the sample-quality metrics
    conditional: bool = False  # conditional GAN: a one-hot class label concatenated to G's and D's inputs
    overwrite: bool = False  # replace a finished run in the run folder
    resume: bool = False  # continue the interrupted run whose progress is saved beside the run folder

    @property
    def progress_file(self) -> Path:
        return progress_file(self.run_dir)

    @property
    def run_dir(self) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        if self.unroll:
            return Path("artifacts/gan") / f"unrolled-{self.unroll_mode}-k{self.unroll}"
        if self.conditional:
            return Path("artifacts/gan") / f"cgan-{self.loss}"
        return Path("artifacts/gan") / (f"wgan-clip{self.clip:g}" if self.loss == "wgan" else self.loss)


def validate(config: GanConfig) -> None:
    if config.loss not in LOSSES:
        raise Hw3Error(f"unknown --loss '{config.loss}': choose one of {', '.join(LOSSES)}")
    if config.epochs < 1 or config.batch_size < 1 or config.noise_dim < 1 or config.samples < 1:
        raise Hw3Error("--epochs, --batch-size, --noise-dim and --samples must be at least 1")
    if not config.clip > 0:
        raise Hw3Error(f"--clip must be positive, got {config.clip}")
    if config.lr is not None and not config.lr > 0:
        raise Hw3Error(f"--lr must be positive, got {config.lr}")
    if config.critic_steps is not None and config.critic_steps < 1:
        raise Hw3Error(f"--critic-steps must be at least 1, got {config.critic_steps}")
    for name in ("g_hidden", "d_hidden"):
        sizes = getattr(config, name)
        if len(sizes) != 3 or any(s < 1 for s in sizes):
            raise Hw3Error(f"--{name.replace('_', '-')} needs three positive layer sizes, got {list(sizes)}")
    if config.precision not in PRECISIONS:
        raise Hw3Error(f"--precision must be one of {', '.join(PRECISIONS)}, not '{config.precision}'")
    if config.sample_every < 0 or config.limit < 0:
        raise Hw3Error("--sample-every and --limit must not be negative")
    if config.unroll is not None:
        if config.unroll < 1:
            raise Hw3Error(f"--unroll needs K >= 1 look-ahead steps, got {config.unroll}")
        if config.unroll_mode not in ("surrogate", "exact"):
            raise Hw3Error(f"--unroll-mode must be surrogate or exact, not '{config.unroll_mode}'")
        if config.loss == "mse":
            raise Hw3Error("--unroll needs a discriminator; --loss mse has none")
        if config.unroll_mode == "exact" and config.loss not in EXACT_LOSSES:
            raise Hw3Error(f"--unroll-mode exact supports --loss {' or '.join(EXACT_LOSSES)}, not {config.loss} "
                           "(its critic clipping is not a differentiable step)")
    if config.conditional and config.loss == "mse":
        raise Hw3Error("--conditional needs a discriminator; --loss mse has none")
    if config.conditional and config.unroll:
        raise Hw3Error("--conditional cannot be combined with --unroll")
    if config.eval_every < 0:
        raise Hw3Error("--eval-every must not be negative")
    if config.resume and not config.progress_file.is_file():
        raise Hw3Error(f"--resume: no interrupted run to continue ({config.progress_file} does not exist)")
    check_run_folder(config.run_dir, "train-gan", RUN_FILES, config.overwrite or config.resume)


def parse_sizes(text: str, option: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise Hw3Error(f"{option} takes comma-separated positive integers like 256,512,1024, not '{text}'") from None
    if any(not 1 <= s <= 65_536 for s in sizes):
        raise Hw3Error(f"{option} takes layer sizes from 1 to 65,536, got '{text}'")
    return sizes


def sample_epochs(epochs: int, every: int) -> list[int]:
    keep = {0, max(1, epochs // 2), epochs}
    if every:
        keep |= set(range(every, epochs + 1, every))
    return sorted(keep)


def pixel_diversity(images: torch.Tensor) -> float:
    """Mean over pixels of the standard deviation across images: about 0 when every sample is the same."""
    return float(images.reshape(len(images), -1).float().std(0).mean())


def fixed_inputs(config: GanConfig, classes: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fixed noise behind every sample grid; for a conditional G, rows of one class each, in class order."""
    rng = torch.Generator().manual_seed(config.seed)
    if not classes:
        return torch.randn(config.samples, config.noise_dim, generator=rng), None
    per_class = max(1, config.samples // classes)
    labels = torch.arange(classes).repeat_interleave(per_class)
    return torch.randn(len(labels), config.noise_dim, generator=rng), labels


def run(config: GanConfig) -> int:
    validate(config)
    device = resolve_device(config.device, config.threads)
    precision = display.use_precision(config.precision, device)
    data = load_fashion_mnist(config.data_dir, config.download)
    train_images, train_labels = data.training(config.limit)
    if len(train_images) < config.batch_size:
        raise Hw3Error(f"--batch-size {config.batch_size} is larger than the {len(train_images)} training images")
    loss = make_loss(config.loss, config.clip, config.critic_steps)
    batches = len(train_images) // config.batch_size
    if batches < loss.critic_steps:  # else an epoch would end before G takes a single step
        raise Hw3Error(f"{len(train_images)} training images make {batches} batches of {config.batch_size} per epoch, "
                       f"fewer than the {loss.critic_steps} critic steps each generator step waits for; use more "
                       "images (--limit), a smaller --batch-size or fewer --critic-steps")
    lr = config.lr or (5e-5 if config.loss == "wgan" else 2e-4)
    settings = GanSettings(config.epochs, config.batch_size, "rmsprop" if config.loss == "wgan" else "adam", lr,
                           precision, config.unroll or 0, config.unroll_mode, config.unroll_lr)
    quality = SampleQuality(config, data) if config.classifier is not None else None

    seed_everything(config.seed)
    classes = len(CLASSES) if config.conditional else 0
    widths = config.noise_dim + sum(config.g_hidden) + sum(config.d_hidden) + 3 * 784
    require_model(lambda: (Generator(config.noise_dim, config.g_hidden, classes),
                           Discriminator(config.d_hidden, classes)),
                  f"--noise-dim {config.noise_dim} --g-hidden {','.join(map(str, config.g_hidden))} --d-hidden "
                  f"{','.join(map(str, config.d_hidden))} --batch-size {config.batch_size}",
                  4 * 4 * 2 * config.batch_size * widths)
    generator = Generator(config.noise_dim, config.g_hidden, classes).to(device)
    discriminator = Discriminator(config.d_hidden, classes).to(device) if loss.uses_discriminator else None
    rng = torch.Generator(device=device).manual_seed(config.seed)
    fixed_noise, fixed_labels = fixed_inputs(config, classes)
    fixed_noise = fixed_noise.to(device)
    fixed_labels = fixed_labels.to(device) if fixed_labels is not None else None
    keep = sample_epochs(config.epochs, config.sample_every)
    samples = {"epoch_000": sample(generator, fixed_noise, fixed_labels)}
    history = {k: [] for k in ("iteration", "g_loss", "d_loss", "real_score", "fake_score")}
    epochs = []
    opt_g = make_optimizer(generator.parameters(), settings)
    opt_d = make_optimizer(discriminator.parameters(), settings) if discriminator is not None else None
    start_epoch = 1
    if config.resume:
        start_epoch, history, epochs, samples = load_gan_progress(config, generator, discriminator, opt_g, opt_d, rng,
                                                                  precision)
    per_epoch = len(train_images) // config.batch_size // loss.critic_steps
    started = time.perf_counter()
    with display.progress_bar() as bar, graceful_stop() as stop, numerics(config.deterministic,
                                                                          config.detect_anomaly):
        task = bar.add_task(f"train-gan {config.loss}", total=per_epoch * config.epochs,
                            completed=per_epoch * (start_epoch - 1), status="")
        rate = ""
        for record in train_gan(generator, discriminator, loss, train_images.to(device), train_labels.to(device),
                                settings, rng, device, (opt_g, opt_d), start_epoch, len(history["iteration"])):
            if stop.requested:
                done = epochs[-1]["epoch"] if epochs else 0
                raise Interrupted(
                    f"hw3cli: interrupted in epoch {record['epoch']}; the {done} finished epochs are saved in "
                    f"{config.progress_file.parent}. Continue with the same command and --resume.", stop.exit_code)
            if record["event"] == "iteration":
                for key in history:
                    history[key].append(record[key])
                if record["iteration"] % 20 == 0:
                    d = "" if math.isnan(record["d_loss"]) else f"  D {record['d_loss']:.3f}"
                    bar.update(task, completed=record["iteration"],
                               status=f"epoch {record['epoch']}  G {record['g_loss']:.3f}{d}{rate}")
                continue
            epochs.append({k: v for k, v in record.items() if k != "event"})
            rate = f"  {record['images_per_second']:,.0f} img/s"
            if record["epoch"] in keep:
                samples[f"epoch_{record['epoch']:03d}"] = sample(generator, fixed_noise, fixed_labels)
            bar.update(task, completed=per_epoch * record["epoch"])
            if quality is not None and (record["epoch"] == config.epochs or
                                        (config.eval_every and record["epoch"] % config.eval_every == 0)):
                epochs[-1]["quality"] = quality.measure(generator)
            save_gan_progress(config, generator, discriminator, opt_g, opt_d, rng, history, epochs, samples,
                              precision)
    real = to_unit_range(data.test_images[:1000]).add(1).div(2)
    final = samples[f"epoch_{config.epochs:03d}"]
    metrics = {
        "loss": config.loss,
        "iterations": {k: [round(v, 6) if not math.isnan(v) else None for v in vals] if k != "iteration" else vals
                       for k, vals in history.items()},
        "epochs": epochs,
        "sample_epochs": keep,
        "images_per_second": sum(e["images_per_second"] for e in epochs) / len(epochs),
        "total_seconds": time.perf_counter() - started,
        "sample_diversity": pixel_diversity(final),
        "real_diversity": pixel_diversity(real),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "precision": precision,
        "machine": machine_record(device, precision),
    }
    if quality is not None:
        metrics["quality"] = epochs[-1]["quality"]
        metrics["quality_real_floor"] = quality.floor
    metrics["summary"] = summary(config, metrics)
    title = run_title(config)
    with atomic_folder(config.run_dir) as tmp:
        save_checkpoint(tmp / "generator.safetensors", generator.state_dict(), Generator.kind, generator.args)
        if discriminator is not None:
            save_checkpoint(tmp / "discriminator.safetensors", discriminator.state_dict(), Discriminator.kind,
                            discriminator.args, {"critic": str(config.loss == "wgan")})
        save_checkpoint(tmp / "samples.safetensors", samples, "gan-samples")
        write_config(tmp, "train-gan", config)
        write_metrics(tmp, metrics)
        render_figures(tmp, title)
    shutil.rmtree(config.progress_file.parent, ignore_errors=True)
    display.stdout().print(f"{metrics['summary']}\n{config.epochs} epochs in {metrics['total_seconds']:.0f} s "
                           f"({metrics['images_per_second']:,.0f} images/s) -> {config.run_dir}")
    return 0


class SampleQuality:
    """Classifier-measured quality of a generator's samples, against features of real test images."""

    def __init__(self, config: GanConfig, data, n: int = 1000):
        self.classifier = load_classifier(config.classifier)
        self.noise = torch.randn(n, config.noise_dim, generator=torch.Generator().manual_seed(config.seed + 1))
        _, self.real_features = predict(self.classifier, data.test_images[:n].float() / 255)
        _, train_features = predict(self.classifier, data.train_images[:n].float() / 255)
        self.floor = {"frechet_distance_train_vs_test": frechet_distance(train_features, self.real_features)}

    def measure(self, generator: Generator) -> dict:
        device = next(generator.parameters()).device
        labels = torch.arange(len(self.noise)) % generator.classes if generator.classes else None
        images = sample(generator, self.noise.to(device), labels.to(device) if labels is not None else None)
        stats = measure_samples(images, self.classifier, self.real_features)
        if labels is not None:
            stats.update(conditional_accuracy(self.classifier, images, labels))
        return stats


def conditional_accuracy(classifier, images01: torch.Tensor, labels: torch.Tensor) -> dict:
    """The share of samples the classifier assigns to the class they were asked for, overall and per class."""
    probs, _ = predict(classifier, images01)
    hit = probs.argmax(1).cpu() == labels.cpu()
    per_class = {CLASSES[c]: float(hit[labels.cpu() == c].float().mean()) for c in range(len(CLASSES))
                 if (labels == c).any()}
    return {"conditional_accuracy": float(hit.float().mean()), "conditional_accuracy_per_class": per_class}


def _progress_parts(generator, discriminator, opt_g, opt_d, rng):
    modules, optimizers = {"G": generator}, {"G": opt_g}
    if discriminator is not None:
        modules["D"], optimizers["D"] = discriminator, opt_d
    return modules, optimizers, {"batches": rng}


def save_gan_progress(config: GanConfig, generator, discriminator, opt_g, opt_d, rng, history, epochs,
                      samples, precision: str) -> None:
    """Everything a resumed run needs, written atomically after every epoch."""
    state = {"epoch": epochs[-1]["epoch"], "history": history, "epochs": epochs, "precision": precision,
             "config": config_record("train-gan", config)["config"]}
    save_progress(config.progress_file, "train-gan-progress", *_progress_parts(generator, discriminator, opt_g,
                                                                              opt_d, rng), state, samples)


def load_gan_progress(config: GanConfig, generator, discriminator, opt_g, opt_d, rng, precision: str):
    state, samples = load_progress(config.progress_file, "train-gan-progress",
                                   *_progress_parts(generator, discriminator, opt_g, opt_d, rng),
                                   config_record("train-gan", config)["config"], RESUME_IGNORES,
                                   PROGRESS["train-gan"], {"precision": precision})
    return state["epoch"] + 1, state["history"], state["epochs"], samples


def run_title(config: GanConfig) -> str:
    extra = f", clip {config.clip:g}" if config.loss == "wgan" else ""
    if config.unroll:
        extra += f", unrolled {config.unroll_mode} K={config.unroll}"
    if config.conditional:
        extra += ", conditional"
    return f"{config.loss} GAN{extra}, batch {config.batch_size}"


def summary(config: GanConfig, metrics: dict) -> str:
    last = metrics["epochs"][-1]
    text = f"{config.loss}, {config.epochs} epochs: final G loss {last['g_loss']:.3f}"
    if config.loss != "mse":
        text += f", D loss {last['d_loss']:.3f}, real score {last['real_score']:.3f}, fake {last['fake_score']:.3f}"
    ratio = metrics["sample_diversity"] / metrics["real_diversity"]
    text += (f". Sample diversity (mean per-pixel std across the fixed-noise samples) {metrics['sample_diversity']:.3f}"
             f" vs {metrics['real_diversity']:.3f} for real images ({100 * ratio:.0f}%).")
    if "quality" in metrics:
        q = metrics["quality"]
        text += (f" Classifier-measured: KL from uniform {q['kl_from_uniform']:.3f}, {q['classes_over_5pct']} classes"
                 f" >= 5%, inception score {q['inception_score']:.2f}, Frechet distance {q['frechet_distance']:.1f} "
                 f"(real train vs test: {metrics['quality_real_floor']['frechet_distance_train_vs_test']:.1f}).")
        if "conditional_accuracy" in q:
            worst = min(q["conditional_accuracy_per_class"].items(), key=lambda item: item[1])
            text += (f" Conditional accuracy {100 * q['conditional_accuracy']:.1f}% (lowest: {worst[0]} "
                     f"{100 * worst[1]:.0f}%).")
    if config.loss == "mse":
        text += (" With no discriminator, the best G under E(x - G(z))^2, with z independent of x, outputs the "
                 "mean image for every z: the samples collapse onto one blurry average.")
    return text


def render_figures(run_dir: Path, title: str) -> None:
    """Every figure of a run, from its config.json, metrics.json and samples.safetensors alone."""
    metrics = read_metrics(run_dir)
    conditional = read_json(run_dir / "config.json", "run config")["config"].get("conditional", False)
    loss_curves(metrics, run_dir / "loss.png", f"{title}: losses")
    if metrics["loss"] != "mse":
        score_curves(metrics, run_dir / "scores.png", f"{title}: real and fake scores")
    samples = read_safetensors(run_dir / "samples.safetensors", "sample file")[0]
    names = sorted(samples)
    for name in names:
        epoch = int(name.split("_")[1])
        if conditional:
            sample_grid(samples[name], run_dir / "samples" / f"{name}.png", f"{title}: epoch {epoch}",
                        rows=len(CLASSES), row_labels=list(CLASSES))
        else:
            sample_grid(samples[name], run_dir / "samples" / f"{name}.png", f"{title}: epoch {epoch}")
    sample_strip([(f"epoch {int(n.split('_')[1])}", samples[n]) for n in names], run_dir / "samples_strip.png",
                 f"{title}: the same fixed noise over training", rows=len(CLASSES) if conditional else 8)


def load_generator(run_dir: Path) -> Generator:
    path = Path(run_dir) / "generator.safetensors"
    if not os.path.lexists(path):
        raise Hw3Error(f"{where(run_dir)} is not a train-gan run (no generator.safetensors)")
    generator, _ = load_model(path, Generator.kind, lambda _, a: Generator(
        a["noise_dim"], tuple(a["hidden"]), a.get("classes", 0)), "generator")
    return generator


@dataclass(frozen=True)
class CompareConfig:
    runs: tuple[Path, ...]  # train-gan run folders to put side by side
    out_dir: Path = Path("artifacts/gan/comparison")  # comparison.png and comparison.md


def run_compare(config: CompareConfig) -> int:
    if not config.runs:
        raise Hw3Error("give at least one train-gan run folder")
    rows = []
    for run in config.runs:
        cfg, metrics = read_run(run, ("train-gan",))
        samples = read_safetensors(Path(run) / "samples.safetensors", "sample file")[0]
        if not samples or any(t.dim() != 3 or tuple(t.shape[1:]) != (28, 28) or not len(t) or
                              not t.is_floating_point() for t in samples.values()):
            raise Hw3Error(f"{run}/samples.safetensors does not hold grids of 28x28 float images")
        rows.append((Path(run).name, cfg["config"], metrics, samples[sorted(samples)[-1]].float()))
    with all_or_nothing():
        _write_comparison(config, rows)
    out = display.stdout()
    rich_table = Table(title="train-gan runs")
    for column in ("run", "final G loss", "final D loss", "sample diversity"):
        rich_table.add_column(column)
    for name, _, m, _ in rows:
        rich_table.add_row(name, f"{m['epochs'][-1]['g_loss']:.4f}", _fmt(m["epochs"][-1]["d_loss"]),
                           f"{m['sample_diversity']:.3f}")
    out.print(rich_table)
    out.print(f"-> {config.out_dir}")
    return 0


def _write_comparison(config: CompareConfig, rows: list) -> None:
    import matplotlib.pyplot as plt

    from hw3cli.plots import savefig
    from hw3cli.plots.gan import grid_array

    fig, axes = plt.subplots(2, len(rows), figsize=(4 * len(rows), 7.5), squeeze=False)
    for col, (name, _, metrics, final) in enumerate(rows):
        ax = axes[0, col]
        for key, label in (("g_loss", "G"), ("d_loss", "D")):
            ax.plot([e["epoch"] for e in metrics["epochs"]], [e[key] for e in metrics["epochs"]], "o-", ms=3,
                    label=label)
        ax.set(title=name, xlabel="epoch", ylabel="loss (epoch mean)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        axes[1, col].imshow(grid_array(final, 8), cmap="gray", vmin=0, vmax=1)
        axes[1, col].set_title(f"samples after {len(metrics['epochs'])} epochs", fontsize=9)
        axes[1, col].axis("off")
    fig.suptitle("train-gan runs side by side")
    savefig(fig, config.out_dir / "comparison.png")
    lines = ["| run | loss | clip | epochs | final G loss | final D loss | real score | fake score | "
             "sample diversity | images/s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, cfg, m, _ in rows:
        last = m["epochs"][-1]
        loss = m["loss"]
        lines.append(f"| {name} | {loss} | {cfg.get('clip', '?') if loss == 'wgan' else '-'} | {len(m['epochs'])}"
                     f" | {last['g_loss']:.4f} | {_fmt(last['d_loss'])} | {_fmt(last['real_score'])} | "
                     f"{_fmt(last['fake_score'])} | {m['sample_diversity']:.3f} | "
                     f"{'-' if 'images_per_second' not in m else format(m['images_per_second'], ',.0f')} |")
    table = "\n".join(lines)
    machines = f"Images per second measured on {measured_on(m for _, _, m, _ in rows)}."
    atomic_write_text(config.out_dir / "comparison.md",
                      f"# GAN runs compared\n\n{table}\n\n{machines}\n\n![](comparison.png)\n")


def _fmt(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
