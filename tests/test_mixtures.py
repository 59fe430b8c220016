"""The 2-D mixtures (ring, grid), their scores, WGAN-GP's penalty, and train-gan on them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hw3cli.data.mixtures import coverage, grid, ring
from hw3cli.train.gan_losses import WassersteinGP
from tests.conftest import TINY_GAN, assert_usage_error


def test_the_ring_has_eight_distinct_modes_on_a_circle_and_the_grid_twenty_five():
    modes = ring().centres()
    assert modes.shape == (8, 2) and torch.allclose(modes.norm(dim=1), torch.full((8,), 2.0))
    distances = torch.cdist(modes, modes) + 10 * torch.eye(8)
    assert distances.min().item() == pytest.approx(2 * 2 * math.sin(math.pi / 8), rel=1e-5)  # no mode twice
    centres = {tuple(p) for p in grid().centres().tolist()}
    assert centres == {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}


@pytest.mark.parametrize("make", [ring, grid])
def test_samples_of_the_mixture_itself_score_as_the_published_real_data(make):
    mixture = make()
    scores = coverage(mixture.sample(2500, torch.Generator().manual_seed(0)), mixture)
    assert scores["modes_recovered"] == scores["modes"] == len(mixture.modes)
    # within 3 std of a 2-D Gaussian's centre: 1 - exp(-9/2) = 98.9% of its mass
    assert scores["high_quality_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert 0 <= scores["reverse_kl"] < 0.02 and sum(scores["per_mode"]) < 2500


def test_a_collapsed_generator_scores_one_mode_and_the_largest_kl():
    mixture = ring()
    one = mixture.centres()[3].expand(2500, 2) + 0.01 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(1))
    scores = coverage(one, mixture)
    assert scores["modes_recovered"] == 1 and scores["high_quality_fraction"] > 0.99
    assert scores["reverse_kl"] == pytest.approx(math.log(8))
    nowhere = coverage(torch.zeros(100, 2), mixture)  # the centre of the ring: far from every mode
    assert nowhere["modes_recovered"] == 0 and nowhere["high_quality_fraction"] == 0
    assert nowhere["reverse_kl"] == pytest.approx(math.log(8))
    half = coverage(torch.cat([mixture.centres()[:4]] * 10), mixture)  # 4 modes, evenly: KL = log 2
    assert half["modes_recovered"] == 4 and half["reverse_kl"] == pytest.approx(math.log(2))


def test_the_gradient_penalty_of_a_linear_critic_is_lambda_times_its_squared_norm_gap():
    critic = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))  # |grad| = 5 everywhere
    loss = WassersteinGP()
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    penalty = loss.penalty(lambda x, cond: critic(x).squeeze(-1), real, fake, None, torch.rand(16, 1))
    assert penalty.item() == pytest.approx(10 * (5 - 1) ** 2)
    penalty.backward()  # through the gradient: d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    assert torch.allclose(critic.weight.grad, 20 * 4 * torch.tensor([[3.0, 4.0]]) / 5)


def test_train_gan_on_the_ring_writes_scores_that_its_samples_give_and_the_figures(cli, tmp_path):
    r = cli("train-gan", "--dataset", "ring", "--epochs", "2", "--batch-size", "64", "--out", tmp_path / "ring")
    assert r.code == 0, r.err
    run = tmp_path / "ring"
    metrics = json.loads((run / "metrics.json").read_text())
    samples = load_file(run / "samples.safetensors")
    assert samples["epoch_002"].shape == (2500, 2) and samples["density"].shape == (20_000, 2)
    assert metrics["mode_coverage"] == coverage(samples["epoch_002"], ring())
    assert set(metrics["coverage_over_training"]) == {"0", "1", "2"}
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["g_hidden"] == [128, 128] and config["noise_dim"] == 256 and config["batch_size"] == 64
    for figure in ("scatter.png", "density.png", "loss.png", "scores.png"):
        assert (run / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
    assert "modes recovered" in r.out and f"{metrics['mode_coverage']['modes_recovered']} of 8" in r.out


def test_a_ring_gan_is_refused_where_a_fashion_gan_is_needed(cli, tmp_path, world):
    assert cli("train-gan", "--dataset", "grid", "--epochs", "1", "--batch-size", "64", "--loss", "wgan-gp",
               "--out", tmp_path / "grid").code == 0
    assert_usage_error(cli("histogram", "--generator", tmp_path / "grid", "--classifier", world["w"] / "clf",
                           "--out", tmp_path / "h"), "2-D points", "Fashion-MNIST")
    assert_usage_error(cli("classify", "--init-from", tmp_path / "grid", "--data", world["fashion"], "--out",
                           tmp_path / "c"), "2-D points")
    assert_usage_error(cli("compare-gan", tmp_path / "grid", tmp_path / "grid", "--out", tmp_path / "cmp"),
                       "--dataset grid run")
    assert not (tmp_path / "h").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize("args,word", [
    (["--dataset", "ring", "--conditional"], "labels"),
    (["--loss", "wgan-gp", "--unroll", "2"], "penalty"),
    (["--dataset", "ring", "--g-hidden", ",".join(["4"] * 9)], "from 1 to 8"),
    (["--dataset", "moons"], "dataset"),
    (["--unroll", "2", "--unroll-optimizer", "sgd"], "--unroll-mode exact"),
    (["--unroll", "2", "--unroll-optimizer", "adam"], "--unroll-mode exact"),
    (["--unroll-optimizer", "adam"], "--unroll-mode exact"),
    (["--unroll", "2", "--unroll-mode", "exact", "--unroll-optimizer", "adam", "--unroll-lr", "0.01"],
     "--unroll-optimizer sgd"),
    (["--unroll-lr", "0.01"], "--unroll-optimizer sgd"),
    (["--unroll-mode", "exact"], "needs --unroll K"),
    (["--dataset", "ring", "--lr-decay", "0.004"], "less than one of this run's 100 steps"),
    (["--dataset", "ring", "--lr-decay", "1e-310"], "--lr-decay"),
    (["--standardize"], "--dataset ring or grid"),
])
def test_combinations_that_cannot_work_are_refused(cli, tmp_path, args, word):
    assert_usage_error(cli("train-gan", *args, "--out", tmp_path / "run", *TINY_GAN[:2]), word)


def test_toy_summary_averages_each_variant_over_its_seeds(cli, tmp_path, world):
    runs = []
    for seed in (1, 2):
        runs.append(tmp_path / f"ring-vanilla-{seed}")
        assert cli("train-gan", "--dataset", "ring", "--epochs", "1", "--batch-size", "32", "--seed", seed,
                   "--out", runs[-1]).code == 0
    runs.append(tmp_path / "grid-gp")
    assert cli("train-gan", "--dataset", "grid", "--loss", "wgan-gp", "--epochs", "1", "--batch-size", "32",
               "--out", runs[-1]).code == 0
    r = cli("toy-summary", *runs, "--out", tmp_path / "toy")
    assert r.code == 0, r.err
    summary = json.loads((tmp_path / "toy" / "summary.json").read_text())
    scores = [json.loads((run / "metrics.json").read_text())["mode_coverage"] for run in runs]
    ring_row, grid_row = summary["ring"]["vanilla"], summary["grid"]["wgan-gp"]
    assert ring_row["seeds"] == 2 and grid_row["seeds"] == 1 and grid_row["modes"] == 25
    for key in ("modes_recovered", "high_quality_fraction", "reverse_kl"):
        assert ring_row[key] == pytest.approx((scores[0][key] + scores[1][key]) / 2)
        assert grid_row[key] == pytest.approx(scores[2][key])
    table = (tmp_path / "toy" / "summary.md").read_text()
    assert "published: Unrolled GAN, k=5 (VEEGAN)" in table and "| vanilla | 2 |" in table
    assert (tmp_path / "toy" / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert_usage_error(cli("toy-summary", runs[0], runs[0], "--out", tmp_path / "twice"), "share a seed")
    assert cli("train-gan", "--dataset", "ring", "--epochs", "2", "--batch-size", "32", "--seed", "3",
               "--out", tmp_path / "longer").code == 0
    assert_usage_error(cli("toy-summary", *runs, tmp_path / "longer", "--out", tmp_path / "mixed-epochs"),
                       "differ in epochs")
    r = cli("train-gan", "--dataset", "ring", "--epochs", "1", "--batch-size", "32", "--seed", "4", "--lr-decay", "0.5",
            "--out", tmp_path / "decayed")
    assert r.code == 0 and "(learning rates down to 0 over the last 50%)" in r.out.replace("\n", " "), r.out
    assert_usage_error(cli("toy-summary", *runs, tmp_path / "decayed", "--out", tmp_path / "mixed-schedules"),
                       "differ in lr_decay")
    assert_usage_error(cli("toy-summary", runs[0], world["w"] / "gan", "--out", tmp_path / "mixed"), "Fashion-MNIST")
    assert not any((tmp_path / name).exists() for name in ("twice", "mixed", "mixed-epochs", "mixed-schedules"))


def test_standardized_networks_work_in_the_mixtures_coordinates_over_their_spread():
    from hw3cli.models.gan import Discriminator, Generator

    assert grid().spread == pytest.approx(math.sqrt(8 + 0.05 ** 2))  # coordinates -4..4 in steps of 2, and the noise
    assert ring().spread == pytest.approx(math.sqrt(2 + 0.02 ** 2))  # radius 2: half of 4 on each axis
    z, x = torch.randn(5, 8), torch.randn(5, 2)
    nets = []
    for scale in (1.0, 2.5):
        torch.manual_seed(0)
        nets.append((Generator(8, (16,), data_dim=2, scale=scale), Discriminator((16,), data_dim=2, scale=scale)))
    (g, d), (g_scaled, d_scaled) = nets
    assert torch.equal(g_scaled(z), g(z) * 2.5) and torch.allclose(d_scaled(x), d(x / 2.5))
    assert "scale" not in g.args and g_scaled.args["scale"] == 2.5  # old checkpoints keep their arguments
    for bad in (0.0, -1.0, float("nan"), float("inf"), 1e300, "2", True):
        with pytest.raises(ValueError, match="not a number in"):
            Generator(8, (16,), data_dim=2, scale=bad)
        with pytest.raises(ValueError, match="not a number in"):
            Discriminator((16,), data_dim=2, scale=bad)
    with pytest.raises(ValueError, match="for 2-D points"):
        Generator(8, (16,), scale=2.0)  # Fashion-MNIST images: tanh in [-1, 1], nothing to scale


def test_a_standardized_run_rebuilds_its_scale_and_is_its_own_variant(cli, tmp_path):
    from hw3cli.configs import GanConfig
    from hw3cli.core.checkpoint import load_checkpoint, save_checkpoint
    from hw3cli.errors import Hw3Error
    from hw3cli.models.gan import load_generator

    runs = {}
    for name, extra in (("plain", []), ("standardized", ["--standardize"])):
        runs[name] = tmp_path / name
        r = cli("train-gan", "--dataset", "grid", "--epochs", "1", "--batch-size", "32", "--lr-decay", "0", "--out",
                runs[name], *extra)
        assert r.code == 0, r.err
    assert "(standardized coordinates)" in r.out.replace("\n", " ")
    assert json.loads((runs["standardized"] / "config.json").read_text())["config"]["standardize"] is True
    generator = load_generator(runs["standardized"], data_dim=2)
    assert generator.scale == pytest.approx(grid().spread)
    _, d_meta = load_checkpoint(runs["standardized"] / "discriminator.safetensors")
    assert d_meta["model_args"]["scale"] == pytest.approx(grid().spread)
    # the same seed and first weights: the untrained G's points differ by the scale alone
    plain, scaled = (load_file(runs[name] / "samples.safetensors")["epoch_000"] for name in ("plain", "standardized"))
    assert torch.allclose(scaled, plain * grid().spread)
    assert cli("toy-summary", *runs.values(), "--out", tmp_path / "toy").code == 0
    summary = json.loads((tmp_path / "toy" / "summary.json").read_text())
    assert set(summary["grid"]) == {"vanilla", "vanilla-std"}
    assert GanConfig(dataset="grid", unroll=5, unroll_mode="exact", standardize=True).run_dir == Path(
        "artifacts/gan/grid/unrolled-exact-k5-std")  # the default folder says what toy-summary calls it
    tensors, meta = load_checkpoint(runs["standardized"] / "generator.safetensors")
    for bad in (-1.0, "nan", 1e300, True):
        save_checkpoint(runs["standardized"] / "generator.safetensors", tensors, meta["kind"],
                        {**meta["model_args"], "scale": bad})
        with pytest.raises(Hw3Error, match="scale"):
            load_generator(runs["standardized"], data_dim=2)
        assert_usage_error(cli("cgan-sample", "--generator", runs["standardized"], "--out", tmp_path / "g.png"),
                           "scale")
