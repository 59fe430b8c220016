"""`hw3cli train-gan`: Fashion-MNIST MLP GANs with the vanilla, MSE, WGAN and least-squares losses, unrolled or
conditional. The run folder holds both networks, the fixed-noise samples, the curves and the grids."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from hw3cli.configs import GanConfig
from hw3cli.core.checkpoint import save_checkpoint
from hw3cli.core.memory import require_model
from hw3cli.core.wording import counted
from hw3cli.data.sources import GAN_DATASETS, MIXTURE_G_STEPS, GanDataset, GanSource
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.lifecycle import TrainingRun, resumed_options
from hw3cli.metrics import SampleQuality, describe_conditional, load_graders
from hw3cli.models.gan import Discriminator, Generator
from hw3cli.plots.gan import run_figures
from hw3cli.plots.mixture import mixture_figures
from hw3cli.train.gan_loop import PROGRESS, HistoryRecord, gan_training, make_optimizers, sample
from hw3cli.train.gan_losses import EXACT_LOSSES, GanLoss, make_loss

RUN_FILES = ("generator.safetensors", "discriminator.safetensors", "samples.safetensors", "config.json",
             "metrics.json", "timings.json", "loss.png", "scores.png", "samples_strip.png", "samples",
             "scatter.png", "density.png")


def validate(config: GanConfig, loss: GanLoss, dataset: GanDataset, given: GanConfig) -> None:
    """The combinations no single option's range can refuse (on the config with its dataset's sizes; `given`: the
    options as typed, before --resume and the recipe filled them in)."""
    no_d = f"--loss {config.loss} has none"
    if config.unroll is not None and not loss.uses_discriminator:
        raise Hw3Error(f"--unroll needs a discriminator; {no_d}")
    if config.unroll is None and config.unroll_mode != GanConfig.unroll_mode:
        raise Hw3Error(f"--unroll-mode {config.unroll_mode} says how D is unrolled; it needs --unroll K")
    exact = config.unroll is not None and config.unroll_mode == "exact"
    if exact and not loss.exact_unroll:
        raise Hw3Error(f"--unroll-mode exact supports --loss {' or '.join(EXACT_LOSSES)}, not {config.loss} "
                       "(its critic step is not a differentiable update)")
    if given.unroll_optimizer is not None and not exact:  # the resolved config says "adam" for every other GAN
        raise Hw3Error("--unroll-optimizer chooses the steps of the exact unroll; it needs --unroll K "
                       "--unroll-mode exact")
    if config.unroll_lr != GanConfig.unroll_lr and not (exact and config.unroll_optimizer == "sgd"):
        raise Hw3Error("--unroll-lr is the step of the exact unroll's SGD steps; it needs --unroll-mode exact "
                       "--unroll-optimizer sgd (the Adam unroll takes D's own learning rate)")
    if config.conditional and not loss.uses_discriminator:
        raise Hw3Error(f"--conditional needs a discriminator; {no_d}")
    if config.conditional and config.unroll:
        raise Hw3Error("--conditional cannot be combined with --unroll")
    if config.unroll and loss.gradient_penalty:
        raise Hw3Error(f"--unroll cannot be combined with --loss {config.loss} (the look-ahead steps take no "
                       "penalty)")
    if config.standardize and dataset.spread is None:
        raise Hw3Error("--standardize scales the 2-D mixtures' coordinates; it needs --dataset "
                       f"{' or '.join(n for n, d in GAN_DATASETS.items() if d.spread)}")
    if config.conditional and not dataset.labelled:
        raise Hw3Error(f"--conditional needs class labels; --dataset {config.dataset} has none")
    if config.mismatch and not config.conditional:
        raise Hw3Error("--mismatch pairs real images with wrong labels; it needs --conditional")
    if config.class_loss and not config.conditional:
        raise Hw3Error("--class-loss trains D and G on the class asked for; it needs --conditional")
    if config.class_loss and loss.gradient_penalty:
        raise Hw3Error(f"--class-loss cannot be combined with --loss {config.loss} (the penalty takes one critic "
                       "output)")
    if not dataset.images and (config.classifier or config.judge):
        raise Hw3Error(f"--classifier and --judge grade Fashion-MNIST images; --dataset {config.dataset} is scored "
                       "by its modes")
    fewest, most = dataset.hidden_layers
    for name in ("g_hidden", "d_hidden"):
        sizes = getattr(config, name)
        if not fewest <= len(sizes) <= most:
            wanted = "three" if fewest == most == 3 else f"from {fewest} to {most}"
            raise Hw3Error(f"--{name.replace('_', '-')} needs {wanted} positive layer sizes, got {list(sizes)}")


def sample_epochs(epochs: int, every: int) -> list[int]:
    keep = {0, max(1, epochs // 2), epochs}
    if every:
        keep |= set(range(every, epochs + 1, every))
    return sorted(keep)


def fixed_inputs(config: GanConfig, source: GanSource, classes: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fixed noise behind every sample grid; for a conditional G, rows of one class each, in class order. On a
    2-D mixture, the 2,500 points every score is measured on."""
    rng = torch.Generator().manual_seed(config.runtime.seed)
    if not classes:
        return torch.randn(source.scored_samples(config.samples), config.noise_dim, generator=rng), None
    per_class = max(1, config.samples // classes)
    labels = torch.arange(classes).repeat_interleave(per_class)
    return torch.randn(len(labels), config.noise_dim, generator=rng), labels


def run(config: GanConfig) -> int:
    given, config = config, resumed_options(config).resolved()
    dataset, loss = GAN_DATASETS[config.dataset], make_loss(config.loss, config.clip, config.critic_steps)
    validate(config, loss, dataset, given)
    job = TrainingRun(config, "train-gan", RUN_FILES)
    device = job.device
    source = dataset.open(config.data, loss.critic_steps, device)
    batches = source.items_per_epoch(config.batch_size) // config.batch_size  # D steps per epoch
    check_budget(config, loss, source, job.world.size, config.epochs * batches)
    # metrics.json keys: quality (the classifier's numbers), judge_quality (the judge's)
    graders = {"quality" if name == "classifier" else "judge_quality":
               SampleQuality(grader, source.data, config.noise_dim, config.runtime.seed, source.classes)
               for name, grader in load_graders(config.classifier, config.judge).items()}
    job.seed()
    generator, discriminator = build_models(config, loss, dataset, source, device)
    # With --ema, an exponential moving average of G's weights makes every sample, score and the saved generator:
    # it averages out the step-to-step jitter that shows as speckle in a single G's images (Yazici et al. 2019).
    average = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(config.ema)) if config.ema else None
    shown = average.module if average is not None else generator
    rng = torch.Generator(device=device).manual_seed(config.runtime.seed)
    fixed = tuple(t if t is None else t.to(device) for t in fixed_inputs(config, source, generator.classes))
    optimizers = make_optimizers(generator, discriminator, loss.optimizer, *learning_rates(config, loss, dataset))
    job.track({"G": generator, **({"D": discriminator} if discriminator else {}),
                    **({"G_ema": average} if average is not None else {})},
                   {"G": optimizers.g, **({"D": optimizers.d} if discriminator else {})}, {"batches": rng})
    state, samples = job.restore(PROGRESS)
    history, epochs = HistoryRecord.from_state(state), state.get("epochs", [])
    samples = samples or {"epoch_000": sample(shown, *fixed, source)}
    keep, started = sample_epochs(config.epochs, config.sample_every), time.perf_counter()
    loop = gan_training(generator=generator, discriminator=discriminator, loss=loss, source=source, config=config,
                        optimizers=optimizers, rng=rng, device=device, precision=job.precision, average=average,
                        start_epoch=len(epochs) + 1, start_iteration=len(history.iteration), world=job.world)
    with job.training() as bar:
        task = bar.add_task(f"train-gan {config.loss}", total=batches // loss.critic_steps * config.epochs,
                            completed=batches // loss.critic_steps * len(epochs), status="")
        for record in job.watch(loop, "epoch", lambda: len(epochs)):
            if follow(record, bar, task, history, epochs, batches // loss.critic_steps):
                if record["epoch"] in keep:
                    samples[f"epoch_{record['epoch']:03d}"] = sample(shown, *fixed, source)
                if record["epoch"] == config.epochs or (config.eval_every and record["epoch"] % config.eval_every == 0):
                    epochs[-1].update({key: grader.measure(shown) for key, grader in graders.items()})
                job.save({"epoch": record["epoch"], "history": history.as_state(), "epochs": epochs}, samples)
    if source.density_samples:  # the final G's density, from more points than the scored ones
        samples["density"] = sample(shown, torch.randn(source.density_samples, config.noise_dim, device=device,
                                                       generator=torch.Generator(device).manual_seed(1)), None, source)
    metrics = final_metrics(config, loss, source, job, history, epochs, keep, samples, graders, started)
    job.finish(metrics, lambda folder: write_files(folder, config, loss, dataset, source, shown.state_dict(),
                                                   generator, discriminator, samples))
    unit = "images" if dataset.images else "points"
    display.stdout().print(f"{metrics['summary']}\n{counted(config.epochs, 'epoch')} in "
                           f"{metrics['total_seconds']:.0f} s "
                           f"({metrics['images_per_second']:,.0f} {unit}/s, {job.precision}) -> {job.dir}")
    return 0


def write_files(folder: Path, config: GanConfig, loss: GanLoss, dataset: GanDataset, source: GanSource,
                shown_weights: dict, generator: Generator, discriminator: Discriminator | None, samples: dict) -> None:
    """Both networks (G's weights the ones shown: averaged with --ema), the samples and the figures."""
    save_checkpoint(folder / "generator.safetensors", shown_weights, Generator.kind, generator.args)
    if discriminator is not None:
        save_checkpoint(folder / "discriminator.safetensors", discriminator.state_dict(), Discriminator.kind,
                        discriminator.args, {"critic": str(loss.critic)})
    save_checkpoint(folder / "samples.safetensors", samples, "gan-samples")
    title, score_label = run_title(config, loss, dataset), loss.score_label if loss.uses_discriminator else None
    if dataset.images:
        run_figures(folder, title, score_label)
    else:
        mixture_figures(folder, title, source.mixture, score_label)


def follow(record: dict, bar, task, history: HistoryRecord, epochs: list[dict], per_epoch: int) -> bool:
    """One record of the loop into the history and the progress bar; True at the end of an epoch."""
    if record["event"] == "iteration":
        history.append(record)
        if record["iteration"] % 20 == 0:
            d = "" if math.isnan(record["d_loss"]) else f"  D {record['d_loss']:.3f}"
            rate = f"  {epochs[-1]['images_per_second']:,.0f} img/s" if epochs else ""
            bar.update(task, completed=record["iteration"],
                       status=f"epoch {record['epoch']}  G {record['g_loss']:.3f}{d}{rate}")
        return False
    epochs.append({k: v for k, v in record.items() if k != "event"})
    bar.update(task, completed=per_epoch * record["epoch"])
    return True


def check_budget(config: GanConfig, loss: GanLoss, source: GanSource, ranks: int, steps: int) -> None:
    """Refuse a batch size the training data cannot fill or the ranks cannot share, and a decay shorter than one
    of the run's `steps`."""
    items = source.size
    if items is not None and items < config.batch_size:
        raise Hw3Error(f"--batch-size {config.batch_size} is larger than the {items} training images")
    if config.batch_size < ranks:
        raise Hw3Error(f"--batch-size {config.batch_size} is smaller than the {ranks} torchrun processes, each of "
                       "which takes its part of every batch")
    if ranks > 1 and config.unroll and config.unroll_mode == "exact":
        raise Hw3Error("--unroll-mode exact cannot run under torchrun: its gradient flows through D's unrolled "
                       "steps, which would each need the other ranks' gradients inside the graph; use "
                       "--unroll-mode surrogate, or one process")
    if items is not None and items // config.batch_size < loss.critic_steps:  # else no G step in an epoch
        raise Hw3Error(f"{items} training images make {items // config.batch_size} batches of {config.batch_size} "
                       f"per epoch, fewer than the {loss.critic_steps} critic steps each generator step waits for; "
                       "use more images (--limit), a smaller --batch-size or fewer --critic-steps")
    if 0 < config.lr_decay and config.lr_decay * steps < 1:  # it would lower no step's rate
        raise Hw3Error(f"--lr-decay {config.lr_decay:g} is less than one of this run's {steps} steps; use 0 for "
                       f"constant learning rates, or at least {1 / steps:.2g}")


def learning_rates(config: GanConfig, loss: GanLoss, dataset: GanDataset) -> tuple[float, float]:
    """G's and D's: the options', else the variant's optimizer's (WGAN's and WGAN-GP's papers'), else the data
    set's Adam defaults; D follows G's rate where the data set gives D none of its own."""
    g_lr = config.lr or loss.optimizer.lr or dataset.g_lr
    d_lr = g_lr if dataset.d_lr is None else loss.optimizer.lr or dataset.d_lr
    return g_lr, config.d_lr or d_lr


def build_models(config: GanConfig, loss: GanLoss, dataset: GanDataset, source: GanSource, device: torch.device):
    """G and (unless the loss has none) D, after checking that they and a batch fit in memory."""
    classes = len(source.classes) if config.conditional else 0
    dim = math.prod(source.sample_shape)
    scale = dataset.spread() if config.standardize else 1.0
    widths = config.noise_dim + sum(config.g_hidden) + sum(config.d_hidden) + 3 * dim
    outputs = 1 + classes if config.class_loss else 1  # AC-GAN: real/fake, then the class logits
    require_model(lambda: (Generator(config.noise_dim, config.g_hidden, classes, dim, scale),
                           Discriminator(config.d_hidden, classes, outputs, data_dim=dim, scale=scale)),
                  f"--noise-dim {config.noise_dim} --g-hidden {','.join(map(str, config.g_hidden))} --d-hidden "
                  f"{','.join(map(str, config.d_hidden))} --batch-size {config.batch_size}",
                  4 * 4 * 2 * config.batch_size * widths)
    generator = Generator(config.noise_dim, config.g_hidden, classes, dim, scale).to(device)
    discriminator = Discriminator(config.d_hidden, classes, outputs, data_dim=dim, scale=scale).to(device) \
        if loss.uses_discriminator else None
    return generator, discriminator


def final_metrics(config: GanConfig, loss: GanLoss, source: GanSource, job: TrainingRun,
                  history: HistoryRecord, epochs: list[dict], keep: list[int], samples: dict, graders: dict,
                  started: float) -> dict:
    metrics = {
        "loss": config.loss,
        "iterations": history.rounded(),
        "epochs": epochs,
        "sample_epochs": keep,
        "images_per_second": sum(e["images_per_second"] for e in epochs) / len(epochs),
        "total_seconds": time.perf_counter() - started,
    }
    metrics.update(source.score(samples[f"epoch_{config.epochs:03d}"],
                                {epoch: samples[f"epoch_{epoch:03d}"] for epoch in keep}))
    metrics.update({
        "device": str(job.device),
        "threads": torch.get_num_threads(),
        "precision": job.precision,
        "machine": job.machine(),
    })
    for key, grader in graders.items():  # quality: the classifier's numbers; judge_quality: the judge's
        metrics[key] = epochs[-1][key]
        metrics[f"{key}_real_floor"] = grader.floor
    metrics["summary"] = summary(config, loss, metrics)
    return metrics


def decay_span(fraction: float) -> str:
    return "over the run" if fraction == 1 else f"over the last {fraction * 100:.3g}%"


def run_title(config: GanConfig, loss: GanLoss, dataset: GanDataset) -> str:
    extra = loss.details()
    extra += f", {dataset.name}" if dataset.folder else ""
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


def summary(config: GanConfig, loss: GanLoss, metrics: dict) -> str:
    last = metrics["epochs"][-1]
    extras = [what for on, what in ((config.unroll, f"unrolled {config.unroll_mode}, k = {config.unroll}"),
                                    (config.lr_decay, f"learning rates down to 0 {decay_span(config.lr_decay)}"),
                                    (config.standardize, "standardized coordinates"),
                                    (config.mismatch, "matching-aware D"),
                                    (config.class_loss, f"class loss {config.class_loss:g}"),
                                    (config.ema, f"samples from G's weights averaged with decay {config.ema:g}")) if on]
    extras = f" ({', '.join(extras)})" if extras else ""
    text = f"{config.loss}, {counted(config.epochs, 'epoch')}{extras}: final G loss {last['g_loss']:.3f}"
    if loss.uses_discriminator:
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
    return text + loss.note
