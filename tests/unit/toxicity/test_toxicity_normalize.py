"""The evasion normaliser: leetspeak, stretched and spelled-out words and look-alike characters
are undone; ordinary text, numbers and sentence punctuation are left alone; both models store
the choice (and their spelling lexicon) and apply it at inference."""

from __future__ import annotations

import json
import shutil

import pytest

from vigil.toxicity.lexicon import LEXICON_FILE
from vigil.toxicity.normalize import (
    EVASION,
    NONE,
    normalize_texts,
    normalizer,
    undo_evasion,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("you are an 1d10t", "you are an idiot"),
        ("sh!t happens", "shit happens"),
        ("what a l0$3r", "what a loser"),
        ("k1ll 10$3r", "kill ioser"),  # 1 stands for i or l: it reads as i
        ("$7up1d @ss", "stupid ass"),
        ("h3ll0 w0rld", "hello world"),
        ("stuuuuupid", "stuupid"),
        ("soooo cooool", "soo cool"),
        ("you i d i o t", "you idiot"),
        ("f.u.c.k off", "fuck off"),
        ("f-u-c-k off", "fuck off"),
        ("ｆｕｃｋ", "fuck"),  # fullwidth letters (NFKC)
        ("idi\u043et", "idiot"),  # Cyrillic o inside a Latin word
        ("id\u200biot", "idiot"),  # zero-width space
    ],
)
def test_evasion_spellings_are_undone(text, expected):
    assert undo_evasion(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for the edit on 21st March 2019, it cost $100.",
        "Stop! You are wrong!!! Really?",
        "I am a fool, see section 3.5.1 and user_name, call 1 2 3",
        "Ваш комментарий",  # Cyrillic words stay Cyrillic
        "Wait!You forgot this",  # a symbol before a capital ends a sentence
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert undo_evasion(text) == text


def test_normalising_twice_changes_nothing_more():
    once = undo_evasion("y0u   stuuuupid  1 d i o t, sh!t")
    assert undo_evasion(once) == once


def test_normalizers_by_name():
    texts = ["1d10t", "ok"]
    assert normalize_texts(texts, NONE) == texts
    assert normalize_texts(texts, EVASION) == ["idiot", "ok"]
    with pytest.raises(ValueError, match="unknown text normaliser 'nope'"):
        normalizer("nope")


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_models_store_the_normaliser_and_apply_it_at_inference(kind, request, tmp_path):
    from tests.unit.toxicity.test_toxicity_training import hooks

    out, _ = request.getfixturevalue(f"tiny_{kind}")
    stored = "bilstm_config.json" if kind == "bilstm" else "vigil_toxicity.json"
    assert json.loads((out / "model" / stored).read_text())["normalizer"] == EVASION
    assert (out / "model" / LEXICON_FILE).is_file()  # --spelling-lexicon corpus+english
    folder = out / "model"
    if kind == "transformer":
        # served in full precision here: int8 rounds the tiny untrained model's near-0.5 scores
        # of different texts to the same numbers, and the last check needs them apart
        folder = tmp_path / "model"
        shutil.copytree(out / "model", folder)
        meta = json.loads((folder / stored).read_text())
        (folder / stored).write_text(json.dumps({**meta, "serving_precision": "fp32"}))
    module = hooks(kind)
    model = module.model_fn(str(folder))
    plain, disguised, misspelt, other = module.predict_fn(
        ["you stupid idiot", "you $7up1d 1 d i o t", "you stpuid idoit", "you stupid pilot"],
        model,
    )["results"]
    assert disguised["probabilities"] == plain["probabilities"]  # the rules
    assert misspelt["probabilities"] == plain["probabilities"]  # the lexicon
    assert other["probabilities"] != plain["probabilities"]
