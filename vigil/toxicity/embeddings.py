"""Subword (fastText) embeddings: train on the corpus with gensim (the equivalent of SageMaker
BlazingText in subword mode) or load a fastText ``.bin``; vectors for out-of-vocabulary and
misspelled words come from character n-grams.

gensim's default ``bucket`` (2,000,000 n-gram rows) writes files of hundreds of MB; Vigil uses
``DEFAULT_BUCKET`` rows, enough for a corpus of this size, which keeps the model a few MB.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

DEFAULT_BUCKET = 20_000
_EDGE_PUNCT = "\"'.,;:!?()[]{}<>«»“”‘’`~_-=|/\\"
_TOKEN = re.compile(r"\S+")


def tokenize(text: str) -> list[str]:
    """Lowercased whitespace tokens with edge punctuation stripped; ``sh!t`` and ``1d10t`` stay
    whole so their character n-grams can match the words they disguise."""
    tokens = []
    for raw in _TOKEN.findall(text.lower()):
        token = raw.strip(_EDGE_PUNCT)
        if token:
            tokens.append(token)
    return tokens


def train_fasttext(
    texts: Iterable[str],
    *,
    vector_size: int = 300,
    epochs: int = 5,
    min_count: int = 2,
    min_n: int = 3,
    max_n: int = 5,
    window: int = 5,
    bucket: int = DEFAULT_BUCKET,
    seed: int = 0,
    workers: int = 2,
):
    """A gensim ``FastText`` model trained (skip-gram) on the tokenized texts."""
    from gensim.models import FastText

    sentences = [tokenize(t) for t in texts]
    sentences = [s for s in sentences if s]
    model = FastText(
        vector_size=vector_size,
        window=window,
        min_count=min_count,
        min_n=min_n,
        max_n=max_n,
        bucket=bucket,
        sg=1,
        seed=seed,
        workers=workers,
    )
    model.build_vocab(corpus_iterable=sentences)
    model.train(corpus_iterable=sentences, total_examples=len(sentences), epochs=epochs)
    return model


def load_fasttext(path: str | Path):
    """A fastText model from a Facebook ``.bin`` or a gensim ``save()`` file."""
    from gensim.models import FastText
    from gensim.models.fasttext import load_facebook_model

    path = str(path)
    return load_facebook_model(path) if path.endswith(".bin") else FastText.load(path)


def save_fasttext_bin(model, path: str | Path) -> Path:
    from gensim.models.fasttext import save_facebook_model

    save_facebook_model(model, str(path))
    return Path(path)


class SubwordVocabulary:
    """Maps a token to the rows of a ``[vocab + bucket, dim]`` table whose mean is its fastText
    vector: its own row (in-vocabulary words) plus one row per hashed character n-gram — exactly
    how gensim composes ``wv[word]`` for known and unknown words alike."""

    def __init__(self, words: list[str], *, min_n: int, max_n: int, bucket: int):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.min_n, self.max_n, self.bucket = min_n, max_n, bucket
        self._cache: dict[str, list[int]] = {}

    @property
    def rows(self) -> int:
        return len(self.words) + self.bucket

    def token_rows(self, token: str) -> list[int]:
        rows = self._cache.get(token)
        if rows is None:
            from gensim.models.fasttext import ft_ngram_hashes

            offset = len(self.words)
            rows = [offset + h for h in ft_ngram_hashes(token, self.min_n, self.max_n, self.bucket)]
            if token in self.index:
                rows = [self.index[token], *rows]
            if not rows:  # a one-character OOV token shorter than min_n: use its bucket anyway
                rows = [offset + (sum(token.encode()) % self.bucket)]
            if len(self._cache) < 200_000:
                self._cache[token] = rows
        return rows

    def to_json(self) -> dict:
        return {"min_n": self.min_n, "max_n": self.max_n, "bucket": self.bucket}

    @classmethod
    def from_fasttext(cls, model) -> tuple[SubwordVocabulary, np.ndarray]:
        """The vocabulary and its ``[vocab + bucket, dim]`` table from a gensim model."""
        wv = model.wv
        vocab = cls(list(wv.index_to_key), min_n=wv.min_n, max_n=wv.max_n, bucket=wv.bucket)
        table = np.concatenate([wv.vectors_vocab, wv.vectors_ngrams]).astype(np.float32)
        return vocab, table
