"""Problem 1's two classifiers over left-padded index sequences. Both return logits: the assignment's final sigmoid
is applied by the loss (binary cross-entropy on logits, numerically stable) and by prediction."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from hw3cli.core.checkpoint import load_model
from hw3cli.core.files import where
from hw3cli.core.matmul import Dense
from hw3cli.data.vocab import PAD, Vocabulary
from hw3cli.errors import Hw3Error


class GRUClassifier(nn.Module):
    """Embedding -> GRU(batch_first) -> Linear -> Sigmoid, read off the GRU's output at the final step."""

    kind = "gru-classifier"

    def __init__(self, vocab_size: int, embed_dim: int = 128, hidden: int = 128, layers: int = 1,
                 dropout: float = 0.3):
        super().__init__()
        self.args = {"vocab_size": vocab_size, "embed_dim": embed_dim, "hidden": hidden, "layers": layers,
                     "dropout": dropout}
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(embed_dim, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.head = Dense(hidden, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.gru(self.dropout(self.embedding(ids)))
        return self.head(self.dropout(outputs[:, -1])).squeeze(-1)  # left padding: the last step is the last word


class MLPClassifier(nn.Module):
    """Two layers (Linear -> ReLU -> Linear) on the same fixed-length input, read in one of two ways:

    - `ids`: the max_len raw indices themselves are the features (scaled by 1/vocab_size), the assignment's
      literal reading. An index carries no meaning as a number, so this is a weak baseline by design.
    - `embedding`: each index through an embedding layer, the max_len embeddings concatenated.
    """

    kind = "mlp-classifier"

    def __init__(self, vocab_size: int, max_len: int = 400, input: str = "embedding", embed_dim: int = 16,
                 hidden: int = 64, dropout: float = 0.5):
        super().__init__()
        if input not in ("ids", "embedding"):
            raise ValueError(f"input must be 'ids' or 'embedding', not {input!r}")
        self.args = {"vocab_size": vocab_size, "max_len": max_len, "input": input, "embed_dim": embed_dim,
                     "hidden": hidden, "dropout": dropout}
        self.input = input
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD) if input == "embedding" else None
        features = max_len * embed_dim if input == "embedding" else max_len
        self.dropout = nn.Dropout(dropout)
        self.hidden = Dense(features, hidden)
        self.head = Dense(hidden, 1)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        if self.embedding is None:
            return ids.float() / self.args["vocab_size"]
        return self.dropout(self.embedding(ids).flatten(1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] != self.args["max_len"]:  # trimmed batches: restore the fixed length (left padding)
            ids = nn.functional.pad(ids, (self.args["max_len"] - ids.shape[1], 0), value=PAD)
        hidden = torch.relu(self.hidden(self.features(ids)))
        return self.head(self.dropout(hidden)).squeeze(-1)


MODELS = {GRUClassifier.kind: GRUClassifier, MLPClassifier.kind: MLPClassifier}


def build_classifier(kind: str, args: dict) -> nn.Module:
    return MODELS[kind](**args)


def load_sentiment_run(model_dir: Path) -> tuple[nn.Module, Vocabulary, dict]:
    """A train-gru or train-mlp run folder back to (model, vocabulary, checkpoint metadata); refuses a vocabulary
    the model was not trained with."""
    model_dir = Path(model_dir)
    if not os.path.lexists(model_dir / "model.safetensors"):
        raise Hw3Error(f"{where(model_dir)} is not a train-gru or train-mlp run (no model.safetensors)")
    model, meta = load_model(model_dir / "model.safetensors", tuple(MODELS), build_classifier,
                             "train-gru or train-mlp model")
    vocab = Vocabulary.load(model_dir / "vocab.json")
    if vocab.sha256() != meta.get("vocab_sha256"):
        raise Hw3Error(f"{model_dir}/vocab.json is not the vocabulary this model was trained with")
    if model.args["vocab_size"] != len(vocab):
        raise Hw3Error(f"{model_dir}: the model expects {model.args['vocab_size']} words, the vocabulary has "
                       f"{len(vocab)}")
    try:  # written by train-gru/train-mlp as strings
        meta["max_len"], meta["bucket"] = int(meta["max_len"]), {"True": True, "False": False}[meta["bucket"]]
        if not 1 <= meta["max_len"] <= 100_000 or meta["truncate"] not in ("head", "tail"):
            raise ValueError
    except (KeyError, ValueError):
        raise Hw3Error(f"{model_dir}/model.safetensors: its metadata lacks a valid max_len, truncate or "
                       "bucket") from None
    return model, vocab, meta
