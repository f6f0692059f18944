"""The smallest SageMaker PyTorch model: a saved ``nn.Linear(3, 2)`` and its ``inference.py``.

Used by the serving tests and ``benchmarks/model_server.py`` to exercise the real serving stack,
and a reference for the layout: ``write_linear_model(dir)`` writes ``model.pt`` (what a training
job leaves in ``SM_MODEL_DIR``) and ``inference.py`` (the entry point that
``vigil.packaging`` puts at ``code/inference.py``). Bad requests raise
``vigil.serving_errors.BadRequest``, so the server answers 400 with the message.
"""

from __future__ import annotations

from pathlib import Path

IN_FEATURES = 3
OUT_FEATURES = 2

INFERENCE_SOURCE = '''\
"""SageMaker entry point of the example linear model (model_fn/input_fn/predict_fn/output_fn)."""

import json
import os

import torch

from vigil.serving_errors import BadRequest

IN_FEATURES = 3
OUT_FEATURES = 2


def model_fn(model_dir):
    model = torch.nn.Linear(IN_FEATURES, OUT_FEATURES)
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pt"), weights_only=True))
    model.eval()
    return model


def input_fn(body, content_type):
    if content_type != "application/json":
        raise BadRequest(f"unsupported content type {content_type!r}: send application/json")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    rows = payload.get("inputs") if isinstance(payload, dict) else None
    if (
        not isinstance(rows, list)
        or not rows
        or not all(
            isinstance(row, list)
            and len(row) == IN_FEATURES
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row)
            for row in rows
        )
    ):
        raise BadRequest(f"'inputs' must be a non-empty list of rows of {IN_FEATURES} numbers")
    return torch.tensor(rows, dtype=torch.float32)


def predict_fn(data, model):
    with torch.no_grad():
        return model(data)


def output_fn(prediction, accept):
    if accept not in ("application/json", "*/*"):
        raise BadRequest(f"cannot answer {accept!r}: accept application/json", status_code=406)
    return json.dumps({"outputs": prediction.tolist()})
'''


def write_linear_model(directory: str | Path, *, seed: int = 0) -> tuple[Path, Path]:
    """Write ``model.pt`` into ``directory/model`` and ``inference.py`` beside it.

    Returns ``(model_files_dir, entry_point)``, the two inputs of ``vigil.packaging``.
    """
    import torch

    directory = Path(directory)
    model_files = directory / "model"
    model_files.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = torch.nn.Linear(IN_FEATURES, OUT_FEATURES)
    torch.save(model.state_dict(), model_files / "model.pt")
    entry_point = directory / "inference.py"
    entry_point.write_text(INFERENCE_SOURCE, encoding="utf-8")
    return model_files, entry_point
