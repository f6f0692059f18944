"""Tiny toxicity models trained once per session through the real training entry points."""

from __future__ import annotations

import pandas as pd
import pytest

from vigil.toxicity.data import prepare, write_channels


@pytest.fixture(scope="session")
def tox_channels(jigsaw_sample, tmp_path_factory):
    """The Jigsaw sample's first 600 rows, prepared (multitask, fractional) into channels."""
    frame = pd.read_csv(jigsaw_sample).head(600)
    splits, meta = prepare(frame)
    folder = tmp_path_factory.mktemp("tox-data")
    write_channels(splits, meta, str(folder))
    return folder


def channel_args(folder) -> list[str]:
    return [f"--{c}={folder / c}" for c in ("train", "valid", "test")]


@pytest.fixture(scope="session")
def tiny_bilstm(tox_channels, tmp_path_factory):
    from training.toxicity.bilstm.train import main

    out = tmp_path_factory.mktemp("tox-bilstm")
    summary = main(
        [
            *channel_args(tox_channels),
            f"--model-dir={out / 'model'}",
            f"--output-data-dir={out / 'output'}",
            "--epochs=2",
            "--embed-size=16",
            "--lstm-hidden-size=8",
            "--lstm-num-layers=2",
            "--proj-size=8",
            "--total-length=32",
            "--fasttext-epochs=1",
            "--fasttext-bucket=1000",
            "--train-batch-size=32",
        ]
    )
    return out, summary


# A transformer from a config on a BPE tokenizer of the corpus, a few steps: offline and fast.
TINY_TRANSFORMER_ARGS = [
    "--train-tokenizer",
    "--vocab-size=400",
    "--hidden-size=16",
    "--num-attention-heads=2",
    "--max-steps=4",
    "--eval-steps=2",
    "--save-total-limit=1",
    "--max-train-samples=64",
    "--max-eval-samples=48",
    "--train-batch-size=16",
    "--max-length=32",
]


@pytest.fixture(scope="session")
def tiny_transformer(tox_channels, tmp_path_factory):
    from training.toxicity.transformer.train import main

    out = tmp_path_factory.mktemp("tox-transformer")
    summary = main(
        [
            *channel_args(tox_channels),
            f"--model-dir={out / 'model'}",
            f"--output-data-dir={out / 'output'}",
            *TINY_TRANSFORMER_ARGS,
            "--num-hidden-layers=1",
        ]
    )
    return out, summary
