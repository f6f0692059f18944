"""The fraud system's offline stages on this machine, laid out as the cloud lays them out.

* ``generate`` + ``run_etl``: generated IEEE-CIS-layout data through the Glue job's ``run`` on a
  local SparkSession (features, labels, edge lists, ``featurizer.json``, Neptune bulk-load files).
* ``train_model``: ``training/fraud/train.py``'s ``main`` as SageMaker script mode runs it
  (``--train <ETL output> --model-dir … --output-data-dir …``), then ``code/`` with that entry
  point's ``inference.py`` and the ``vigil`` modules it imports, so
  ``local/standins/model_server.py`` serves exactly what a SageMaker endpoint would unpack from
  ``model.tar.gz``.
* ``build_artifacts``: all three, cached per size and seed; ``stream_rows``: new transactions for
  the scoring path. Used by the demo, the benchmarks and the scoring integration tests.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = "train_output"


def output_dir_of(model_dir: Path) -> Path:
    """Where the training run of ``model_dir`` wrote its offline scores and metrics:
    ``model`` → ``train_output``, ``model-graph-gbdt`` → ``train_output-graph-gbdt``."""
    model_dir = Path(model_dir)
    return model_dir.parent / (OUTPUT_DIR + model_dir.name.removeprefix("model"))


def train_model(
    processed_dir: Path,
    model_dir: Path,
    *,
    epochs: int = 30,
    seed: int = 0,
    hidden: int = 32,
    model: str | None = None,
) -> Path:
    """Train (tiny, CPU) into ``model_dir``; offline scores go beside it (``train_output/``).
    ``model``: ``--model`` of the training job (default: both kinds, the better deployed)."""
    from training.fraud.train import INFERENCE_ENTRY, main
    from vigil.fraud.serving import add_serving_code

    model_dir = Path(model_dir)
    output = output_dir_of(model_dir)
    from vigil.fraud.calibration import THRESHOLD_TABLE_FILE

    if not (model_dir / THRESHOLD_TABLE_FILE).exists():  # a model of the current trainer
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
                *(["--model", model] if model else []),
            ]
        )
        if code:
            raise RuntimeError(f"training/fraud/train.py exited with {code}")
    add_serving_code(model_dir, INFERENCE_ENTRY)  # code/inference.py + the vigil modules it imports
    return model_dir


def offline_test_scores(model_dir: Path) -> dict[str, float]:
    """TransactionID (string) → the training run's offline full-graph ``pred_prob`` (test split)."""
    path = output_dir_of(model_dir) / "test_scores.csv"
    with path.open(newline="") as handle:
        return {row["TransactionID"]: float(row["pred_prob"]) for row in csv.DictReader(handle)}


STREAM_ID_OFFSET = 10_000_000  # streamed transactions get new ids, never colliding with the graph


@dataclass
class Artifacts:
    raw_dir: Path
    processed_dir: Path
    model_dir: Path

    @property
    def bulk_dir(self) -> Path:
        from vigil.fraud import schema

        return self.processed_dir / schema.NEPTUNE_FOLDER

    @property
    def featurizer(self) -> Path:
        from vigil.fraud import schema

        return self.processed_dir / schema.FEATURIZER_FILE


def generate(out: Path, transactions: int, seed: int) -> Path:
    from vigil.fraud import datagen

    datagen.write(datagen.generate(transactions, seed), out)
    return out


def run_etl(raw_dir: Path, out: Path, *, master: str = "local[2]") -> dict:
    """The Glue job's ``run`` on a local SparkSession (the workers use this interpreter)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    sys.path.insert(0, str(REPO_ROOT / "glue"))
    import fraud_etl

    config = fraud_etl.parse_args(
        [
            "--transactions",
            str(raw_dir / "train_transaction.csv"),
            "--identity",
            str(raw_dir / "train_identity.csv"),
            "--output",
            str(out),
            "--shuffle-partitions",
            "2",
        ]
    )
    spark = fraud_etl.local_spark_session(master, 2)
    try:
        return fraud_etl.run(spark, config)
    finally:
        spark.stop()


def _etl_is_current(processed: Path) -> bool:
    """Whether the ETL output's entity bulk-load files have the schema's columns (an output of
    an older ETL, without an entity column the scoring path reads, is made again)."""
    from vigil.fraud import schema

    transaction_folder = schema.bulk_load_folder("transaction")
    for path in sorted((processed / schema.NEPTUNE_FOLDER).glob("nodes_*/*.csv")):
        if path.parent.name != transaction_folder:
            with path.open() as handle:
                return handle.readline().strip().split(",") == schema.ENTITY_NODE_HEADER
    return True


def build_artifacts(
    workdir: Path, *, transactions: int, seed: int, epochs: int = 30, model: str | None = None
) -> Artifacts:
    """Generate, ETL and train under ``workdir/n<transactions>-s<seed>``; a step whose output
    is already there (a previous run with the same size and seed) is not repeated. ``model``:
    train only that kind (into ``model-<kind>/``) instead of both with selection."""
    workdir = Path(workdir) / f"n{transactions}-s{seed}"
    raw = workdir / "raw"
    if not (raw / "train_identity.csv").exists():
        generate(raw, transactions, seed)
    processed = workdir / "processed"
    if not (processed / "etl_report.json").exists() or not _etl_is_current(processed):
        shutil.rmtree(processed, ignore_errors=True)
        run_etl(raw, processed)
    name = f"model-{model}" if model else "model"
    report, config = processed / "etl_report.json", workdir / name / "model_config.json"
    if config.exists() and config.stat().st_mtime < report.stat().st_mtime:
        shutil.rmtree(workdir / name)  # trained on an older ETL output: train again
    model_dir = train_model(processed, workdir / name, epochs=epochs, model=model)
    return Artifacts(raw_dir=raw, processed_dir=processed, model_dir=model_dir)


def stream_rows(transactions: int, seed: int) -> list[dict[str, Any]]:
    """Generated rows (transaction + identity) with ids moved past the graph's, label kept."""
    from vigil.fraud import datagen, schema

    data = datagen.generate(transactions, seed)
    rows = data.transactions.merge(data.identity, on=schema.ID_COLUMN, how="left")
    rows[schema.ID_COLUMN] = rows[schema.ID_COLUMN] + STREAM_ID_OFFSET
    return rows.to_dict("records")
