import json

import pytest
import torch

from hw3cli.data.binary import adder_inputs, bits_to_string
from hw3cli.experiments.rnn_add import CHECKPOINT_KIND
from hw3cli.models.adder import ThresholdAdder
from hw3cli.train.adder import SmoothAdder, train_smooth_adder, verify_exhaustive, verify_random
from tests.conftest import assert_usage_error


def add(a: str, b: str, adder=None) -> tuple[list[int], list[int], str]:
    x = adder_inputs(a, b)
    y, _ = (adder or ThresholdAdder.hand_set())(x.unsqueeze(0))
    return [int(v) for v in x[:, 0]] + [int(v) for v in x[:, 1]], [int(v) for v in y[0]], bits_to_string(y[0])


def test_worked_example_from_the_assignment():
    inputs, y, total = add("100111", "110010")
    assert inputs == [1, 1, 1, 0, 0, 1, 0] + [0, 1, 0, 0, 1, 1, 0]
    assert y == [1, 0, 0, 1, 1, 0, 1]
    assert total == "1011001"


@pytest.mark.parametrize("a,b", [("1" * 40, "1"), ("1" * 20, "1" * 20), ("1", "1111111111111"), ("0", "0"),
                                 ("101", "1100101011"), ("10000000000000000", "1")])
def test_long_carries_and_unequal_lengths(a, b):
    _, _, total = add(a, b)
    assert int(total, 2) == int(a, 2) + int(b, 2)


def test_hidden_units_are_sum_thresholds():
    x = adder_inputs("1101", "0111")
    _, h = ThresholdAdder.hand_set()(x.unsqueeze(0))
    carry = 0
    for t in range(x.shape[0]):
        s = int(x[t, 0]) + int(x[t, 1]) + carry
        assert h[0, t].tolist() == [float(s >= 1), float(s >= 2), float(s == 3)]
        carry = int(s >= 2)


def test_exhaustive_verification_passes_and_catches_a_broken_adder():
    good = verify_exhaustive(ThresholdAdder.hand_set(), 7)
    assert good.checked == 4**7 and good.mismatches == 0
    broken = ThresholdAdder.hand_set()
    broken.W.zero_()  # no carry: wrong whenever a carry occurs
    bad = verify_exhaustive(broken, 4)
    no_carry_pairs = sum(1 for a in range(16) for b in range(16) if a & b == 0)
    assert bad.mismatches == 256 - no_carry_pairs
    a, b, said = bad.examples[0]
    assert said != a + b


def test_random_wide_pairs():
    assert verify_random(ThresholdAdder.hand_set(), 200, 256, seed=1).mismatches == 0


def test_smooth_training_lowers_the_loss_and_hardens_to_thresholds():
    g = torch.Generator().manual_seed(0)
    model = SmoothAdder(g)
    losses = [r["loss"] for r in train_smooth_adder(model, g, steps=150, batch=64, width=6)]
    assert sum(losses[-10:]) < 0.7 * sum(losses[:10])
    hard = model.harden()
    y, h = hard(torch.zeros(2, 3, 2))
    assert set(h.unique().tolist()) <= {0.0, 1.0} and set(y.unique().tolist()) <= {0.0, 1.0}


def test_cli_add_table_and_sum(cli):
    r = cli("rnn-add", "100111", "110010")
    assert r.code == 0
    assert "1011001" in r.out and "39 + 50 = 89" in r.out


def test_cli_json_and_weights(cli, tmp_path):
    r = cli("rnn-add", "100111", "110010", "--json", "--save", tmp_path / "out" / "example.json")
    data = json.loads(r.out)
    assert data["sum"] == "1011001" and data["y"] == [1, 0, 0, 1, 1, 0, 1] and data["correct"]
    assert data["weights"]["b_h"] == [-0.5, -1.5, -2.5]
    assert json.loads((tmp_path / "out" / "example.json").read_text()) == data
    r = cli("rnn-add", "1", "1", "--show-weights")
    assert r.code == 0 and "b_y" in r.out and "h0" in r.out


def test_cli_verify(cli):
    r = cli("rnn-add", "--verify", "5", "--random-pairs", "50", "--json")
    report = json.loads(r.out)
    assert r.code == 0 and report["ok"] and report["exhaustive"]["checked"] == 4**5


@pytest.mark.parametrize("args,word", [
    (("102", "1"), "not binary"),
    (("", "1"), "empty"),
    (("-1", "1"), "-1"),
    (("--", "-1", "1"), "not binary"),
    (("+1", "1"), "not binary"),
    (("1",), "two binary numbers"),
    (("--verify", "0"), "at least 1"),
    (("--verify", "-3"), "at least 1"),
    (("--verify", "abc"), "--verify"),
    (("1", "1", "--verify", "3"), "exactly one"),
    (("--bogus",), "--bogus"),
])
def test_cli_bad_input(cli, args, word):
    assert_usage_error(cli("rnn-add", *args), word)


def test_learn_writes_a_checkpoint_that_rnn_add_can_use(cli, tmp_path):
    out = tmp_path / "learned"
    r = cli("rnn-add", "--learn", "--seeds", "2", "--steps", "60", "--out", out)
    assert r.code == 0, r.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["runs"]) == 2 and metrics["seeds"] == 2
    assert json.loads((out / "config.json").read_text())["config"]["steps"] == 60
    # The saved, hardened weights reproduce exactly the mismatch count measured when learning ended.
    r = cli("rnn-add", "--verify", "10", "--random-pairs", "0", "--weights", out / "learned.safetensors", "--json")
    report = json.loads(r.out)
    assert report["exhaustive"]["mismatches"] == metrics["best_mismatches"]
    assert r.code == (0 if metrics["best_mismatches"] == 0 else 1)


def test_weights_from_another_model_are_refused(cli, tmp_path):
    from hw3cli.core.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "other.safetensors", {"w": torch.zeros(2)}, "gru-classifier")
    assert_usage_error(cli("rnn-add", "1", "1", "--weights", path), "gru-classifier")
    save_checkpoint(tmp_path / "partial.safetensors", {"U": torch.zeros(3, 2)}, CHECKPOINT_KIND)
    assert_usage_error(cli("rnn-add", "1", "1", "--weights", tmp_path / "partial.safetensors"), "lacks")
