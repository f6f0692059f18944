"""Data preparation: CSV/Parquet with a text column and label columns → train/valid/test channels.

``python -m vigil.toxicity.data --input comments.csv --output s3://bucket/toxicity/prepared``
(or a local folder). Each channel folder holds ``data.parquet`` (columns ``text``, the task's
labels and ``sample_weight``) and ``meta.json`` (labels, task, label mode, class weights).
The split is deterministic: a row's channel follows from a hash of its id (or its text), so it
does not change when rows are added, removed or reordered.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vigil.toxicity.labels import (
    JIGSAW_LABELS,
    POSITIVE_THRESHOLD,
    SAMPLE_WEIGHT_COLUMN,
    TEXT_COLUMN,
    TOXICITY_LABEL,
    LabelMode,
    Task,
    task_labels,
)

CHANNELS = ("train", "valid", "test")
DATA_FILE = "data.parquet"
META_FILE = "meta.json"


class DataError(ValueError):
    """Input data that cannot be prepared; the message names the column or value at fault."""


@dataclass
class PreparedMeta:
    labels: list[str]
    task: str
    label_mode: str
    class_weights: list[float] | None
    rows: dict[str, int] = field(default_factory=dict)
    positives: dict[str, list[int]] = field(default_factory=dict)


def read_table(path: str | Path) -> pd.DataFrame:
    path = str(path)
    if path.endswith(".parquet") or path.endswith(".pq"):
        return pd.read_parquet(path)
    if path.endswith(".csv") or path.endswith(".csv.gz"):
        return pd.read_csv(path)
    raise DataError(f"unsupported input format {path!r}: use .csv, .csv.gz or .parquet")


def split_of(key: str, *, valid_fraction: float, test_fraction: float, seed: int = 0) -> str:
    """Deterministic channel of one row from a hash of its key."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + valid_fraction:
        return "valid"
    return "train"


def class_weights_from(targets: np.ndarray) -> list[float]:
    """Per-label weights from label frequencies, n / (k * positives_k), normalised to mean 1.

    Rare labels (threat, identity_hate) weigh more; a label with no positives gets the largest
    weight seen rather than infinity.
    """
    positives = (targets >= POSITIVE_THRESHOLD).sum(axis=0).astype(float)
    n, k = targets.shape
    with np.errstate(divide="ignore"):
        raw = np.where(positives > 0, n / (k * np.maximum(positives, 1)), np.nan)
    if np.all(np.isnan(raw)):
        return [1.0] * k
    raw = np.where(np.isnan(raw), np.nanmax(raw), raw)
    return [float(w) for w in raw / raw.mean()]


def prepare(
    frame: pd.DataFrame,
    *,
    text_column: str = TEXT_COLUMN,
    label_columns: list[str] | None = None,
    toxicity_column: str = TOXICITY_LABEL,
    task: Task | str = Task.MULTITASK,
    label_mode: LabelMode | str = LabelMode.FRACTIONAL,
    id_column: str | None = "id",
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[dict[str, pd.DataFrame], PreparedMeta]:
    """Validate, select the task's rows and labels, apply the label mode and split."""
    task, label_mode = Task(task), LabelMode(label_mode)
    label_columns = list(label_columns or [c for c in JIGSAW_LABELS if c in frame.columns])
    missing = [c for c in [text_column, *label_columns] if c not in frame.columns]
    if missing:
        raise DataError(f"missing columns {missing}; the input has {list(frame.columns)}")
    if toxicity_column not in label_columns:
        raise DataError(f"toxicity column {toxicity_column!r} is not among {label_columns}")
    for column in label_columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | (values < 0) | (values > 1)
        if bad.any():
            raise DataError(
                f"label column {column!r} has {int(bad.sum())} values outside [0, 1] or not "
                f"numeric (first at row {int(np.argmax(bad.to_numpy()))})"
            )
    frame = frame.copy()
    frame[label_columns] = frame[label_columns].astype(float)
    frame = frame[frame[text_column].map(lambda t: isinstance(t, str) and t.strip() != "")]
    if task is Task.FINE_GRAINED:
        frame = frame[frame[toxicity_column] >= POSITIVE_THRESHOLD]
    labels = task_labels(task, label_columns, toxicity_column)
    out = pd.DataFrame({"text": frame[text_column].astype(str).to_numpy()})
    targets = frame[labels].to_numpy(dtype=float)
    if label_mode is LabelMode.BINARY:
        targets = (targets >= POSITIVE_THRESHOLD).astype(float)
    for i, label in enumerate(labels):
        out[label] = targets[:, i]
    if SAMPLE_WEIGHT_COLUMN in frame.columns:
        out[SAMPLE_WEIGHT_COLUMN] = frame[SAMPLE_WEIGHT_COLUMN].astype(float).to_numpy()
    else:
        out[SAMPLE_WEIGHT_COLUMN] = 1.0
    keys = (
        frame[id_column].astype(str)
        if id_column and id_column in frame.columns
        else frame[text_column].astype(str)
    )
    channel = np.array(
        [
            split_of(k, valid_fraction=valid_fraction, test_fraction=test_fraction, seed=seed)
            for k in keys
        ]
    )
    splits = {name: out[channel == name].reset_index(drop=True) for name in CHANNELS}
    train_targets = splits["train"][labels].to_numpy()
    weights = class_weights_from(train_targets) if label_mode is LabelMode.BINARY else None
    meta = PreparedMeta(
        labels=labels,
        task=task.value,
        label_mode=label_mode.value,
        class_weights=weights,
        rows={name: len(split) for name, split in splits.items()},
        positives={
            name: [int(v) for v in (split[labels].to_numpy() >= POSITIVE_THRESHOLD).sum(axis=0)]
            for name, split in splits.items()
        },
    )
    return splits, meta


def write_channels(
    splits: dict[str, pd.DataFrame], meta: PreparedMeta, output: str
) -> dict[str, str]:
    """Write each channel to ``output/<channel>/`` (a local folder or ``s3://bucket/prefix``)."""
    where = {}
    meta_json = json.dumps(asdict(meta), indent=2)
    for name, split in splits.items():
        buffer = io.BytesIO()
        split.to_parquet(buffer, index=False)
        if output.startswith("s3://"):
            from vigil.aws import client

            bucket, _, prefix = output[len("s3://") :].partition("/")
            prefix = prefix.strip("/")
            key = f"{prefix}/{name}" if prefix else name
            s3 = client("s3")
            s3.put_object(Bucket=bucket, Key=f"{key}/{DATA_FILE}", Body=buffer.getvalue())
            s3.put_object(Bucket=bucket, Key=f"{key}/{META_FILE}", Body=meta_json.encode())
            where[name] = f"s3://{bucket}/{key}/"
        else:
            folder = Path(output) / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / DATA_FILE).write_bytes(buffer.getvalue())
            (folder / META_FILE).write_text(meta_json)
            where[name] = str(folder)
    return where


def load_channel(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """Read one channel written by ``write_channels`` (a SageMaker channel folder)."""
    folder = Path(folder)
    frame = pd.read_parquet(folder / DATA_FILE)
    meta = json.loads((folder / META_FILE).read_text())
    return frame, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="CSV or Parquet file")
    parser.add_argument("--output", required=True, help="local folder or s3://bucket/prefix")
    parser.add_argument("--text-column", default=TEXT_COLUMN)
    parser.add_argument("--label-columns", default=",".join(JIGSAW_LABELS))
    parser.add_argument("--toxicity-column", default=TOXICITY_LABEL)
    parser.add_argument("--id-column", default="id")
    parser.add_argument("--task", choices=[t.value for t in Task], default=Task.MULTITASK.value)
    parser.add_argument(
        "--label-mode", choices=[m.value for m in LabelMode], default=LabelMode.FRACTIONAL.value
    )
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        splits, meta = prepare(
            read_table(args.input),
            text_column=args.text_column,
            label_columns=[c for c in args.label_columns.split(",") if c],
            toxicity_column=args.toxicity_column,
            task=args.task,
            label_mode=args.label_mode,
            id_column=args.id_column,
            valid_fraction=args.valid_fraction,
            test_fraction=args.test_fraction,
            seed=args.seed,
        )
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = write_channels(splits, meta, args.output)
    print(json.dumps({"channels": where, "meta": asdict(meta)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
