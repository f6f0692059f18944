"""Run the fraud training entry point locally and lay its output out as a SageMaker model.

An adapter for the demo, the benchmark and the scoring integration tests (F2's): it calls
``training/fraud/train.py``'s ``main`` (F1's entry point, unchanged, as SageMaker script mode runs
it: ``--train <ETL output> --model-dir … --output-data-dir …``), then writes ``code/`` with
that entry point's ``inference.py`` and the ``vigil`` modules it imports into the model directory
(F1's ``vigil.fraud.serving.add_serving_code``), so ``local/model_server.py`` serves exactly what a
SageMaker endpoint would unpack from ``model.tar.gz``.
"""

from __future__ import annotations

import csv
from pathlib import Path

OUTPUT_DIR = "train_output"


def train_model(
    processed_dir: Path, model_dir: Path, *, epochs: int = 30, seed: int = 0, hidden: int = 32
) -> Path:
    """Train (tiny, CPU) into ``model_dir``; offline scores go beside it (``train_output/``)."""
    from training.fraud.train import INFERENCE_ENTRY, main
    from vigil.fraud.serving import add_serving_code

    model_dir = Path(model_dir)
    output = model_dir.parent / OUTPUT_DIR
    if not (model_dir / "model.pt").exists():
        code = main(
            [
                "--train",
                str(processed_dir),
                "--model-dir",
                str(model_dir),
                "--output-data-dir",
                str(output),
                "--n-epochs",
                str(epochs),
                "--n-hidden",
                str(hidden),
                "--embedding-size",
                str(hidden),
                "--baseline-iter",
                "0",
                "--num-threads",
                "1",
                "--seed",
                str(seed),
                "--patience",
                str(epochs),
            ]
        )
        if code:
            raise RuntimeError(f"training/fraud/train.py exited with {code}")
    add_serving_code(model_dir, INFERENCE_ENTRY)  # code/inference.py + the vigil modules it imports
    return model_dir


def offline_test_scores(model_dir: Path) -> dict[str, float]:
    """TransactionID (string) → the training run's offline full-graph ``pred_prob`` (test split)."""
    path = Path(model_dir).parent / OUTPUT_DIR / "test_scores.csv"
    with path.open(newline="") as handle:
        return {row["TransactionID"]: float(row["pred_prob"]) for row in csv.DictReader(handle)}
