"""A trained tiny transformer served as its int8 ONNX graph by the real SageMaker PyTorch serving
stack (TorchServe + the toolkit, ``local.standins.model_server``) from its ``model.tar.gz``: the
endpoint answers what ``load_classifier`` + ``predict`` answer in process, through the same
``code/inference.py``, for a real-time request and a bulk (JSON lines) one."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from local.standins.model_server import serve_model
from vigil.packaging import package_model
from vigil.toxicity.transformer import META_FILE, ONNX_FILE, load_classifier, predict

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXTS = ["you are an idiot", "thanks for the fix", "shut up, nobody asked you"]


@pytest.fixture(scope="module")
def onnx_model(tiny_transformer, tmp_path_factory):
    """The tiny model with its metadata naming the int8 graph (a random tiny model may fail
    the training-time AUC check that chooses it)."""
    out, _ = tiny_transformer
    folder = tmp_path_factory.mktemp("onnx-model") / "model"
    shutil.copytree(out / "model", folder)
    assert (folder / ONNX_FILE).is_file()
    meta = json.loads((folder / META_FILE).read_text())
    (folder / META_FILE).write_text(json.dumps({**meta, "serving_precision": "onnx-int8"}))
    return folder


@pytest.fixture(scope="module")
def served(onnx_model, tmp_path_factory):
    tarball = package_model(onnx_model, tmp_path_factory.mktemp("tar") / "model.tar.gz")
    with serve_model(tarball) as server:
        yield server


def test_the_endpoint_answers_what_the_graph_answers_in_process(onnx_model, served):
    model, tokenizer, meta = load_classifier(onnx_model)
    assert meta["serving_precision"] == "onnx-int8"
    expected = predict(
        model,
        tokenizer,
        TEXTS,
        loss_mode=meta["loss_mode"],
        max_length=meta["max_length"],
        normalizer=model.text_normalizer,
    )
    body = served.invoke_json({"inputs": TEXTS})
    got = np.array(
        [[r["probabilities"][label] for label in body["labels"]] for r in body["results"]]
    )
    np.testing.assert_allclose(got, expected, atol=1e-5)  # responses round to 6 decimals


def test_a_bulk_request_is_answered_by_the_graph_row_by_row(served):
    lines = [json.dumps({"id": i, "text": text}) for i, text in enumerate(TEXTS)] + ["{broken"]
    answer = served.invoke(
        "\n".join(lines) + "\n",
        content_type="application/jsonlines",
        accept="application/jsonlines",
    )
    rows = [json.loads(line) for line in answer.body.decode().splitlines()]
    assert [row["id"] for row in rows] == [0, 1, 2, None]
    assert all(0.0 <= p <= 1.0 for row in rows[:3] for p in row["probabilities"].values())
    assert rows[3]["rejected"].startswith("the line is not valid JSON")
