"""Problem 1's two classifiers over left-padded index sequences. Both return logits; `probability` applies the
sigmoid (the loss works on logits for numerical stability)."""

from __future__ import annotations

import torch
from torch import nn

from hw3cli.data.vocab import PAD


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
        self.head = nn.Linear(hidden, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.gru(self.dropout(self.embedding(ids)))
        return self.head(self.dropout(outputs[:, -1])).squeeze(-1)  # left padding: the last step is the last word

    def probability(self, ids: torch.Tensor) -> torch.Tensor:
        return self.sigmoid(self.forward(ids))


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
        self.hidden = nn.Linear(features, hidden)
        self.head = nn.Linear(hidden, 1)
        self.sigmoid = nn.Sigmoid()

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        if self.embedding is None:
            return ids.float() / self.args["vocab_size"]
        return self.dropout(self.embedding(ids).flatten(1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] != self.args["max_len"]:  # trimmed batches: restore the fixed length (left padding)
            ids = nn.functional.pad(ids, (self.args["max_len"] - ids.shape[1], 0), value=PAD)
        hidden = torch.relu(self.hidden(self.features(ids)))
        return self.head(self.dropout(hidden)).squeeze(-1)

    def probability(self, ids: torch.Tensor) -> torch.Tensor:
        return self.sigmoid(self.forward(ids))


MODELS = {GRUClassifier.kind: GRUClassifier, MLPClassifier.kind: MLPClassifier}


def build_classifier(kind: str, args: dict) -> nn.Module:
    return MODELS[kind](**args)
