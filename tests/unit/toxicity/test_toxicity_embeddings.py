"""Subword embeddings: the torch table reproduces gensim's vectors for known and unknown words,
misspellings land near their words, obfuscation is deterministic, and files stay small."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vigil.toxicity.embeddings import (
    SubwordVocabulary,
    load_fasttext,
    save_fasttext_bin,
    tokenize,
    train_fasttext,
)
from vigil.toxicity.obfuscate import obfuscate

CORPUS = [
    "you are a stupid idiot and a loser",
    "what an idiot, stupid stupid edit",
    "thanks for the helpful edit on the article",
    "the article needs more sources and citations",
    "please stop vandalising the article you idiot",
    "great work on the citations, thanks",
] * 20


@pytest.fixture(scope="module")
def fasttext():
    return train_fasttext(CORPUS, vector_size=16, epochs=10, bucket=2000, workers=1)


def _bag(vocab, table, word):
    emb = torch.nn.EmbeddingBag(vocab.rows, table.shape[1], mode="mean")
    emb.weight.data = torch.from_numpy(table)
    return emb(torch.tensor(vocab.token_rows(word)), torch.tensor([0]))[0].detach().numpy()


@pytest.mark.parametrize("word", ["idiot", "article", "1d10t", "stuupid", "zzzq"])
def test_table_reproduces_gensim_vectors(fasttext, word):
    vocab, table = SubwordVocabulary.from_fasttext(fasttext)
    assert table.shape == (len(vocab.words) + 2000, 16)
    np.testing.assert_allclose(_bag(vocab, table, word), fasttext.wv[word], atol=1e-5)


def test_misspelling_is_closer_to_its_word_than_to_another(fasttext):
    wv = fasttext.wv
    assert "stuupid" not in wv.key_to_index
    assert wv.similarity("stuupid", "stupid") > wv.similarity("stuupid", "thanks")


def test_bin_round_trip_is_small(fasttext, tmp_path):
    path = save_fasttext_bin(fasttext, tmp_path / "vectors.bin")
    assert path.stat().st_size < 1_000_000  # default bucket would be 2M rows
    loaded = load_fasttext(path)
    np.testing.assert_allclose(loaded.wv["idi0t"], fasttext.wv["idi0t"], atol=1e-5)


def test_tokenize_keeps_disguised_words_whole():
    assert tokenize('You are an "1d10t"!! sh!t.') == ["you", "are", "an", "1d10t", "sh!t"]


def test_obfuscation_is_deterministic_and_changes_words():
    text = "please stop vandalising the article you idiot"
    assert obfuscate(text, seed=3) == obfuscate(text, seed=3)
    assert obfuscate(text, seed=3) != text
    assert obfuscate(text, seed=3) != obfuscate(text, seed=4)
