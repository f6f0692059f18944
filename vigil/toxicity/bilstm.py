"""The BiLSTM toxicity classifier: subword embeddings → stacked (bi)LSTM → projection → heads.

Texts become per-token bags of embedding rows (``SubwordVocabulary``); an ``EmbeddingBag``
averages each bag, so misspelled and unseen words get vectors from their character n-grams.
Padding is masked exactly: the forward direction reads pads only after a text's last token, the
backward direction reads each text reversed in place (its tokens first, pads after), and pooling
(max and mean over time) ignores pad steps. (Packed sequences would do the same, but their
backward pass on CPU costs O(steps x batch) zero-fills: 5x slower here.)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vigil.toxicity.embeddings import SubwordVocabulary, tokenize
from vigil.toxicity.labels import LossMode
from vigil.toxicity.losses import probabilities
from vigil.toxicity.normalize import NONE, TextNormalizer, normalize_texts

CONFIG_FILE = "bilstm_config.json"
WEIGHTS_FILE = "bilstm.pt"
VOCAB_FILE = "vocab.json"
EMPTY_TOKEN = "<empty>"


@dataclass
class BiLSTMConfig:
    labels: list[str]
    embed_size: int = 300
    lstm_hidden_size: int = 200
    lstm_num_layers: int = 2
    proj_size: int = 100
    total_length: int = 128
    dropout: float = 0.2
    bidirectional: bool = True
    normalizer: str = NONE  # vigil.toxicity.normalize, applied before tokenizing
    loss_mode: str = LossMode.MULTI_LABEL.value
    thresholds: list[float] = field(default_factory=list)
    subwords: dict = field(default_factory=dict)  # SubwordVocabulary.to_json()

    @property
    def num_targets(self) -> int:
        return len(self.labels)


@dataclass
class EncodedBatch:
    rows: torch.Tensor  # flat embedding-row ids of every token bag
    offsets: torch.Tensor  # start of each token's bag in ``rows``
    lengths: torch.Tensor  # tokens per text (>= 1)


def encode(
    texts: list[str],
    vocab: SubwordVocabulary,
    total_length: int,
    normalizer: str | TextNormalizer = NONE,
) -> EncodedBatch:
    rows: list[int] = []
    offsets: list[int] = []
    lengths: list[int] = []
    for text in normalize_texts(texts, normalizer):
        tokens = tokenize(text)[:total_length] or [EMPTY_TOKEN]
        lengths.append(len(tokens))
        for token in tokens:
            offsets.append(len(rows))
            rows.extend(vocab.token_rows(token))
    return EncodedBatch(
        rows=torch.tensor(rows, dtype=torch.long),
        offsets=torch.tensor(offsets, dtype=torch.long),
        lengths=torch.tensor(lengths, dtype=torch.long),
    )


class BiLSTMClassifier(nn.Module):
    def __init__(self, config: BiLSTMConfig, rows: int, *, freeze_embeddings: bool = True):
        super().__init__()
        self.config = config
        # the rules named by config.normalizer, plus the lexicon saved beside the model
        self.text_normalizer = TextNormalizer(config.normalizer)
        self.embedding = nn.EmbeddingBag(rows, config.embed_size, mode="mean")
        self.embedding.weight.requires_grad = not freeze_embeddings
        directions = 2 if config.bidirectional else 1
        self.layers = nn.ModuleList()
        for layer in range(config.lstm_num_layers):
            size = config.embed_size if layer == 0 else directions * config.lstm_hidden_size
            self.layers.append(
                nn.ModuleList(
                    nn.LSTM(size, config.lstm_hidden_size, batch_first=True)
                    for _ in range(directions)
                )
            )
        self.dropout = nn.Dropout(config.dropout)
        self.projection = nn.Sequential(
            nn.Linear(2 * directions * config.lstm_hidden_size, config.proj_size),
            nn.ReLU(),
            nn.Dropout(config.dropout),
        )
        self.heads = nn.Linear(config.proj_size, config.num_targets)

    def load_embeddings(self, table: np.ndarray) -> None:
        with torch.no_grad():
            self.embedding.weight.copy_(torch.from_numpy(table))

    def forward(self, batch: EncodedBatch) -> torch.Tensor:
        token_vectors = self.embedding(batch.rows, batch.offsets)  # [tokens, E]
        lengths = batch.lengths
        b, t = len(lengths), int(lengths.max())
        mask = torch.arange(t)[None, :] < lengths[:, None]  # [B, T]
        padded = token_vectors.new_zeros(b, t, token_vectors.shape[-1])
        padded[mask] = token_vectors
        # reversed[b, i] = i-th token of text b counted from its end; pads stay at the end
        steps = torch.arange(t)[None, :].expand(b, t)
        reverse = torch.where(mask, lengths[:, None] - 1 - steps, steps)
        out = padded
        for index, directions in enumerate(self.layers):
            if index:
                out = self.dropout(out)
            forward_out, _ = directions[0](out)
            outputs = [forward_out]
            if len(directions) > 1:
                flipped = out.gather(1, reverse[..., None].expand_as(out))
                backward_out, _ = directions[1](flipped)
                outputs.append(backward_out.gather(1, reverse[..., None].expand_as(backward_out)))
            out = torch.cat(outputs, dim=-1)  # [B, T, directions * H]
        m = mask.unsqueeze(-1)
        max_pool = out.masked_fill(~m, float("-inf")).max(dim=1).values
        mean_pool = (out * m).sum(dim=1) / lengths[:, None].to(out.dtype)
        return self.heads(self.projection(torch.cat([max_pool, mean_pool], dim=-1)))


def save_model(model: BiLSTMClassifier, vocab: SubwordVocabulary, folder: str | Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.subwords = vocab.to_json()
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(model.config), indent=2))
    (folder / VOCAB_FILE).write_text(json.dumps(vocab.words))
    if model.text_normalizer.lexicon is not None:
        model.text_normalizer.lexicon.save(folder)
    torch.save(model.state_dict(), folder / WEIGHTS_FILE)


def load_model(folder: str | Path) -> tuple[BiLSTMClassifier, SubwordVocabulary]:
    folder = Path(folder)
    config = BiLSTMConfig(**json.loads((folder / CONFIG_FILE).read_text()))
    vocab = SubwordVocabulary(json.loads((folder / VOCAB_FILE).read_text()), **config.subwords)
    model = BiLSTMClassifier(config, vocab.rows)
    model.text_normalizer = TextNormalizer.of_model(folder, config.normalizer)
    # Weights only: a state dict needs no pickled code, so a tampered file cannot run any.
    model.load_state_dict(torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    model.eval()
    return model, vocab


@torch.no_grad()
def predict_logits(
    model: BiLSTMClassifier, vocab: SubwordVocabulary, texts: list[str], batch_size: int = 256
) -> torch.Tensor:
    model.eval()
    config = model.config
    out = [
        model(
            encode(
                texts[start : start + batch_size],
                vocab,
                config.total_length,
                model.text_normalizer,
            )
        )
        for start in range(0, len(texts), batch_size)
    ]
    return torch.cat(out) if out else torch.zeros((0, model.config.num_targets))


def predict(
    model: BiLSTMClassifier, vocab: SubwordVocabulary, texts: list[str], batch_size: int = 256
) -> np.ndarray:
    """Probabilities ``[len(texts), labels]``."""
    logits = predict_logits(model, vocab, texts, batch_size)
    return probabilities(logits, model.config.loss_mode).numpy()
