import json

import pytest
import torch
from safetensors.torch import load_file

from hw3cli.experiments.cgan_sample import parse_classes
from hw3cli.models.gan import Discriminator, Generator
from tests.conftest import assert_usage_error, run_ok, synthetic_fashion, write_idx


def test_conditional_shapes_and_one_hot():
    g, d = Generator(5, (8, 8, 8), classes=10), Discriminator((8, 8, 8), classes=10)
    assert g.net[0].in_features == 15 and d.net[0].in_features == 794
    labels = torch.tensor([0, 3, 9])
    x = g(torch.randn(3, 5), labels)
    assert x.shape == (3, 784) and d(x, labels).shape == (3,)
    with pytest.raises(ValueError):
        g(torch.randn(3, 5))
    # the one-hot part: the first layer sees exactly one extra input set, at the label's position
    seen = []
    g.net[0].register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    g(torch.zeros(3, 5), labels)
    assert seen[0][:, 5:].tolist() == [[1.0 if j == c else 0.0 for j in range(10)] for c in (0, 3, 9)]


def test_parse_classes():
    assert parse_classes("0,7,9") == (0, 7, 9)
    assert parse_classes("Sneaker, ankle boot,T-shirt/top") == (7, 9, 0)
    for bad, word in (("10", "outside"), ("-1", "outside"), ("hat", "unknown class"), ("", "empty")):
        with pytest.raises(Exception, match=word):
            parse_classes(bad)


@pytest.fixture(scope="module")
def cgan(tmp_path_factory):
    root = tmp_path_factory.mktemp("cgan")
    data = synthetic_fashion(root / "data", n_train=1500, n_test=200)
    run_ok("train-gan", "--conditional", "--data", data, "--out", root / "run", "--epochs", "2", "--batch-size",
           "32", "--g-hidden", "32,64,128", "--d-hidden", "128,64,32", "--lr", "1e-3", "--samples", "20")
    return root, data


def test_conditional_run_writes_class_rows(cgan):
    root, _ = cgan
    grid = load_file(root / "run" / "samples.safetensors")["epoch_002"]
    assert grid.shape == (20, 28, 28)  # 2 per class, one row per class
    assert json.loads((root / "run" / "config.json").read_text())["config"]["conditional"] is True


def test_cgan_sample_end_to_end(cli, cgan, tmp_path):
    root, _ = cgan
    r = cli("cgan-sample", "--generator", root / "run", "--samples", "4", "--classes", "0,sneaker,9",
            "--out", tmp_path / "grid.png", "--tensor", tmp_path / "s.safetensors")
    assert r.code == 0, r.err
    saved = load_file(tmp_path / "s.safetensors")
    assert saved["images"].shape == (12, 28, 28) and saved["labels"].tolist() == [0] * 4 + [7] * 4 + [9] * 4
    assert (tmp_path / "grid.png").stat().st_size > 5_000


def test_cgan_bad_input(cli, cgan, tmp_path):
    root, data = cgan
    assert_usage_error(cli("cgan-sample", "--generator", root / "run", "--classes", "11"), "outside")
    assert_usage_error(cli("cgan-sample", "--generator", root / "run", "--classes", "hat"), "unknown class")
    assert_usage_error(cli("cgan-sample", "--generator", root / "run", "--samples", "0"), "--samples")
    plain = tmp_path / "plain"
    assert cli("train-gan", "--data", data, "--out", plain, "--epochs", "1", "--g-hidden", "8,8,8",
               "--d-hidden", "8,8,8").code == 0
    assert_usage_error(cli("cgan-sample", "--generator", plain), "unconditional")
    assert json.loads((root / "run" / "config.json").read_text())["config"]["conditional"] is True


def ring_of_blobs(folder, n_train: int = 2000, n_test: int = 200, seed: int = 0) -> torch.Tensor:
    """Ten classes, each a soft bright blob at its own place on a ring, jittered by up to 2 pixels, on a grey
    background. Writes the IDX files; returns the mean image of each class in [0, 1] (the class's pattern).

    Neighbouring blobs overlap, so a discriminator's judgement changes smoothly from one class's place to the
    next and its gradient can lead the generator there; with a black background the 784 pixels of -1 drown the
    10 label inputs, and conditioning takes thousands of steps instead of about two thousand."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:28, 0:28]
    patterns = None
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        angle = 2 * np.pi * labels / 10
        cy = 14 + 8 * np.sin(angle) + rng.uniform(-2, 2, n)
        cx = 14 + 8 * np.cos(angle) + rng.uniform(-2, 2, n)
        blob = np.exp(-((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2) / (2 * 3.0**2))
        images = np.round(128 + 127 * blob).astype(np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, gz=False)
        if split == "train":
            patterns = torch.stack([torch.from_numpy(images[labels == c] / 255).float().mean(0) for c in range(10)])
    return patterns


def test_a_short_conditional_run_draws_each_class_as_its_own_pattern(cli, tmp_path):
    """3,700 steps of tiny models, with the matching-aware D (--mismatch) that `make cgan` uses. With the one-hot
    labels alone a GAN is a gamble per seed, and per CPU (fp32 rounds differently with AVX2 and AVX-512 kernels):
    seed 0 conditioned every class on an AVX2 Zen 3 and left one class at 0% on an AVX-512 Xeon, where seeds 1-5
    passed. With --mismatch seeds 0-3 drew every class right there (the smallest share 100%). So no test trains the
    one-hot labels alone to this end; the tests above check how they enter G and D."""
    patterns = ring_of_blobs(tmp_path / "data")
    run = tmp_path / "run"
    r = cli("train-gan", "--conditional", "--data", tmp_path / "data", "--out", run, "--epochs", "60",
            "--batch-size", "32", "--lr", "1e-3", "--noise-dim", "8", "--g-hidden", "64,128,256",
            "--d-hidden", "256,128,64", "--samples", "20", "--seed", "0", "--precision", "fp32", "--mismatch")
    assert r.code == 0, r.err
    assert cli("cgan-sample", "--generator", run, "--samples", "20", "--out", tmp_path / "grid.png",
               "--tensor", tmp_path / "samples.safetensors").code == 0
    drawn = load_file(tmp_path / "samples.safetensors")
    images, asked = drawn["images"], drawn["labels"]
    nearest = ((images[:, None] - patterns[None]) ** 2).flatten(2).mean(2).argmin(1)
    per_class = [(nearest[asked == c] == c).float().mean().item() for c in range(10)]
    assert min(per_class) >= 0.8 and sum(per_class) / 10 >= 0.9, per_class
