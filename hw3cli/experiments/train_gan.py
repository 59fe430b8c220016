"""`hw3cli train-gan`: Fashion-MNIST MLP GANs with the vanilla, MSE, WGAN and least-squares losses, unrolled or
conditional. The run folder holds both networks, the fixed-noise samples, the curves and the grids."""

from __future__ import annotations

import math
import time

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from hw3cli.configs import GanConfig
from hw3cli.core.checkpoint import save_checkpoint
from hw3cli.core.hardware import machine_record
from hw3cli.core.memory import require_model
from hw3cli.core.schema import RESUME_STATE
from hw3cli.core.wording import counted
from hw3cli.data.fashion_mnist import CLASSES, FashionMNIST, ImageSource, load_fashion_mnist, to_unit_range
from hw3cli.data.mixtures import MIXTURES, SCORED_SAMPLES, MixtureSource, coverage
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.lifecycle import TrainingRun
from hw3cli.metrics import SampleQuality, describe_conditional, load_graders, pixel_diversity
from hw3cli.models.gan import IMAGE_SIZE, Discriminator, Generator
from hw3cli.plots.gan import run_figures
from hw3cli.plots.mixture import mixture_figures
from hw3cli.train.gan_loop import GanSettings, gan_optimizer, sample, train_gan
from hw3cli.train.gan_losses import make_loss
from hw3cli.train.unroll import EXACT_LOSSES

RUN_FILES = ("generator.safetensors", "discriminator.safetensors", "samples.safetensors", "config.json",
             "metrics.json", "timings.json", "loss.png", "scores.png", "samples_strip.png", "samples",
             "scatter.png", "density.png")
MIXTURE_G_STEPS = 100  # generator steps per "epoch" on a 2-D mixture (its samples are fresh every batch)
DENSITY_SAMPLES = 20_000  # the final generator's density picture
HISTORY = ("iteration", "g_loss", "d_loss", "real_score", "fake_score")


def validate(config: GanConfig) -> None:
    """The combinations no single option's range can refuse (on the config with its dataset's sizes)."""
    if config.unroll is not None and config.loss == "mse":
        raise Hw3Error("--unroll needs a discriminator; --loss mse has none")
    exact = config.unroll is not None and config.unroll_mode == "exact"
    if exact and config.loss not in EXACT_LOSSES:
        raise Hw3Error(f"--unroll-mode exact supports --loss {' or '.join(EXACT_LOSSES)}, not {config.loss} "
                       "(its critic clipping is not a differentiable step)")
    if config.unroll_optimizer != "adam" and not exact:
        raise Hw3Error("--unroll-optimizer chooses the steps of the exact unroll; it needs --unroll K "
                       "--unroll-mode exact")
    if config.unroll_lr != GanConfig.unroll_lr and not (exact and config.unroll_optimizer == "sgd"):
        raise Hw3Error("--unroll-lr is the step of the exact unroll's SGD steps; it needs --unroll-mode exact "
                       "--unroll-optimizer sgd (the Adam unroll takes D's own learning rate)")
    if config.conditional and config.loss == "mse":
        raise Hw3Error("--conditional needs a discriminator; --loss mse has none")
    if config.conditional and config.unroll:
        raise Hw3Error("--conditional cannot be combined with --unroll")
    if config.unroll and config.loss == "wgan-gp":
        raise Hw3Error("--unroll cannot be combined with --loss wgan-gp (the look-ahead steps take no penalty)")
    if config.standardize and config.dataset == "fashion":
        raise Hw3Error("--standardize scales the 2-D mixtures' coordinates; it needs --dataset ring or grid")
    if config.conditional and config.dataset != "fashion":
        raise Hw3Error(f"--conditional needs class labels; --dataset {config.dataset} has none")
    if config.mismatch and not config.conditional:
        raise Hw3Error("--mismatch pairs real images with wrong labels; it needs --conditional")
    if config.class_loss and not config.conditional:
        raise Hw3Error("--class-loss trains D and G on the class asked for; it needs --conditional")
    if config.class_loss and config.loss == "wgan-gp":
        raise Hw3Error("--class-loss cannot be combined with --loss wgan-gp (the penalty takes one critic output)")
    if config.dataset != "fashion" and (config.classifier or config.judge):
        raise Hw3Error(f"--classifier and --judge grade Fashion-MNIST images; --dataset {config.dataset} is scored "
                       "by its modes")
    toy = config.dataset != "fashion"
    for name in ("g_hidden", "d_hidden"):
        sizes = getattr(config, name)
        if (len(sizes) != 3 and not toy) or not 1 <= len(sizes) <= 8:
            wanted = "from 1 to 8" if toy else "three"
            raise Hw3Error(f"--{name.replace('_', '-')} needs {wanted} positive layer sizes, got {list(sizes)}")


def sample_epochs(epochs: int, every: int) -> list[int]:
    keep = {0, max(1, epochs // 2), epochs}
    if every:
        keep |= set(range(every, epochs + 1, every))
    return sorted(keep)


def fixed_inputs(config: GanConfig, classes: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fixed noise behind every sample grid; for a conditional G, rows of one class each, in class order. On a
    2-D mixture, the 2,500 points every score is measured on."""
    rng = torch.Generator().manual_seed(config.run.seed)
    if config.dataset != "fashion":
        return torch.randn(SCORED_SAMPLES, config.noise_dim, generator=rng), None
    if not classes:
        return torch.randn(config.samples, config.noise_dim, generator=rng), None
    per_class = max(1, config.samples // classes)
    labels = torch.arange(classes).repeat_interleave(per_class)
    return torch.randn(len(labels), config.noise_dim, generator=rng), labels


def run(config: GanConfig) -> int:
    config = config.resolved()
    validate(config)
    run = TrainingRun(config, "train-gan", RUN_FILES)
    loss = make_loss(config.loss, config.clip, config.critic_steps)
    data, source = training_data(config, loss.critic_steps, run.device)
    batches = source.items_per_epoch(config.batch_size) // config.batch_size  # D steps per epoch
    settings = gan_settings(config, loss.critic_steps, None if data is None else len(source.images), run.precision,
                            run.world.size, config.epochs * batches)
    # metrics.json keys: quality (the classifier's numbers), judge_quality (the judge's)
    graders = {"quality" if name == "classifier" else "judge_quality":
               SampleQuality(grader, data, config.noise_dim, config.run.seed, CLASSES)
               for name, grader in load_graders(config.classifier, config.judge).items()}
    run.seed()
    generator, discriminator = build_models(config, loss.uses_discriminator, run.device)
    # With --ema, an exponential moving average of G's weights makes every sample, score and the saved generator:
    # it averages out the step-to-step jitter that shows as speckle in a single G's images (Yazici et al. 2019).
    average = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(config.ema)) if config.ema else None
    shown = average.module if average is not None else generator
    device = run.device
    rng = torch.Generator(device=device).manual_seed(config.run.seed)
    fixed_noise, fixed_labels = (t if t is None else t.to(device) for t in fixed_inputs(config, generator.classes))
    keep = sample_epochs(config.epochs, config.sample_every)
    opt_g = gan_optimizer(generator.parameters(), settings, settings.lr)
    opt_d = gan_optimizer(discriminator.parameters(), settings, settings.d_lr) if discriminator is not None else None
    run.track({"G": generator, **({"D": discriminator} if discriminator else {}),
               **({"G_ema": average} if average is not None else {})},
              {"G": opt_g, **({"D": opt_d} if discriminator else {})}, {"batches": rng})
    state, samples = run.restore(RESUME_STATE["train-gan"])
    history, epochs = state.get("history", {k: [] for k in HISTORY}), state.get("epochs", [])
    samples = samples or {"epoch_000": sample(shown, fixed_noise, fixed_labels)}
    per_epoch = batches // loss.critic_steps
    started = time.perf_counter()
    with run.training() as bar:
        task = bar.add_task(f"train-gan {config.loss}", total=per_epoch * config.epochs,
                            completed=per_epoch * len(epochs), status="")
        rate = ""
        for record in run.watch(train_gan(generator, discriminator, loss, source,
                                          settings, rng, device, (opt_g, opt_d), len(epochs) + 1,
                                          len(history["iteration"]), run.world), "epoch", lambda: len(epochs)):
            if record["event"] == "iteration":
                if average is not None:
                    average.update_parameters(generator)
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
                samples[f"epoch_{record['epoch']:03d}"] = sample(shown, fixed_noise, fixed_labels)
            bar.update(task, completed=per_epoch * record["epoch"])
            if record["epoch"] == config.epochs or (config.eval_every and record["epoch"] % config.eval_every == 0):
                epochs[-1].update({key: grader.measure(shown) for key, grader in graders.items()})
            run.save({"epoch": record["epoch"], "history": history, "epochs": epochs}, samples)
    if data is None:  # a 2-D mixture: the final G's density, from more points than the scored ones
        samples["density"] = sample(shown, torch.randn(DENSITY_SAMPLES, config.noise_dim, device=device,
                                                           generator=torch.Generator(device).manual_seed(1)))
    metrics = final_metrics(config, run, data, history, epochs, keep, samples, graders, started)

    def write_files(folder):
        save_checkpoint(folder / "generator.safetensors", shown.state_dict(), Generator.kind, generator.args)
        if discriminator is not None:
            save_checkpoint(folder / "discriminator.safetensors", discriminator.state_dict(), Discriminator.kind,
                            discriminator.args, {"critic": str(config.loss in ("wgan", "wgan-gp"))})
        save_checkpoint(folder / "samples.safetensors", samples, "gan-samples")
        if data is None:
            mixture_figures(folder, run_title(config), MIXTURES[config.dataset]())
        else:
            run_figures(folder, run_title(config))

    run.finish(metrics, write_files)
    unit = "images" if data is not None else "points"
    display.stdout().print(f"{metrics['summary']}\n{counted(config.epochs, 'epoch')} in "
                           f"{metrics['total_seconds']:.0f} s "
                           f"({metrics['images_per_second']:,.0f} {unit}/s) -> {run.dir}")
    return 0


def training_data(config: GanConfig, critic_steps: int,
                  device: torch.device) -> tuple[FashionMNIST | None, ImageSource | MixtureSource]:
    """Fashion-MNIST (for the sample-quality measures too) and its training images on `device`, or a 2-D
    mixture's fresh samples (None, source), MIXTURE_G_STEPS generator steps an epoch."""
    if config.dataset != "fashion":
        return None, MixtureSource(MIXTURES[config.dataset](), MIXTURE_G_STEPS * critic_steps, device)
    data = load_fashion_mnist(config.data.data_dir, config.data.download)
    images, labels = data.training(config.data.limit)
    return data, ImageSource(images.to(device), labels.to(device))


def gan_settings(config: GanConfig, critic_steps: int, images: int | None, precision: str, ranks: int,
                 steps: int) -> GanSettings:
    """The loop's settings; refuses a batch size the training images cannot fill (`images`: None for a mixture,
    whose epochs are built to fit), or the ranks cannot share, and a decay shorter than one of the run's `steps`."""
    if images is not None and images < config.batch_size:
        raise Hw3Error(f"--batch-size {config.batch_size} is larger than the {images} training images")
    if config.batch_size < ranks:
        raise Hw3Error(f"--batch-size {config.batch_size} is smaller than the {ranks} torchrun processes, each of "
                       "which takes its part of every batch")
    if ranks > 1 and config.unroll and config.unroll_mode == "exact":
        raise Hw3Error("--unroll-mode exact cannot run under torchrun: its gradient flows through D's unrolled "
                       "steps, which would each need the other ranks' gradients inside the graph; use "
                       "--unroll-mode surrogate, or one process")
    if images is not None and images // config.batch_size < critic_steps:  # else no G step in an epoch
        raise Hw3Error(f"{images} training images make {images // config.batch_size} batches of {config.batch_size} "
                       f"per epoch, fewer than the {critic_steps} critic steps each generator step waits for; use "
                       "more images (--limit), a smaller --batch-size or fewer --critic-steps")
    if 0 < config.lr_decay and config.lr_decay * steps < 1:  # it would lower no step's rate
        raise Hw3Error(f"--lr-decay {config.lr_decay:g} is less than one of this run's {steps} steps; use 0 for "
                       f"constant learning rates, or at least {1 / steps:.2g}")
    # Adam's defaults: 2e-4 for G and D on Fashion-MNIST; on the mixtures G 1e-3 and D 1e-4, as in the unrolled
    # GAN's reference code. WGAN's RMSprop 5e-5 and WGAN-GP's Adam 1e-4 are their papers'.
    toy = config.dataset != "fashion"
    optimizer, lr, d_lr = {"wgan": ("rmsprop", 5e-5, 5e-5), "wgan-gp": ("adam-gp", 1e-4, 1e-4)}.get(
        config.loss, ("adam", 1e-3, 1e-4) if toy else ("adam", 2e-4, 2e-4))
    g_lr = config.lr or lr
    return GanSettings(config.epochs, config.batch_size, optimizer, g_lr, config.d_lr or (d_lr if toy else g_lr),
                       precision, config.unroll or 0, config.unroll_mode, config.unroll_optimizer,
                       config.unroll_lr, config.mismatch, config.class_loss, config.lr_decay)


def build_models(config: GanConfig, with_discriminator: bool, device: torch.device):
    """G and (unless the loss has none) D, after checking that they and a batch fit in memory."""
    classes = len(CLASSES) if config.conditional else 0
    dim = IMAGE_SIZE if config.dataset == "fashion" else 2
    scale = MIXTURES[config.dataset]().spread if config.standardize else 1.0
    widths = config.noise_dim + sum(config.g_hidden) + sum(config.d_hidden) + 3 * dim
    outputs = 1 + classes if config.class_loss else 1  # AC-GAN: real/fake, then the class logits
    require_model(lambda: (Generator(config.noise_dim, config.g_hidden, classes, dim, scale),
                           Discriminator(config.d_hidden, classes, outputs, data_dim=dim, scale=scale)),
                  f"--noise-dim {config.noise_dim} --g-hidden {','.join(map(str, config.g_hidden))} --d-hidden "
                  f"{','.join(map(str, config.d_hidden))} --batch-size {config.batch_size}",
                  4 * 4 * 2 * config.batch_size * widths)
    generator = Generator(config.noise_dim, config.g_hidden, classes, dim, scale).to(device)
    discriminator = Discriminator(config.d_hidden, classes, outputs, data_dim=dim, scale=scale).to(device) \
        if with_discriminator else None
    return generator, discriminator


def final_metrics(config: GanConfig, run: TrainingRun, data, history, epochs, keep, samples, graders,
                  started: float) -> dict:
    final = samples[f"epoch_{config.epochs:03d}"]
    metrics = {
        "loss": config.loss,
        "iterations": {k: [round(v, 6) if not math.isnan(v) else None for v in vals] if k != "iteration" else vals
                       for k, vals in history.items()},
        "epochs": epochs,
        "sample_epochs": keep,
        "images_per_second": sum(e["images_per_second"] for e in epochs) / len(epochs),
        "total_seconds": time.perf_counter() - started,
    }
    if data is None:  # a 2-D mixture: the benchmark's scores, at the end and at every kept epoch
        mixture = MIXTURES[config.dataset]()
        metrics["dataset"] = config.dataset
        metrics["mode_coverage"] = coverage(final, mixture)
        metrics["coverage_over_training"] = {str(epoch): coverage(samples[f"epoch_{epoch:03d}"], mixture)
                                             for epoch in keep}
    else:
        metrics["sample_diversity"] = pixel_diversity(final)
        metrics["real_diversity"] = pixel_diversity(to_unit_range(data.test_images[:1000]).add(1).div(2))
    metrics.update({
        "device": str(run.device),
        "threads": torch.get_num_threads(),
        "precision": run.precision,
        "machine": machine_record(run.device, run.precision),
    })
    for key, grader in graders.items():  # quality: the classifier's numbers; judge_quality: the judge's
        metrics[key] = epochs[-1][key]
        metrics[f"{key}_real_floor"] = grader.floor
    metrics["summary"] = summary(config, metrics)
    return metrics


def decay_span(fraction: float) -> str:
    return "over the run" if fraction == 1 else f"over the last {fraction * 100:.3g}%"


def run_title(config: GanConfig) -> str:
    extra = f", clip {config.clip:g}" if config.loss == "wgan" else ""
    extra += f", {config.dataset}" if config.dataset != "fashion" else ""
    if config.unroll:
        extra += f", unrolled {config.unroll_mode} K={config.unroll}"
    if config.standardize:
        extra += ", standardized"
    if config.lr_decay:
        extra += f", lr to 0 {decay_span(config.lr_decay)}"
    if config.conditional:
        extra += ", conditional" + (", matching-aware D" if config.mismatch else "") + (
            f", class loss {config.class_loss:g}" if config.class_loss else "")
    return f"{config.loss} GAN{extra}, batch {config.batch_size}"


def summary(config: GanConfig, metrics: dict) -> str:
    last = metrics["epochs"][-1]
    extras = [what for on, what in ((config.unroll, f"unrolled {config.unroll_mode}, k = {config.unroll}"),
                                    (config.lr_decay, f"learning rates down to 0 {decay_span(config.lr_decay)}"),
                                    (config.standardize, "standardized coordinates"),
                                    (config.mismatch, "matching-aware D"),
                                    (config.class_loss, f"class loss {config.class_loss:g}"),
                                    (config.ema, f"samples from G's weights averaged with decay {config.ema:g}")) if on]
    extras = f" ({', '.join(extras)})" if extras else ""
    text = f"{config.loss}, {counted(config.epochs, 'epoch')}{extras}: final G loss {last['g_loss']:.3f}"
    if config.loss != "mse":
        text += f", D loss {last['d_loss']:.3f}, real score {last['real_score']:.3f}, fake {last['fake_score']:.3f}"
    if "mode_coverage" in metrics:
        m = metrics["mode_coverage"]
        return (f"{config.dataset}: {text}. {m['modes_recovered']} of {m['modes']} modes recovered, "
                f"{100 * m['high_quality_fraction']:.1f}% high-quality samples, reverse KL {m['reverse_kl']:.3f} "
                f"(over {m['samples']:,} samples; {config.epochs * MIXTURE_G_STEPS:,} generator steps).")
    ratio = metrics["sample_diversity"] / metrics["real_diversity"]
    text += (f". Sample diversity (mean per-pixel std across the fixed-noise samples) {metrics['sample_diversity']:.3f}"
             f" vs {metrics['real_diversity']:.3f} for real images ({100 * ratio:.0f}%).")
    for key, grader in (("quality", "Classifier"), ("judge_quality", "Judge")):
        if key in metrics:
            q = metrics[key]
            text += (f" {grader}-measured: KL from uniform {q['kl_from_uniform']:.3f}, {q['classes_over_5pct']} "
                     f"classes >= 5%, inception score {q['inception_score']:.2f}, Frechet distance "
                     f"{q['frechet_distance']:.1f} (real train vs test: "
                     f"{metrics[key + '_real_floor']['frechet_distance_train_vs_test']:.1f}).")
            if "conditional_accuracy" in q:
                text += f" Conditional accuracy {describe_conditional(q)}."
    if config.loss == "mse":
        text += (" With no discriminator, the best G under E(x - G(z))^2, with z independent of x, outputs the "
                 "mean image for every z: the samples collapse onto one blurry average.")
    return text
