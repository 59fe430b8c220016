import gzip
import json
import math
import shutil

import numpy as np
import pytest
import torch

from hw3cli.data.fashion_mnist import DEBIAN_DIR, FILES, load_fashion_mnist, read_idx
from hw3cli.models.gan import Discriminator, Generator, load_generator
from hw3cli.train.gan_losses import LOSSES, LeastSquares, MeanSquared, Vanilla, Wasserstein, make_loss
from tests.conftest import assert_usage_error, interrupt_after_epoch, snapshot, synthetic_fashion, write_idx


def test_loss_formulas_against_hand_computed_values():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    d = -(math.log(sig(2.0)) + math.log(sig(0.0))) / 2 - (math.log(1 - sig(-1.0)) + math.log(1 - sig(1.0))) / 2
    assert Vanilla().d_loss(real, fake).item() == pytest.approx(d, rel=1e-6)
    assert Vanilla().g_loss(fake).item() == pytest.approx(-(math.log(sig(-1.0)) + math.log(sig(1.0))) / 2, rel=1e-6)
    ls_d = ((sig(2.0) - 1) ** 2 + (sig(0.0) - 1) ** 2) / 2 + (sig(-1.0) ** 2 + sig(1.0) ** 2) / 2
    assert LeastSquares().d_loss(real, fake).item() == pytest.approx(ls_d, rel=1e-6)
    assert LeastSquares().g_loss(fake).item() == pytest.approx(((sig(-1.0) - 1) ** 2 + (sig(1.0) - 1) ** 2) / 2)
    assert Wasserstein().d_loss(real, fake).item() == pytest.approx(0.0 - 1.0)
    assert Wasserstein().g_loss(fake).item() == pytest.approx(0.0)
    assert MeanSquared().reconstruction(torch.ones(2, 3), torch.zeros(2, 3)).item() == pytest.approx(1.0)
    assert make_loss("wgan", clip=0.1).critic_steps == 5 and make_loss("vanilla").critic_steps == 1


def test_each_variant_declares_itself_once():
    """The registry is where the --loss choices, the unroll checks, the plot labels and the optimizers come from:
    a critic's scores are unbounded values (WGAN and WGAN-GP alike), a discriminator's are probabilities."""
    assert list(LOSSES) == ["vanilla", "mse", "wgan", "lsgan", "wgan-gp"]
    for name, variant in LOSSES.items():
        loss = make_loss(name)
        assert loss.name == name and loss.critic_steps == variant.default_critic_steps
        assert loss.score_label == ("mean critic value" if variant.critic else "mean D output (probability of real)")
        assert variant.exact_unroll <= (variant.uses_discriminator and not variant.critic)
    assert [n for n, v in LOSSES.items() if v.critic] == ["wgan", "wgan-gp"]
    assert make_loss("wgan-gp").scores(torch.tensor([3.0])).item() == 3.0  # raw critic values, not sigmoids
    assert make_loss("wgan", clip=0.5, critic_steps=2) == Wasserstein(clip=0.5, critic_steps=2)


def test_wgan_clip_holds_after_a_critic_step():
    critic = Discriminator((16, 8, 4))
    loss = Wasserstein(clip=0.001)
    opt = torch.optim.RMSprop(critic.parameters(), lr=0.5)
    d = loss.d_loss(critic(torch.randn(8, 784)), critic(torch.randn(8, 784)))
    d.backward()
    opt.step()
    assert max(p.abs().max().item() for p in critic.parameters()) > 0.001
    loss.after_d_step(critic)
    bound = torch.tensor(0.001).item()  # 0.001 as float32
    assert max(p.abs().max().item() for p in critic.parameters()) <= bound
    assert sum((p.abs() == bound).sum().item() for p in critic.parameters()) > 0


def test_models_shapes():
    g, d = Generator(10, (8, 16, 32)), Discriminator((32, 16, 8))
    x = g(torch.randn(5, 10))
    assert x.shape == (5, 784) and x.abs().max() <= 1
    assert d(x).shape == (5,) and ((torch.sigmoid(d(x)) > 0) & (torch.sigmoid(d(x)) < 1)).all()
    assert len([m for m in g.net if isinstance(m, torch.nn.ReLU)]) == 3


@pytest.mark.parametrize("loss", list(LOSSES))
def test_short_run_per_loss(cli, tmp_path, loss):
    data = synthetic_fashion(tmp_path / "data")
    out = tmp_path / loss
    variant = LOSSES[loss]
    extra = ["--lr", "1e-3"] if variant.optimizer.name == "rmsprop" else []  # RMSprop's 5e-5 moves G too little
    r = cli("train-gan", "--loss", loss, "--data", data, "--out", out, "--epochs", "4", "--batch-size", "32",
            "--g-hidden", "32,64,128", "--d-hidden", "128,64,32", "--samples", "16", "--sample-every", "2", *extra)
    assert r.code == 0, r.err
    names = {p.name for p in out.iterdir()}
    expected = {"generator.safetensors", "samples.safetensors", "config.json", "metrics.json", "timings.json",
                "loss.png", "samples_strip.png", "samples"}
    if variant.uses_discriminator:
        expected |= {"discriminator.safetensors", "scores.png"}
    assert names == expected
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch_000.png", "epoch_002.png", "epoch_004.png"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 4
    assert all(math.isfinite(v) for v in metrics["iterations"]["g_loss"])
    steps = (512 // 32) // variant.default_critic_steps * 4
    assert len(metrics["iterations"]["g_loss"]) == steps
    # G moves toward the data: its samples get closer to the mean training image than at the start.
    from safetensors.torch import load_file

    samples = load_file(out / "samples.safetensors")
    images = load_fashion_mnist(data).train_images.float() / 255
    mean_image = images.mean(0)
    start = (samples["epoch_000"] - mean_image).pow(2).mean()
    end = (samples["epoch_004"] - mean_image).pow(2).mean()
    assert end < start


def test_checkpoint_rebuilds_generator_without_flags(cli, tmp_path):
    data = synthetic_fashion(tmp_path / "data")
    out = tmp_path / "run"
    assert cli("train-gan", "--data", data, "--out", out, "--epochs", "1", "--g-hidden", "8,16,32",
               "--d-hidden", "32,16,8", "--noise-dim", "7").code == 0
    g = load_generator(out)
    assert g.noise_dim == 7 and g(torch.randn(3, 7)).shape == (3, 784)


def test_same_seed_same_numbers(cli, tmp_path):
    data = synthetic_fashion(tmp_path / "data")
    runs = []
    for name in ("a", "b"):
        assert cli("train-gan", "--data", data, "--out", tmp_path / name, "--epochs", "1", "--g-hidden",
                   "8,16,32", "--d-hidden", "32,16,8").code == 0
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text())["iterations"])
    assert runs[0] == runs[1]


def test_compare_gan(cli, tmp_path):
    data = synthetic_fashion(tmp_path / "data")
    for clip in ("0.1", "0.01"):
        assert cli("train-gan", "--loss", "wgan", "--weight-clip", clip, "--data", data, "--out",
                   tmp_path / f"wgan-clip{clip}", "--epochs", "1", "--g-hidden", "8,16,32", "--d-hidden",
                   "32,16,8").code == 0
    r = cli("compare-gan", tmp_path / "wgan-clip0.1", tmp_path / "wgan-clip0.01", "--out", tmp_path / "cmp")
    assert r.code == 0, r.err
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 10_000
    assert "wgan-clip0.01" in (tmp_path / "cmp" / "comparison.md").read_text()


@pytest.mark.parametrize("args,word", [
    (("--loss", "hinge"), "'hinge' is not one of"),
    (("--loss", "wgan", "--weight-clip", "0"), "--weight-clip"),
    (("--loss", "wgan", "--weight-clip", "-1"), "--weight-clip"),
    (("--g-hidden", "256,x,1024"), "--g-hidden"),
    (("--d-hidden", "256,0,12"), "--d-hidden"),
    (("--d-hidden", "256,12"), "--d-hidden"),
    (("--epochs", "0"), "--epochs"),
    (("--batch-size", "100000"), "larger than"),
])
def test_bad_options(cli, tmp_path, args, word):
    data = synthetic_fashion(tmp_path / "data")
    out = tmp_path / "run"
    assert cli("train-gan", "--data", data, "--out", out, "--epochs", "1", "--g-hidden", "8,16,32",
               "--d-hidden", "32,16,8").code == 0
    before = snapshot(out)
    assert_usage_error(cli("train-gan", "--data", data, "--out", out, "--overwrite", *args), word)
    assert snapshot(out) == before


def test_a_finished_run_is_replaced_only_with_overwrite(cli, tmp_path):
    data = synthetic_fashion(tmp_path / "data")
    out = tmp_path / "run"
    args = ("train-gan", "--data", data, "--out", out, "--epochs", "1", "--g-hidden", "8,16,32",
            "--d-hidden", "32,16,8")
    assert cli(*args).code == 0
    before = snapshot(out)
    assert_usage_error(cli(*args, "--seed", "1"), "--overwrite")
    assert snapshot(out) == before
    assert cli(*args, "--seed", "1", "--overwrite").code == 0
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 1


@pytest.mark.parametrize("damage,word", [("missing", "lacks"), ("truncated", "truncated"), ("magic", "magic"),
                                         ("count", "labels"), ("garbage-gz", "cannot read")])
def test_missing_or_corrupt_data(cli, tmp_path, damage, word):
    data = synthetic_fashion(tmp_path / "data")
    images = data / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    if damage == "missing":
        images.unlink()
    elif damage == "truncated":
        images.write_bytes(gzip.compress(raw[:-100]))
    elif damage == "magic":
        images.write_bytes(gzip.compress(b"\x00\x00\x09\x99" + raw[4:]))
    elif damage == "count":
        write_idx(data / "train-labels-idx1-ubyte", np.zeros(7), gz=False)
    else:
        images.write_bytes(b"\x1f\x8b not really gzip")
    assert_usage_error(cli("train-gan", "--data", data, "--out", tmp_path / "run", "--epochs", "1"), word)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not (DEBIAN_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_idx_reader_matches_torchvision_on_the_real_files(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    for key, (stem, magic) in FILES.items():
        plain = tmp_path / stem
        with gzip.open(DEBIAN_DIR / (stem + ".gz")) as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        ours = torch.from_numpy(read_idx(DEBIAN_DIR / (stem + ".gz"), magic).copy())
        theirs = read_image_file(str(plain)) if "images" in key else read_label_file(str(plain))
        assert torch.equal(ours.to(theirs.dtype), theirs)
    data = load_fashion_mnist()
    assert data.train_images.shape == (60000, 28, 28) and data.test_labels.shape == (10000,)
    assert torch.bincount(data.train_labels).tolist() == [6000] * 10


@pytest.mark.parametrize("extra", [(), ("--ema", "0.9"), ("--lr-decay", "0.5")], ids=["plain", "ema", "lr-decay"])
def test_interrupted_run_resumes_to_the_same_numbers(cli, tmp_path, monkeypatch, extra):

    import hw3cli.experiments.train_gan as gan_experiment

    data = synthetic_fashion(tmp_path / "data")
    args = ("train-gan", "--data", data, "--epochs", "3", "--g-hidden", "8,16,32", "--d-hidden", "32,16,8",
            "--sample-every", "1", *extra)
    assert cli(*args, "--out", tmp_path / "straight").code == 0

    original = gan_experiment.gan_training

    monkeypatch.setattr(gan_experiment, "gan_training", interrupt_after_epoch(original, 1))
    out = tmp_path / "resumed"
    r = cli(*args, "--out", out)
    assert r.code == 130 and "--resume" in r.err and "Traceback" not in r.err
    assert not out.exists() and (tmp_path / "resumed.partial" / "progress.safetensors").is_file()
    monkeypatch.setattr(gan_experiment, "gan_training", original)
    assert_usage_error(cli(*args, "--out", out, "--resume", "--seed", "5"), "seed (0, now 5)")
    r = cli(*args, "--out", out, "--resume")
    assert r.code == 0, r.err
    assert not (tmp_path / "resumed.partial").exists()

    assert (out / "metrics.json").read_bytes() == (tmp_path / "straight" / "metrics.json").read_bytes()
    from safetensors.torch import load_file

    for name in ("generator.safetensors", "discriminator.safetensors", "samples.safetensors"):
        a, b = load_file(out / name), load_file(tmp_path / "straight" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_without_progress_is_refused(cli, tmp_path):
    data = synthetic_fashion(tmp_path / "data")
    assert_usage_error(cli("train-gan", "--data", data, "--out", tmp_path / "x", "--resume"), "no interrupted run")


@pytest.mark.parametrize("fraction", [1.0, 0.4])
def test_lr_decay_falls_linearly_to_zero_over_the_final_fraction(fraction):
    """Step i of n runs at base * min(1, (1 - i / n) / fraction) for G and D alike: constant until the final
    fraction of the run, then linearly down; without the option both stay at their base."""
    from hw3cli.configs import GanConfig
    from hw3cli.data.mixtures import MixtureSource, ring
    from hw3cli.train.gan_loop import gan_training, make_optimizers

    def learning_rates(decay: float) -> list[tuple[float, float]]:
        torch.manual_seed(0)
        generator, discriminator = Generator(8, (16,), data_dim=2), Discriminator((16,), data_dim=2)
        optimizers = make_optimizers(generator, discriminator, Vanilla.optimizer, 1e-3, 1e-4)
        seen = []
        for record in gan_training(generator=generator, discriminator=discriminator, loss=Vanilla(),
                                   source=MixtureSource(ring(), 5, torch.device("cpu")),
                                   config=GanConfig(epochs=2, batch_size=32, lr_decay=decay), optimizers=optimizers,
                                   rng=torch.Generator().manual_seed(0), device=torch.device("cpu"), precision="fp32"):
            if record["event"] == "iteration":
                seen.append(tuple(o.param_groups[0]["lr"] for o in (optimizers.g, optimizers.d)))
        return seen

    decayed = learning_rates(fraction)
    assert len(decayed) == 10
    for i, (g_lr, d_lr) in enumerate(decayed):
        scale = min(1.0, (1 - i / 10) / fraction)
        assert g_lr == pytest.approx(1e-3 * scale) and d_lr == pytest.approx(1e-4 * scale)
    # 1.0: every step lower than the last; 0.4: steps 0-6 at the base rate (the last 40% starts there), then down
    assert sum(g == 1e-3 for g, _ in decayed) == (1 if fraction == 1.0 else 7)
    assert set(learning_rates(0.0)) == {(1e-3, 1e-4)}
