"""Score a file of transactions offline against the graph as of the last ETL.

``python -m vigil.fraud.batch_scoring --transactions day.csv [--identity day_identity.csv]
--processed <ETL output> --model-dir <model> --output <folder> [--threshold 0.4]``

Input: CSV or Parquet in the IEEE-CIS layout (``train_transaction``-like, optionally with an
identity file joined on ``TransactionID``). The graph is the ETL's entity bulk-load files
(``neptune/nodes_<column>/``: each entity's ``feat_sum`` and ``degree``) and its transaction
nodes (``neptune/nodes_transaction/``). Each row is scored as the scoring API would score it
(``vigil.fraud.scoring.Scorer``): a transaction already in the graph with its entities' stored
state (which counts it already); a new one with each entity's state including it
(``feat_sum + x`` in float32, ``degree + 1``; a new entity has only it). The request goes
through the endpoint's own parser and model (``vigil.fraud.serving.FraudPredictor``), so the
arithmetic is the endpoint's. Rows of one file do not see each other: each new transaction is
scored against the ETL snapshot, not against the file's earlier rows (the live API would have
inserted those first).

Output under ``--output``: ``scores.csv`` (``TransactionID, pred_prob, flag``, input order) and
``rejects.csv`` (``row, TransactionID, reason``: row numbers count data rows from 1; a bad
``TransactionID``, a duplicate, a numeric value that overflows float32, a request the endpoint
would refuse). The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vigil.fraud import schema
from vigil.fraud.features import (
    NonFiniteFeature,
    add_vectors,
    decode_vector,
    encode_vector,
    is_finite_vector,
)
from vigil.serving_errors import BadRequest

FLAG_FRAUD, FLAG_LEGIT = "fraud", "legit"  # the scoring API's flags (vigil.fraud.scoring.scorer)
DEFAULT_THRESHOLD = 0.5  # a model trained without an operating threshold, as the API flags it
BATCH_SIZE = 512  # rows per model call (the endpoint accepts up to serving.MAX_INSTANCES)


class EntityOverflow(ValueError):
    """The row would make an entity's float32 feature sum overflow (the API refuses it too)."""

    def __init__(self, column: str):
        super().__init__(f"{column}: the entity's feature sum would not be finite (float32)")


@dataclass
class GraphSnapshot:
    """The ETL's graph: per entity column, key → (feat_sum base64, degree); transaction ids."""

    entities: dict[str, dict[str, tuple[str, int]]]
    transactions: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, processed: str | Path, columns: Iterable[str]) -> GraphSnapshot:
        nep = Path(processed) / schema.NEPTUNE_FOLDER
        key_col, sum_col, degree_col = schema.ENTITY_NODE_HEADER[2:5]
        entities: dict[str, dict[str, tuple[str, int]]] = {}
        for column in columns:
            states: dict[str, tuple[str, int]] = {}
            for row in _read_folder(nep / schema.bulk_load_folder("nodes", column)):
                states[row[key_col]] = (row[sum_col], int(row[degree_col]))
            entities[column] = states
        id_col = schema.TRANSACTION_NODE_HEADER[2]
        transactions = {
            row[id_col] for row in _read_folder(nep / schema.bulk_load_folder("transaction"))
        }
        return cls(entities, transactions)


def _read_folder(folder: Path) -> Iterator[dict[str, str]]:
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)


def read_rows(transactions: str | Path, identity: str | Path | None = None) -> list[dict]:
    """Rows as dicts of raw strings ('' when missing); identity columns joined by id."""
    import pandas as pd

    def read(path) -> pd.DataFrame:
        path = str(path)
        if path.lower().endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
            return frame.astype(object).where(frame.notna(), "")
        return pd.read_csv(path, dtype=str, keep_default_na=False)

    frame = read(transactions)
    if identity is not None:
        ident = read(identity)
        ident.columns = [schema.normalize_identity_column(c) for c in ident.columns]
        ident = ident.drop_duplicates(schema.ID_COLUMN)
        ident[schema.ID_COLUMN] = ident[schema.ID_COLUMN].astype(str)
        keep = [c for c in ident.columns if c == schema.ID_COLUMN or c not in frame.columns]
        frame[schema.ID_COLUMN] = frame[schema.ID_COLUMN].astype(str)
        frame = frame.merge(ident[keep], on=schema.ID_COLUMN, how="left").fillna("")
    return frame.to_dict(orient="records")


class BatchScorer:
    """A loaded model and graph snapshot; scores rows in batches through the endpoint's code."""

    def __init__(self, predictor, graph: GraphSnapshot, threshold: float | None = None):
        if predictor.featurizer is None:
            raise ValueError("the model has no featurizer.json: batch scoring needs raw rows")
        self.predictor = predictor
        self.featurizer = predictor.featurizer
        self.columns = list(predictor.model.entity_types)
        self.graph = graph
        self.threshold = threshold

    @classmethod
    def load(cls, model_dir, processed, threshold: float | None = None) -> BatchScorer:
        from vigil.fraud.serving import FraudPredictor

        predictor = FraudPredictor.load(model_dir)
        return cls(
            predictor, GraphSnapshot.load(processed, predictor.model.entity_types), threshold
        )

    def request(self, transaction_id: str, row: Mapping[str, object]) -> dict:
        """The endpoint request the scoring API would send for this row (see module docstring)."""
        features = self.featurizer.transform(row)
        in_graph = transaction_id in self.graph.transactions
        entities: dict[str, dict | None] = {c: None for c in self.columns}
        for column in self.columns:
            key = schema.canonical_key(row.get(column))
            if key is None:
                continue
            stored = self.graph.entities.get(column, {}).get(key)
            if in_graph:
                if stored is None:  # the ETL saw the transaction but not this value: ignore it
                    continue
                entities[column] = {"key": key, "feat_sum": stored[0], "degree": stored[1]}
                continue
            if stored is None:
                total, degree = features, 1
            else:
                total = add_vectors(decode_vector(stored[0], len(features)), features)
                degree = stored[1] + 1
            if not is_finite_vector(total):
                raise EntityOverflow(column)
            entities[column] = {"key": key, "feat_sum": encode_vector(total), "degree": degree}
        return {"id": transaction_id, "features": encode_vector(features), "entities": entities}

    def flag(self, pred_prob: float, model_threshold: float | None) -> str:
        threshold = self.threshold
        if threshold is None:
            threshold = model_threshold if model_threshold is not None else DEFAULT_THRESHOLD
        return FLAG_FRAUD if pred_prob >= threshold else FLAG_LEGIT

    def score(self, rows: Iterable[Mapping[str, object]]) -> tuple[list[dict], list[dict]]:
        """(scores, rejects) for the rows, in input order."""
        scores: list[dict] = []
        rejects: list[dict] = []
        seen: set[str] = set()
        pending: list[tuple[int, object]] = []

        def flush() -> None:
            if not pending:
                return
            answers = self.predictor.predict([parsed for _, parsed in pending])
            for (_, parsed), answer in zip(pending, answers, strict=True):
                prob = answer["pred_prob"]
                scores.append(
                    {
                        schema.ID_COLUMN: parsed.id,
                        "pred_prob": prob,
                        "flag": self.flag(prob, answer.get("threshold")),
                    }
                )
            pending.clear()

        for number, row in enumerate(rows, start=1):
            raw_id = row.get(schema.ID_COLUMN)
            transaction_id = schema.canonical_key(raw_id)
            if transaction_id is None or not transaction_id.lstrip("-").isdigit():
                rejects.append(_reject(number, raw_id, "TransactionID is not an integer"))
                continue
            if transaction_id in seen:
                rejects.append(
                    _reject(number, raw_id, "duplicate TransactionID (first occurrence scored)")
                )
                continue
            seen.add(transaction_id)
            try:
                parsed = self.predictor.parse_instance(self.request(transaction_id, row), None)
            except (NonFiniteFeature, EntityOverflow, BadRequest) as error:
                rejects.append(_reject(number, raw_id, str(error)))
                continue
            pending.append((number, parsed))
            if len(pending) >= BATCH_SIZE:
                flush()
        flush()
        return scores, rejects


def _reject(number: int, raw_id: object, reason: str) -> dict:
    return {
        "row": number,
        schema.ID_COLUMN: "" if raw_id is None else str(raw_id),
        "reason": reason,
    }


def write_outputs(output: str | Path, scores: list[dict], rejects: list[dict]) -> None:
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "scores.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[schema.ID_COLUMN, "pred_prob", "flag"])
        writer.writeheader()
        writer.writerows(scores)
    with (out / "rejects.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["row", schema.ID_COLUMN, "reason"])
        writer.writeheader()
        writer.writerows(rejects)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--transactions", required=True, help="CSV or Parquet, IEEE-CIS layout")
    parser.add_argument("--identity", default=None, help="identity file joined on TransactionID")
    parser.add_argument("--processed", required=True, help="the ETL output holding neptune/")
    parser.add_argument("--model-dir", required=True, help="the trained model (model_config.json)")
    parser.add_argument("--output", required=True, help="folder for scores.csv and rejects.csv")
    parser.add_argument(
        "--threshold", type=float, default=None, help="flag at this instead of the model's"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    scorer = BatchScorer.load(args.model_dir, args.processed, args.threshold)
    loaded = time.perf_counter()
    rows = read_rows(args.transactions, args.identity)
    scores, rejects = scorer.score(rows)
    scored = time.perf_counter()
    write_outputs(args.output, scores, rejects)
    print(
        json.dumps(
            {
                "rows": len(rows),
                "scored": len(scores),
                "rejected": len(rejects),
                "flagged": sum(s["flag"] == FLAG_FRAUD for s in scores),
                "load_seconds": round(loaded - started, 3),
                "score_seconds": round(scored - loaded, 3),
                "output": str(args.output),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
