"""Spelling repair against the model's lexicon: swapped, doubled, i/l-confused and split words
come back; known words, case and punctuation are kept; the lexicon is built from the training
texts (plus English words), saved beside the model and loaded with it."""

from __future__ import annotations

import pytest

from vigil.toxicity.lexicon import (
    CORPUS,
    CORPUS_ENGLISH,
    LEXICON_FILE,
    NONE,
    SpellingLexicon,
    build_lexicon,
)
from vigil.toxicity.normalize import EVASION, TextNormalizer, normalize_texts
from vigil.toxicity.obfuscate import obfuscate

WORDS = SpellingLexicon(
    {
        "you": 900,
        "are": 800,
        "the": 5000,
        "stupid": 300,
        "idiot": 200,
        "kill": 150,
        "little": 120,
        "chess": 40,
        "rapist": 30,
        "therapist": 20,
        "insult": 60,
        "in": 4000,
        "stu": 3,
        "pid": 2,
        "can": 2000,
        "not": 3000,
        "cannot": 100,
        "title": 50,
    }
)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("stpuid", "stupid"),  # swapped neighbours
        ("sttupid", "stupid"),  # a doubled letter
        ("idoit", "idiot"),
        ("iittle", "little"),  # leetspeak 1 read as i
        ("kii", "kill"),  # "ki11" → "kiii" → stretched letters → "kii"
        ("STPUID", "STUPID"),  # case kept
        ("Stpuid", "Stupid"),
        ("stupid", "stupid"),  # known: untouched
        ("zyxwv", "zyxwv"),  # nothing known one repair away
        ("ok", "ok"),  # too short to repair
    ],
)
def test_unknown_words_get_their_most_frequent_repair(word, expected):
    assert WORDS.correct_word(word) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("you stu pid", "you stupid"),  # both parts rarer than the word
        ("c hess", "chess"),  # a lone letter is a fragment
        ("an in sult!", "an insult!"),  # "sult" is no word; punctuation stays
        ("the rapist", "the rapist"),  # "the" is far more frequent than "therapist"
        ("can not", "can not"),
        ("in the", "in the"),  # "inthe" is unknown
    ],
)
def test_split_words_are_joined_only_when_the_parts_are_not_words(text, expected):
    assert WORDS.join_split_words(text) == expected


def test_repair_joins_then_corrects():
    assert WORDS.repair("you are a stpuid idoit, stu pid!") == "you are a stupid idiot, stupid!"


def test_text_normalizer_runs_the_rules_then_the_lexicon():
    normalizer = TextNormalizer(EVASION, WORDS)
    assert normalizer("y0u $7pu1d 1d0it") == "you stupid idiot"
    assert TextNormalizer(EVASION)("y0u $7pu1d") == "you stpuid"  # rules alone
    assert normalize_texts(["ki11 y0u"], normalizer) == ["kill you"]
    assert normalizer.describe() == f"evasion+lexicon({len(WORDS)})"


def test_build_lexicon_sources():
    texts = ["the cat sat", "the cat ran", "the cat hid", "a dog"]
    assert build_lexicon(texts, source=NONE) is None
    corpus = build_lexicon(texts, source=CORPUS)
    assert set(corpus.weights) == {"the", "cat"}  # seen 3+ times
    english = build_lexicon(texts, source=CORPUS_ENGLISH)
    assert english.knows("idiot") and english.knows("dog")  # wordfreq's English words
    assert english.weights["the"] > english.weights["idiot"] > 0
    assert english.weights["cat"] > corpus.weights["cat"]  # both sources add up
    with pytest.raises(ValueError, match="unknown lexicon source 'web'"):
        build_lexicon(texts, source="web")


def test_lexicon_round_trips_beside_a_model(tmp_path):
    assert SpellingLexicon.load(tmp_path) is None
    assert TextNormalizer.of_model(tmp_path, EVASION).lexicon is None
    WORDS.save(tmp_path)
    assert (tmp_path / LEXICON_FILE).is_file()
    loaded = TextNormalizer.of_model(tmp_path, EVASION)
    assert loaded.lexicon == WORDS
    with pytest.raises(ValueError, match="unknown text normaliser"):
        TextNormalizer.of_model(tmp_path, "nope")


def test_obfuscated_words_come_back(jigsaw_sample):
    """On real comments, most obfuscated words come back with an English + corpus lexicon."""
    import pandas as pd

    texts = pd.read_csv(jigsaw_sample)["comment_text"].head(300)
    rules = TextNormalizer(EVASION)
    normalizer = TextNormalizer(EVASION, build_lexicon(normalize_texts(list(texts), rules)))
    total = by_rules = by_lexicon = 0
    for text in texts:
        words = set(rules(text).lower().split())
        disguised = obfuscate(text, seed=3)
        total += len(words)
        by_rules += len(words & set(rules(disguised).lower().split()))
        by_lexicon += len(words & set(normalizer(disguised).lower().split()))
    assert by_rules / total < 0.85
    assert by_lexicon / total > 0.93
