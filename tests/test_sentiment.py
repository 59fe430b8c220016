import json

import pytest
import torch

from hw3cli.models.sentiment import GRUClassifier, MLPClassifier
from hw3cli.train.sentiment import SentimentSettings, batches, evaluate, predict_probabilities, train_sentiment
from tests.conftest import DECISIVE, assert_usage_error, interrupt_after_epoch, snapshot, write_assignment


def synthetic_split(n: int, seed: int, max_len: int = 12, vocab: int = 30) -> dict[str, torch.Tensor]:
    """Random words 4..29, left-padded; the review is positive iff token 2 occurs, negative iff token 3 does."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, max_len + 1, (n,), generator=g)
    labels = torch.randint(0, 2, (n,), generator=g)
    ids = torch.zeros(n, max_len, dtype=torch.int32)
    for i in range(n):
        words = torch.randint(4, vocab, (int(lengths[i]),), generator=g)
        words[torch.randint(0, int(lengths[i]), (1,), generator=g)] = 2 if labels[i] else 3
        ids[i, max_len - int(lengths[i]):] = words
    return {"ids": ids, "labels": labels.to(torch.uint8), "lengths": lengths.to(torch.int32)}


@pytest.mark.parametrize("model", [GRUClassifier(30, 8, 8), GRUClassifier(30, 8, 8, layers=2),
                                   MLPClassifier(30, 12, "ids", hidden=8), MLPClassifier(30, 12, "embedding", 4, 8)])
def test_shapes_and_gradients(model):
    ids = synthetic_split(5, 0)["ids"].long()
    logits = model(ids)
    assert logits.shape == (5,)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert ((torch.sigmoid(model(ids)) > 0) & (torch.sigmoid(model(ids)) < 1)).all()


def test_padding_embedding_stays_zero():
    model = GRUClassifier(30, 8, 8)
    assert model.embedding.weight[0].abs().sum() == 0


def test_bucketed_batches_cover_every_review_once_and_trim_only_padding():
    split = synthetic_split(50, 1)
    seen = []
    for index, ids, _ in batches(split["ids"], split["labels"], split["lengths"], 8, torch.Generator().manual_seed(0),
                                 bucket=True):
        seen += index.tolist()
        full = split["ids"][index]
        cut = full.shape[1] - ids.shape[1]
        assert (full[:, :cut] == 0).all() and torch.equal(full[:, cut:], ids)
    assert sorted(seen) == list(range(50))


@pytest.mark.parametrize("kind", ["gru", "mlp"])
def test_loop_learns_a_token_that_decides_the_label(kind):
    torch.manual_seed(0)
    splits = {"train": synthetic_split(600, 1), "dev": synthetic_split(200, 2), "test": synthetic_split(200, 3)}
    model = GRUClassifier(30, 16, 16, dropout=0.0) if kind == "gru" else MLPClassifier(30, 12, "embedding", 8, 16, 0.0)
    settings = SentimentSettings(epochs=15, batch_size=32, lr=1e-2, weight_decay=0.0, clip=1.0, patience=15,
                                 bucket=True, precision="fp32")
    records = list(train_sentiment(model, splits, settings, torch.Generator().manual_seed(0), torch.device("cpu")))
    epochs = [r for r in records if r["event"] == "epoch"]
    best = max(e["dev_accuracy"] for e in epochs)
    assert best >= 0.97
    model.load_state_dict([e for e in epochs if e["improved"]][-1]["state"])
    assert evaluate(model, splits["test"], torch.device("cpu"))["accuracy"] >= 0.95


def test_predict_probabilities_keep_the_input_order():
    split = synthetic_split(40, 4)
    model = GRUClassifier(30, 8, 8)
    batched = predict_probabilities(model, split["ids"], split["lengths"], torch.device("cpu"), batch_size=7)
    one_by_one = torch.cat([predict_probabilities(model, split["ids"][i:i + 1], split["lengths"][i:i + 1],
                                                  torch.device("cpu"), batch_size=1) for i in range(40)])
    # Bucketing puts reviews of similar length together; each review sees at most a few padding steps.
    assert batched.shape == (40,) and (batched - one_by_one).abs().max() < 0.05


@pytest.fixture
def imdb_data(cli, tmp_path):
    src = write_assignment(tmp_path / "src", reviews=DECISIVE)
    assert cli("preprocess", "--data", src, "--out", tmp_path / "data", "--max-len", "10").code == 0
    return tmp_path / "data"


def test_train_gru_predict_and_round_trip(cli, tmp_path, imdb_data):
    run = tmp_path / "gru"
    r = cli("train-gru", "--data", imdb_data, "--out", run, "--epochs", "12", "--batch-size", "8", "--lr", "0.02",
            "--embed-dim", "8", "--hidden", "8", "--patience", "12", "--dropout", "0")
    assert r.code == 0, r.err
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "curves.png", "metrics.json", "model.safetensors",
                                                      "timings.json", "vocab.json"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] == 1.0 and len(metrics["epochs"]) == 12
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("What a superb film!\nDreadful.\n")
    first = cli("predict", "--model", run, reviews)
    assert first.code == 0, first.err
    lines = [line.split("\t") for line in first.out.splitlines()]
    assert [label for _, label in lines] == ["positive", "negative"]
    assert float(lines[0][0]) > 0.5 > float(lines[1][0])
    assert cli("predict", "--model", run, reviews).out == first.out  # the checkpoint rebuilds the same model


def test_train_mlp_both_inputs(cli, tmp_path, imdb_data):
    for mode in ("ids", "embedding"):
        r = cli("train-mlp", "--data", imdb_data, "--input", mode, "--out", tmp_path / mode, "--epochs", "2",
                "--hidden", "4")
        assert r.code == 0, r.err
        assert json.loads((tmp_path / mode / "config.json").read_text())["config"]["input"] == mode
    r = cli("compare-imdb", tmp_path / "ids", tmp_path / "embedding", "--out", tmp_path / "cmp.md")
    assert r.code == 0 and "MLP (ids input)" in (tmp_path / "cmp.md").read_text()


def test_bad_inputs(cli, tmp_path, imdb_data):
    run = tmp_path / "gru"
    assert cli("train-gru", "--data", imdb_data, "--out", run, "--epochs", "1", "--hidden", "4").code == 0
    before = snapshot(run)
    assert_usage_error(cli("train-gru", "--data", tmp_path, "--out", run, "--overwrite"), "not preprocess output")
    assert_usage_error(cli("train-gru", "--data", imdb_data, "--out", run), "--overwrite")
    assert_usage_error(cli("train-gru", "--data", imdb_data, "--out", run, "--epochs", "0"), "--epochs")
    assert_usage_error(cli("train-gru", "--data", imdb_data, "--out", run, "--batch-size", "0"), "--batch-size")
    assert_usage_error(cli("train-mlp", "--data", imdb_data, "--out", run), "holds a train-gru run")
    assert_usage_error(cli("train-mlp", "--data", imdb_data, "--input", "chars"), "--input")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_usage_error(cli("predict", "--model", run, empty), "no reviews")
    assert_usage_error(cli("predict", "--model", tmp_path, empty), "not a train-gru or train-mlp run")
    assert_usage_error(cli("predict", "--model", run, tmp_path / "missing.txt"), "not found")
    assert snapshot(run) == before
    vocab = json.loads((run / "vocab.json").read_text())
    vocab["words"][2][0] = "changed"
    (run / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "one.txt").write_text("superb\n")
    assert_usage_error(cli("predict", "--model", run, tmp_path / "one.txt"), "not the vocabulary")


def test_a_nan_loss_stops_training_naming_the_step():
    from hw3cli.errors import TrainingDiverged

    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids):
            return self.w * float("nan") + ids[:, -1].float()

    splits = {"train": synthetic_split(40, 1), "dev": synthetic_split(10, 2)}
    with pytest.raises(TrainingDiverged, match="epoch 1, step 1"):
        list(train_sentiment(Broken(), splits, SentimentSettings(1, 8, 2e-3, 0.0, 1.0, 2, True, "fp32"),
                             torch.Generator(), torch.device("cpu")))
    assert TrainingDiverged.exit_code == 3


def test_interrupted_training_resumes_to_the_same_model(cli, tmp_path, imdb_data, monkeypatch):
    import signal

    from safetensors.torch import load_file

    import hw3cli.experiments.train_sentiment as sentiment_experiment

    args = ("train-gru", "--data", imdb_data, "--epochs", "4", "--patience", "4", "--embed-dim", "8", "--hidden", "8",
            "--batch-size", "8")
    assert cli(*args, "--out", tmp_path / "straight").code == 0
    original = sentiment_experiment.train_sentiment

    monkeypatch.setattr(sentiment_experiment, "train_sentiment", interrupt_after_epoch(original, 2, signal.SIGTERM))
    r = cli(*args, "--out", tmp_path / "resumed")
    assert r.code == 143 and "--resume" in r.err and "the 2 finished epochs are saved" in r.err
    monkeypatch.setattr(sentiment_experiment, "train_sentiment", original)
    assert cli(*args, "--out", tmp_path / "resumed", "--resume").code == 0

    assert (tmp_path / "resumed" / "metrics.json").read_bytes() == (tmp_path / "straight" / "metrics.json").read_bytes()
    a, b = load_file(tmp_path / "resumed" / "model.safetensors"), load_file(tmp_path / "straight" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "resumed.partial").exists()
