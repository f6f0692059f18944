"""A BiLSTM with a known decision for the console's browser tests, built from its config in
milliseconds instead of trained for minutes.

The tests' tiny trained BiLSTM scores every text about the same, and one that tells a toxic
message from a polite one takes minutes of CPU to train. This model is the real
``BiLSTMClassifier`` (saved, packaged and served like a trained one), with weights set so that its
decision is known: a text is flagged on every label when it has a word the vendored Jigsaw sample
uses almost only in toxic comments (``MIN_USES`` uses or more, at least ``MIN_TOXIC_SHARE`` of
them in comments labelled toxic), and on none otherwise. The word list is counted from the
sample, not written by hand.

How the weights carry that rule: one embedding dimension, 1 on the row of each such word and 0
elsewhere (every character n-gram shares one zero row); a one-unit forward LSTM whose cell fills
when that input is positive and holds it (forget gate open); max pooling over time keeps it; the
projection and the heads map "some word seen" to a logit far above 0 and "none" to one below.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import torch

from training.toxicity.bilstm.train import INFERENCE_ENTRY
from vigil.toxicity.bilstm import BiLSTMClassifier, BiLSTMConfig, save_model
from vigil.toxicity.embeddings import SubwordVocabulary, tokenize
from vigil.toxicity.labels import JIGSAW_LABELS, TOXICITY_LABEL, LossMode
from vigil.toxicity.training import add_serving_code

MIN_USES = 8
MIN_TOXIC_SHARE = 0.9


def toxic_words(sample: Path) -> list[str]:
    """Words of at least three letters that the sample's toxic comments almost alone use."""
    frame = pd.read_csv(sample)
    uses, toxic = Counter(), Counter()
    for text, label in zip(frame["comment_text"], frame[TOXICITY_LABEL], strict=True):
        words = {w for w in tokenize(str(text)) if len(w) >= 3 and w.isalpha()}
        uses.update(words)
        if label >= 0.5:
            toxic.update(words)
    return sorted(w for w, n in uses.items() if n >= MIN_USES and toxic[w] / n >= MIN_TOXIC_SHARE)


def build(sample: Path, folder: Path) -> list[str]:
    """Save the model and its serving code in ``folder``, as training does (what ``load_model``
    and the serving stack read); returns its toxic words."""
    words = toxic_words(sample)
    config = BiLSTMConfig(
        labels=list(JIGSAW_LABELS),
        embed_size=1,
        lstm_hidden_size=1,
        lstm_num_layers=1,
        proj_size=1,
        total_length=128,
        dropout=0.0,
        bidirectional=False,
        loss_mode=LossMode.MULTI_LABEL.value,
        thresholds=[0.5] * len(JIGSAW_LABELS),
    )
    # one shared n-gram row: a known word's vector is its row over (1 + its n-grams)
    vocab = SubwordVocabulary(words, min_n=3, max_n=3, bucket=1)
    model = BiLSTMClassifier(config, vocab.rows)
    table = torch.zeros(vocab.rows, 1)
    table[: len(words), 0] = 1.0
    lstm = model.layers[0][0]
    with torch.no_grad():
        model.embedding.weight.copy_(table)
        for parameter in lstm.parameters():
            parameter.zero_()
        # gates in PyTorch's order: input, forget, cell, output. A word's input is at least
        # 1 / (1 + its n-grams) (about 0.05 for a 20-letter word): 60x it opens the input gate
        # and saturates the cell candidate; the forget and output gates stay open.
        lstm.weight_ih_l0[:, 0] = torch.tensor([60.0, 0.0, 60.0, 0.0])
        lstm.bias_ih_l0[:] = torch.tensor([-3.0, 10.0, 0.0, 10.0])
        linear = model.projection[0]
        linear.weight.zero_()
        linear.weight[0, 0] = 10.0  # the max-pooled state: about 7.6 with a word, else 0
        linear.bias.zero_()
        model.heads.weight.fill_(2.0)
        model.heads.bias.fill_(-4.0)  # no word: sigmoid(-4) = 0.02 on every label
    save_model(model, vocab, folder)
    add_serving_code(folder, "bilstm", INFERENCE_ENTRY)  # what training writes beside the model
    return words
