import json

import pytest
import torch
from safetensors.torch import load_file

from hw3cli.experiments.cgan_sample import parse_classes
from hw3cli.models.gan import Discriminator, Generator
from tests.conftest import assert_usage_error
from tests.test_gan import synthetic_fashion


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
    from hw3cli.cli import main

    root = tmp_path_factory.mktemp("cgan")
    data = synthetic_fashion(root / "data", n_train=1500, n_test=200)
    try:
        main(["train-gan", "--conditional", "--data-dir", str(data), "--out", str(root / "run"), "--epochs", "2",
              "--batch-size", "32", "--g-hidden", "32,64,128", "--d-hidden", "128,64,32", "--lr", "1e-3",
              "--samples", "20"])
    except SystemExit as exc:
        assert exc.code == 0
    return root, data


def test_conditional_run_writes_class_rows(cgan):
    root, _ = cgan
    grid = load_file(root / "run" / "samples.safetensors")["epoch_002"]
    assert grid.shape == (20, 28, 28)  # 2 per class, one row per class
    assert json.loads((root / "run" / "config.json").read_text())["config"]["conditional"] is True


def test_cgan_sample_end_to_end(cli, cgan, tmp_path):
    root, _ = cgan
    r = cli("cgan-sample", "--generator", root / "run", "--per-class", "4", "--classes", "0,sneaker,9",
            "--out", tmp_path / "grid.png", "--tensor", tmp_path / "s.safetensors")
    assert r.code == 0, r.err
    saved = load_file(tmp_path / "s.safetensors")
    assert saved["images"].shape == (12, 28, 28) and saved["labels"].tolist() == [0] * 4 + [7] * 4 + [9] * 4
    assert (tmp_path / "grid.png").stat().st_size > 5_000


def test_cgan_bad_input(cli, cgan, tmp_path):
    root, data = cgan
    assert_usage_error(cli("cgan-sample", "--generator", root / "run", "--classes", "11"), "outside")
    assert_usage_error(cli("cgan-sample", "--generator", root / "run", "--classes", "hat"), "unknown class")
    assert_usage_error(cli("cgan-sample", "--generator", root / "run", "--per-class", "0"), "--per-class")
    plain = tmp_path / "plain"
    assert cli("train-gan", "--data-dir", data, "--out", plain, "--epochs", "1", "--g-hidden", "8,8,8",
               "--d-hidden", "8,8,8").code == 0
    assert_usage_error(cli("cgan-sample", "--generator", plain), "unconditional")
    assert json.loads((root / "run" / "config.json").read_text())["config"]["conditional"] is True
