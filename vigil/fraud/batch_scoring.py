"""Score a file of transactions offline against the graph as of the last ETL.

``python -m vigil.fraud.batch_scoring --transactions day.csv [--identity day_identity.csv]
--processed <ETL output> --model-dir <model> --output <folder> [--threshold 0.4]
[--chunk-rows 200000] [--processes 2] [--requests-out]``

Input: CSV or Parquet in the IEEE-CIS layout (``train_transaction``-like, optionally with an
identity file joined on ``TransactionID``), read in chunks of ``--chunk-rows``. The graph is the
ETL's entity bulk-load files (``neptune/nodes_<column>/``: each entity's ``feat_sum`` and
``degree``) and its transaction nodes (``neptune/nodes_transaction/``), held as arrays.

Each row is scored as the scoring API would score it (``vigil.fraud.scoring.Scorer``): a
transaction already in the graph with its entities' stored state (which counts it already; an
entity value the ETL did not record for it is left out); a new one with each entity's state
including it (``feat_sum + x`` in float32, ``degree + 1``; a new entity has only it). The
arithmetic is the endpoint's, a whole chunk at a time: the features come from the model's own
:class:`vigil.fraud.features.Featurizer` definition applied once per distinct raw value of each
column (so every row's vector is the one ``Featurizer.transform`` gives), entity states are
gathered from the snapshot by array indexing, the model scores the chunk with its batched
``dense_logits`` (the path the endpoint takes for one-entity-per-type requests) and the model's
own Platt calibration and threshold turn logits into ``pred_prob`` and ``flag``. Rows of one file
do not see each other: each new transaction is scored against the ETL snapshot, not against the
file's earlier rows (the live API would have inserted those first).

Output under ``--output``: ``scores.csv`` (``TransactionID, pred_prob, flag``, input order) and
``rejects.csv`` (``row, TransactionID, reason``: row numbers count data rows from 1; a bad
``TransactionID``, a duplicate, a numeric value that overflows float32, an entity whose feature
sum would overflow or whose stored state is malformed). With ``--requests-out``, the rows'
endpoint requests instead (``requests-<n>.jsonl``, one request instance a line, the input of the
SageMaker Batch Transform in ``cdk/fraud/batch_scoring.py``, which answers them with the
endpoint's own code: ``vigil.fraud.batch_transform``) and the same ``rejects.csv``. The last line
printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vigil.fraud import schema
from vigil.fraud.batch_transform import DEFAULT_THRESHOLD, FLAG_FRAUD, FLAG_LEGIT
from vigil.fraud.features import Featurizer, NonFiniteFeature, numeric_feature

MODEL_BATCH_ROWS = 8192  # rows per model call: [rows, entity types, features] float32 stays small
DEFAULT_CHUNK_ROWS = 200_000  # rows read, featurized and written at a time
REQUEST_LINES_PER_FILE = 100_000  # endpoint requests per JSON lines file (~0.5 GB, 12 entities)


class EntityOverflow(ValueError):
    """The row would make an entity's float32 feature sum overflow (the API refuses it too)."""

    def __init__(self, column: str):
        super().__init__(f"{column}: the entity's feature sum would not be finite (float32)")


def malformed_state_reason(column: str) -> str:
    return f"{column}: the graph's stored state of this entity is malformed"


@dataclass
class EntityTable:
    """One entity column of the snapshot: key → row, each row's ``feat_sum`` and ``degree``.

    ``valid`` is False for a row whose stored ``feat_sum`` is not ``dim`` finite float32 values
    or whose degree is not positive (the endpoint would refuse such a state)."""

    position: dict[str, int]
    feat_sum: np.ndarray  # float32 [n, dim]
    degree: np.ndarray  # int64 [n]
    valid: np.ndarray  # bool [n]
    first_dt: np.ndarray | None = None  # float64 [n]: earliest TransactionDT, NaN when unknown


@dataclass
class GraphSnapshot:
    """The ETL's graph as arrays: per entity column an :class:`EntityTable`; transaction ids."""

    entities: dict[str, EntityTable]
    transactions: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, processed: str | Path, columns: Iterable[str], dim: int) -> GraphSnapshot:
        nep = Path(processed) / schema.NEPTUNE_FOLDER
        key_col, sum_col, degree_col = schema.ENTITY_NODE_HEADER[2:5]
        entities = {}
        for column in columns:
            frame = _read_folder(nep / schema.bulk_load_folder("nodes", column))
            keys = frame[key_col].tolist() if len(frame) else []
            feat_sum, valid = _decode_vectors(frame.get(sum_col, pd.Series(dtype=str)), dim)
            degree = pd.to_numeric(
                frame.get(degree_col, pd.Series(dtype=str)), errors="coerce"
            ).to_numpy(dtype=np.float64)
            valid &= np.isfinite(degree) & (degree >= 1)
            first_col = schema.ENTITY_NODE_HEADER[5]
            first_dt = pd.to_numeric(
                frame.get(first_col, pd.Series([""] * len(frame), dtype=str)), errors="coerce"
            ).to_numpy(dtype=np.float64)
            entities[column] = EntityTable(
                position={key: i for i, key in enumerate(keys)},
                feat_sum=feat_sum,
                degree=np.nan_to_num(degree, nan=0.0).astype(np.int64),
                valid=valid,
                first_dt=first_dt,
            )
        id_col = schema.TRANSACTION_NODE_HEADER[2]
        nodes = _read_folder(nep / schema.bulk_load_folder("transaction"))
        transactions = set(nodes[id_col].tolist()) if len(nodes) else set()
        return cls(entities, transactions)


def _read_folder(folder: Path) -> pd.DataFrame:
    parts = [
        pd.read_csv(path, dtype=str, keep_default_na=False) for path in sorted(folder.glob("*.csv"))
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _decode_vectors(texts: pd.Series, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Base64 float32 vectors as a [n, dim] matrix, and which decoded to ``dim`` finite values."""
    width = 4 * dim
    zero = bytes(width)
    raw, valid = [], []
    for text in texts.tolist():
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            data = b""
        ok = len(data) == width
        raw.append(data if ok else zero)
        valid.append(ok)
    matrix = np.frombuffer(b"".join(raw), dtype="<f4").reshape(len(raw), dim).astype(np.float32)
    valid_rows = np.asarray(valid, dtype=bool)
    if len(valid_rows):
        valid_rows &= np.isfinite(matrix).all(axis=1)
    return matrix, valid_rows


def column_codes(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, list]:
    """``(codes, values)``: each row's index into ``values``, the column's distinct raw values
    (Python objects; missing as ``None``). A column the frame lacks is all ``None``.

    Values that compare equal give one entry (``315`` and ``315.0`` read alike everywhere),
    except in a column mixing booleans with numbers (``True == 1`` but ``True`` is read as a
    flag): such a column keeps one entry per row."""
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=np.int64), [None]
    series = frame[column]
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) == "mixed":
        values = [None if _is_na(v) else v for v in series.tolist()]
        return np.arange(len(values), dtype=np.int64), values
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    values = [None if _is_na(v) else v for v in uniques.tolist()] + [None]
    codes = np.where(codes < 0, len(values) - 1, codes).astype(np.int64)
    return codes, values


PLAIN_INTEGER = re.compile(r"0|-?[1-9][0-9]{0,13}")  # already canonical: below 1e15, no padding


def canonical_keys(values: list) -> list[str | None]:
    """:func:`vigil.fraud.schema.canonical_key` of each value; a plain integer string (the
    usual id or card number) is its own key, so it skips the float round-trip."""
    return [
        value
        if type(value) is str and PLAIN_INTEGER.fullmatch(value)
        else schema.canonical_key(value)
        for value in values
    ]


def _is_na(value) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


@dataclass
class FeatureMatrix:
    """A chunk's feature vectors and, per row, why its vector is not finite ('' when it is)."""

    values: np.ndarray  # float32 [rows, dim]
    reasons: np.ndarray  # object [rows]


def featurize(featurizer: Featurizer, frame: pd.DataFrame) -> FeatureMatrix:
    """``Featurizer.transform`` of every row: the featurizer's own per-value arithmetic on each
    distinct value of a column, spread to the rows by index."""
    spec = featurizer.spec
    n = len(frame)
    values = np.zeros((n, spec.dim), dtype=np.float32)
    reasons = np.full(n, "", dtype=object)
    for j, feature in enumerate(spec.numeric):
        codes, raw = column_codes(frame, feature.column)
        mapped = np.empty(len(raw), dtype=np.float32)
        finite = np.ones(len(raw), dtype=bool)
        for u, value in enumerate(raw):
            try:
                mapped[u] = numeric_feature(feature, value)
            except NonFiniteFeature:
                mapped[u], finite[u] = 0.0, False
        values[:, j] = mapped[codes]
        bad = ~finite[codes] & (reasons == "")
        reasons[bad] = str(NonFiniteFeature(feature.column))
    offset = len(spec.numeric)
    for cat in spec.categorical:
        index = {value: i for i, value in enumerate(cat.values)}
        codes, raw = column_codes(frame, cat.column)
        positions = np.array([index.get(key, -1) for key in canonical_keys(raw)], dtype=np.int64)[
            codes
        ]
        hit = positions >= 0
        values[np.flatnonzero(hit), offset + positions[hit]] = 1.0
        offset += len(cat.values)
    return FeatureMatrix(values, reasons)


def transaction_ids(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's canonical ``TransactionID`` (object) and whether it is an integer id."""
    id_codes, raw_ids = column_codes(frame, schema.ID_COLUMN)
    keys = canonical_keys(raw_ids)
    ok_id = np.array([k is not None and k.lstrip("-").isdigit() for k in keys], dtype=bool)
    return np.array(keys, dtype=object)[id_codes], ok_id[id_codes]


@dataclass
class ChunkScores:
    """One chunk's answers: scored rows (input order) and rejected rows with reasons."""

    ids: list[str]
    pred_prob: np.ndarray  # float64
    flag: np.ndarray  # object: FLAG_FRAUD / FLAG_LEGIT
    rejects: list[dict]

    def score_rows(self) -> list[dict]:
        return [
            {schema.ID_COLUMN: tid, "pred_prob": float(prob), "flag": flag}
            for tid, prob, flag in zip(self.ids, self.pred_prob, self.flag, strict=True)
        ]


@dataclass
class _Chunk:
    """A chunk's rows once read: canonical ids, features, reasons so far, snapshot lookups."""

    ids: np.ndarray  # object: the canonical TransactionID (None when not one)
    raw_ids: np.ndarray  # object: the id as the file spells it ('' when missing)
    features: np.ndarray  # float32 [rows, dim]
    reasons: np.ndarray  # object: why a row is rejected, '' while it is not
    lookups: dict

    def rejects(self, first_row: int) -> list[dict]:
        return [
            {
                "row": first_row + int(i),
                schema.ID_COLUMN: self.raw_ids[i],
                "reason": self.reasons[i],
            }
            for i in np.flatnonzero(self.reasons != "")
        ]


def _base64(vector: np.ndarray) -> str:
    """:func:`vigil.fraud.features.encode_vector` of a float32 row."""
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


class BatchScorer:
    """A loaded model and graph snapshot; scores whole chunks of rows with array arithmetic."""

    def __init__(self, predictor, graph: GraphSnapshot, threshold: float | None = None):
        if predictor.featurizer is None:
            raise ValueError("the model has no featurizer.json: batch scoring needs raw rows")
        self.predictor = predictor
        self.model = predictor.model
        self.featurizer = predictor.featurizer
        self.calibration = predictor.calibration
        self.columns = list(predictor.model.entity_types)
        self.graph = graph
        self.threshold = threshold
        if self.threshold is None:
            model_threshold = predictor.bundle.threshold
            self.threshold = DEFAULT_THRESHOLD if model_threshold is None else model_threshold

    @property
    def input_columns(self) -> list[str]:
        """The raw columns scoring reads: the id, the time (entity ages), the featurizer's and
        the entity columns."""
        return [
            schema.ID_COLUMN,
            schema.TIME_COLUMN,
            *self.featurizer.spec.raw_columns,
            *self.columns,
        ]

    @classmethod
    def load(cls, model_dir, processed, threshold: float | None = None) -> BatchScorer:
        from vigil.fraud.serving import FraudPredictor

        predictor = FraudPredictor.load(model_dir)
        graph = GraphSnapshot.load(processed, predictor.model.entity_types, predictor.dim)
        return cls(predictor, graph, threshold)

    def score(self, rows) -> tuple[list[dict], list[dict]]:
        """(scores, rejects) as lists of dicts for rows (a DataFrame or mappings), input order."""
        frame = rows if isinstance(rows, pd.DataFrame) else rows_frame(rows)
        chunk = self.score_frame(frame)
        return chunk.score_rows(), chunk.rejects

    def score_frame(
        self, frame: pd.DataFrame, *, first_row: int = 1, seen: set[str] | None = None
    ) -> ChunkScores:
        """Scores of one chunk whose first row is data row ``first_row``; ``seen`` holds the ids
        scored in earlier chunks (updated here) so a duplicate across chunks is rejected too."""
        chunk = self._prepare(frame, seen)
        kept, logits = [], []
        for rows, contexts, ok in self._batches(chunk):
            logits.append(self._logits(chunk.features[rows[ok]], contexts, ok))
            kept.append(rows[ok])
        kept = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
        logits = np.concatenate(logits) if logits else np.zeros(0)
        pred_prob = _sigmoid(self.calibration.a * logits + self.calibration.b)
        flag = np.where(pred_prob >= self.threshold, FLAG_FRAUD, FLAG_LEGIT).astype(object)
        return ChunkScores(chunk.ids[kept].tolist(), pred_prob, flag, chunk.rejects(first_row))

    def endpoint_requests(
        self, frame: pd.DataFrame, *, first_row: int = 1, seen: set[str] | None = None
    ) -> tuple[list[dict], list[dict]]:
        """(requests, rejects): for each row that scores, the request the scoring API would
        send the endpoint (``vigil.fraud.serving``'s schema: base64 features and each entity's
        ``key``, ``feat_sum``, ``degree``), what a Batch Transform of the endpoint's model reads.
        """
        chunk = self._prepare(frame, seen)
        requests = []
        for rows, contexts, ok in self._batches(chunk, sums=True):
            for j in np.flatnonzero(ok):
                row = rows[j]
                entities = {}
                for k, column in enumerate(self.columns):
                    if not contexts["present"][j, k]:
                        entities[column] = None
                        continue
                    entities[column] = {
                        "key": chunk.lookups["keys"][row, k],
                        "feat_sum": _base64(contexts["feat_sum"][j, k]),
                        "degree": int(contexts["degree"][j, k]),
                    }
                    age = contexts["age"][j, k]
                    if not np.isnan(age):
                        entities[column]["age"] = float(age)
                requests.append(
                    {
                        "id": chunk.ids[row],
                        "features": _base64(chunk.features[row]),
                        "entities": entities,
                    }
                )
        return requests, chunk.rejects(first_row)

    def _prepare(self, frame: pd.DataFrame, seen: set[str] | None) -> _Chunk:
        seen = set() if seen is None else seen
        reasons = np.full(len(frame), "", dtype=object)
        id_codes, raw_ids = column_codes(frame, schema.ID_COLUMN)
        ids, ok_id = transaction_ids(frame)
        reasons[~ok_id] = "TransactionID is not an integer"
        candidates = np.flatnonzero(reasons == "")
        repeated = pd.Series(ids[candidates]).duplicated().to_numpy() | np.fromiter(
            (tid in seen for tid in ids[candidates]), bool, len(candidates)
        )
        reasons[candidates[repeated]] = "duplicate TransactionID (first occurrence scored)"
        seen.update(ids[candidates[~repeated]].tolist())
        features = featurize(self.featurizer, frame)
        reasons = np.where(reasons == "", features.reasons, reasons)
        raw_text = np.array(["" if v is None else str(v) for v in raw_ids], dtype=object)
        return _Chunk(
            ids=ids,
            raw_ids=raw_text[id_codes],
            features=features.values,
            reasons=reasons,
            lookups=self._lookups(frame, ids),
        )

    def _batches(self, chunk: _Chunk, sums: bool = False):
        """``(rows, contexts, ok)`` per model batch; ``ok``: the rows that score."""
        n = len(chunk.ids)
        for start in range(0, n, MODEL_BATCH_ROWS):
            rows = np.arange(start, min(start + MODEL_BATCH_ROWS, n))
            contexts = self._contexts(rows, chunk.lookups, chunk.features, chunk.reasons, sums)
            ok = chunk.reasons[rows] == ""
            if ok.any():
                yield rows, contexts, ok

    def _lookups(self, frame: pd.DataFrame, ids: np.ndarray) -> dict:
        """Per row and entity column [rows, types]: whether the row has a key, the key's row in
        the snapshot (-1: none) and in the model (-1: unseen); whether the ETL saw the row."""
        n, t = len(frame), len(self.columns)
        has_key = np.zeros((n, t), dtype=bool)
        stored = np.full((n, t), -1, dtype=np.int64)
        model_index = np.full((n, t), -1, dtype=np.int64)
        row_keys = np.empty((n, t), dtype=object)
        for k, column in enumerate(self.columns):
            position = self.graph.entities[column].position
            codes, raw = column_codes(frame, column)
            keys = canonical_keys(raw)
            has_key[:, k] = np.array([key is not None for key in keys], dtype=bool)[codes]
            row_keys[:, k] = np.array(keys, dtype=object)[codes]
            stored[:, k] = np.array([position.get(key, -1) for key in keys], dtype=np.int64)[codes]
            known = [self.predictor.bundle.index_of(column, key) for key in keys]
            model_index[:, k] = np.array([-1 if i is None else i for i in known], np.int64)[codes]
        in_graph = np.fromiter((tid in self.graph.transactions for tid in ids), bool, n)
        if schema.TIME_COLUMN in frame:  # as the scoring API reads it: an integer, or unknown
            dt = np.trunc(pd.to_numeric(frame[schema.TIME_COLUMN], errors="coerce").to_numpy(float))
        else:
            dt = np.full(n, np.nan)
        return {
            "dt": dt,
            "has_key": has_key,
            "stored": stored,
            "model_index": model_index,
            "in_graph": in_graph,
            "keys": row_keys,
        }

    def _contexts(
        self, rows: np.ndarray, lookups: dict, x: np.ndarray, reasons, sums: bool = False
    ) -> dict:
        """The entity context of ``rows`` as arrays over [rows, types] (``reasons`` gets the rows
        whose entity state cannot be scored: a malformed stored state, an overflowing sum);
        ``sums``: keep each entity's ``feat_sum`` too."""
        x = x[rows]
        n, dim, t = len(rows), x.shape[1], len(self.columns)
        in_graph = lookups["in_graph"][rows]
        index = np.full((n, t), -1, dtype=np.int64)
        mean = np.empty((n, t, dim), dtype=np.float32)
        feat_sum = np.empty((n, t, dim), dtype=np.float32) if sums else None
        degrees = np.ones((n, t), dtype=np.float64)
        present = np.zeros((n, t), dtype=bool)
        ages = np.full((n, t), np.nan, dtype=np.float64)
        dt = lookups["dt"][rows]
        for k, column in enumerate(self.columns):
            table = self.graph.entities[column]
            stored = lookups["stored"][rows, k]
            found = stored >= 0
            # a transaction the ETL saw counts in its entities' stored state already; a value the
            # ETL did not record for it is left out, as the scoring API's read leaves it out
            use = lookups["has_key"][rows, k] & (found | ~in_graph)
            total = x.copy()  # a new entity (and any row without one: finite, never used)
            degree = np.ones(n, dtype=np.float32)
            first = dt.copy()  # a new entity's first_dt: this transaction's time
            if found.any():
                at = stored[found]
                adds = ~in_graph[found]
                state = table.feat_sum[at]
                with np.errstate(over="ignore"):  # an overflowing sum is a reject, below
                    state[adds] += x[found][adds]  # float32, as the scoring API's insert adds
                total[found] = state
                degree[found] = table.degree[at] + adds
                if table.first_dt is not None:  # the smaller of the stored one and this time
                    stored_first = table.first_dt[at]
                    first[found] = np.where(adds, np.fmin(stored_first, dt[found]), stored_first)
                    first[found] = np.where(np.isnan(stored_first), np.nan, first[found])
                else:
                    first[found] = np.nan
                open_rows = reasons[rows] == ""
                broken = np.zeros(n, dtype=bool)
                broken[found] = ~table.valid[at]
                broken &= use & open_rows
                reasons[rows[broken]] = malformed_state_reason(column)
            else:
                open_rows, broken = reasons[rows] == "", np.zeros(n, dtype=bool)
            overflow = use & ~broken & open_rows & ~np.isfinite(total).all(axis=1)
            reasons[rows[overflow]] = str(EntityOverflow(column))
            index[:, k] = np.where(use, lookups["model_index"][rows, k], -1)
            # the endpoint's neighbour mean: feat_sum / degree in float32
            np.divide(total, degree[:, None], out=mean[:, k])
            if feat_sum is not None:
                feat_sum[:, k] = total
            degrees[:, k] = np.where(use, degree, 1.0)
            present[:, k] = use
            ages[:, k] = dt - first  # NaN when either is unknown (schema.entity_age)
        contexts = {
            "index": index,
            "mean": mean,
            "degree": degrees,
            "present": present,
            "age": ages,
        }
        if feat_sum is not None:
            contexts["feat_sum"] = feat_sum
        return contexts

    def _logits(self, x: np.ndarray, contexts: dict, ok: np.ndarray) -> np.ndarray:
        import torch

        from vigil.fraud.context import DenseContexts

        if not ok.all():
            contexts = {name: array[ok] for name, array in contexts.items() if name != "feat_sum"}
        present = torch.from_numpy(contexts["present"])
        dense = DenseContexts(
            index=torch.from_numpy(contexts["index"]),
            mean=torch.from_numpy(contexts["mean"]),
            has_mean=present.clone(),
            degree=torch.from_numpy(contexts["degree"]),
            present=present,
            age=torch.from_numpy(contexts["age"]),
        )
        with torch.inference_mode():
            return self.model.dense_logits(torch.from_numpy(x), dense).double().numpy()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``vigil.fraud.calibration.sigmoid`` over an array (stable on both sides)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def rows_frame(rows: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """Mappings of raw values as a frame of Python objects (no dtype inference)."""
    rows = list(rows)
    columns = list(dict.fromkeys(c for row in rows for c in row))
    return pd.DataFrame(
        [[row.get(c) for c in columns] for row in rows], columns=columns, dtype=object
    )


def read_chunks(
    transactions: str | Path,
    identity: str | Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    columns: Iterable[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """The input file in chunks of raw rows, identity columns joined by id. CSV values stay
    strings (missing as ''), Parquet columns keep their types. ``columns``: read only these
    (and the id); the rest of a wide IEEE-CIS file is never parsed."""
    wanted = None if columns is None else {schema.ID_COLUMN, *columns}
    ident = None
    if identity is not None:
        ident = _read_whole(identity, wanted)
        ident.columns = [schema.normalize_identity_column(c) for c in ident.columns]
        ident[schema.ID_COLUMN] = ident[schema.ID_COLUMN].astype(str)
        ident = ident.drop_duplicates(schema.ID_COLUMN)
    for chunk in _read_parts(transactions, chunk_rows, wanted):
        if ident is not None:
            keep = [c for c in ident.columns if c == schema.ID_COLUMN or c not in chunk.columns]
            chunk = chunk.assign(**{schema.ID_COLUMN: chunk[schema.ID_COLUMN].astype(str)})
            chunk = chunk.merge(ident[keep], on=schema.ID_COLUMN, how="left")
        yield chunk.reset_index(drop=True)


def _is_parquet(path) -> bool:
    return str(path).lower().endswith((".parquet", ".pq"))


def _selector(wanted: set[str] | None):
    if wanted is None:
        return None
    return lambda name: schema.normalize_identity_column(name) in wanted


def _parquet_columns(path, wanted: set[str] | None) -> list[str] | None:
    if wanted is None:
        return None
    import pyarrow.parquet as pq

    names = pq.ParquetFile(path).schema_arrow.names
    return [name for name in names if schema.normalize_identity_column(name) in wanted]


def _read_whole(path, wanted: set[str] | None = None) -> pd.DataFrame:
    if _is_parquet(path):
        return pd.read_parquet(path, columns=_parquet_columns(path, wanted))
    return pd.read_csv(path, dtype=str, keep_default_na=False, usecols=_selector(wanted))


def _read_parts(path, chunk_rows: int, wanted: set[str] | None) -> Iterator[pd.DataFrame]:
    if _is_parquet(path):
        import pyarrow.parquet as pq

        batches = pq.ParquetFile(path).iter_batches(
            batch_size=chunk_rows, columns=_parquet_columns(path, wanted)
        )
        for batch in batches:
            yield batch.to_pandas()
        return
    yield from pd.read_csv(
        path, dtype=str, keep_default_na=False, chunksize=chunk_rows, usecols=_selector(wanted)
    )


def read_rows(
    transactions: str | Path,
    identity: str | Path | None = None,
    columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The whole input as one frame (see :func:`read_chunks`)."""
    parts = list(read_chunks(transactions, identity, DEFAULT_CHUNK_ROWS, columns))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


SCORE_COLUMNS = [schema.ID_COLUMN, "pred_prob", "flag"]
REJECT_COLUMNS = ["row", schema.ID_COLUMN, "reason"]


def score_file(
    scorer: BatchScorer,
    transactions: str | Path,
    identity: str | Path | None,
    output: str | Path,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    processes: int = 1,
    load_args: tuple | None = None,
) -> dict:
    """Score the file chunk by chunk into ``output``/scores.csv and rejects.csv; the counts.
    ``processes`` > 1: chunks scored in that many processes, each loading the scorer from
    ``load_args`` (``BatchScorer.load``'s), written in input order."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    counts = {"rows": 0, "scored": 0, "rejected": 0, "flagged": 0}
    seen: set[str] = set()
    with (
        (out / "scores.csv").open("w", newline="", encoding="utf-8") as scores_file,
        (out / "rejects.csv").open("w", newline="", encoding="utf-8") as rejects_file,
    ):
        scores_file.write(",".join(SCORE_COLUMNS) + "\n")
        rejects = csv.DictWriter(rejects_file, fieldnames=REJECT_COLUMNS)
        rejects.writeheader()
        chunks = read_chunks(transactions, identity, chunk_rows, scorer.input_columns)
        for chunk, result in _scored_chunks(scorer, chunks, seen, processes, load_args):
            pd.DataFrame(
                {
                    schema.ID_COLUMN: result.ids,
                    "pred_prob": result.pred_prob,
                    "flag": result.flag,
                }
            ).to_csv(scores_file, header=False, index=False)
            rejects.writerows(result.rejects)
            counts["rows"] += len(chunk)
            counts["scored"] += len(result.ids)
            counts["rejected"] += len(result.rejects)
            counts["flagged"] += int((result.flag == FLAG_FRAUD).sum())
    return counts


def _scored_chunks(scorer, chunks, seen: set[str], processes: int, load_args):
    """``(chunk, ChunkScores)`` in input order, scored here or by a pool of processes. A pool's
    worker gets, with its chunk, the chunk's ids already scored in earlier chunks, so it rejects
    the same duplicates as one process does."""
    if processes <= 1:
        first_row = 1
        for chunk in chunks:
            yield chunk, scorer.score_frame(chunk, first_row=first_row, seen=seen)
            first_row += len(chunk)
        return
    import multiprocessing

    held: list[pd.DataFrame] = []

    def tasks():
        first_row = 1
        for chunk in chunks:
            ids, ok = transaction_ids(chunk)
            valid = set(ids[ok].tolist())
            earlier = valid & seen
            seen.update(valid)
            held.append(chunk)
            yield chunk, first_row, earlier
            first_row += len(chunk)

    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_load_worker, initargs=load_args) as pool:
        for result in pool.imap(_score_in_worker, tasks()):
            yield held.pop(0), result


_WORKER_SCORER: BatchScorer | None = None


def _load_worker(model_dir, processed, threshold) -> None:
    import torch

    global _WORKER_SCORER
    torch.set_num_threads(1)  # one core per process: the pool is the parallelism
    _WORKER_SCORER = BatchScorer.load(model_dir, processed, threshold)


def _score_in_worker(task) -> ChunkScores:
    frame, first_row, earlier = task
    return _WORKER_SCORER.score_frame(frame, first_row=first_row, seen=set(earlier))


def write_requests(
    scorer: BatchScorer,
    transactions: str | Path,
    identity: str | Path | None,
    output: str | Path,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    lines_per_file: int = REQUEST_LINES_PER_FILE,
) -> dict:
    """The endpoint requests of the file's rows as JSON lines (``requests-<n>.jsonl``, the
    input of the Batch Transform of the endpoint's model) and ``rejects.csv``; the counts."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    counts = {"rows": 0, "requests": 0, "rejected": 0, "files": 0}
    seen: set[str] = set()
    pending: list[str] = []

    def flush() -> None:
        if pending:
            path = out / f"requests-{counts['files']:05d}.jsonl"
            path.write_text("".join(pending), encoding="utf-8")
            counts["files"] += 1
            pending.clear()

    with (out / "rejects.csv").open("w", newline="", encoding="utf-8") as rejects_file:
        rejects = csv.DictWriter(rejects_file, fieldnames=REJECT_COLUMNS)
        rejects.writeheader()
        for chunk in read_chunks(transactions, identity, chunk_rows, scorer.input_columns):
            requests, rejected = scorer.endpoint_requests(
                chunk, first_row=counts["rows"] + 1, seen=seen
            )
            for request in requests:
                pending.append(json.dumps(request, separators=(",", ":")) + "\n")
                if len(pending) >= lines_per_file:
                    flush()
            rejects.writerows(rejected)
            counts["rows"] += len(chunk)
            counts["requests"] += len(requests)
            counts["rejected"] += len(rejected)
    flush()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--transactions", required=True, help="CSV or Parquet, IEEE-CIS layout")
    parser.add_argument("--identity", default=None, help="identity file joined on TransactionID")
    parser.add_argument("--processed", required=True, help="the ETL output holding neptune/")
    parser.add_argument("--model-dir", required=True, help="the trained model (model_config.json)")
    parser.add_argument("--output", required=True, help="folder for scores.csv and rejects.csv")
    parser.add_argument(
        "--requests-out",
        action="store_true",
        help="write the endpoint requests (JSON lines for a Batch Transform) instead of scores",
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="flag at this instead of the model's"
    )
    parser.add_argument(
        "--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS, help="rows read and scored at a time"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="score chunks in this many processes (cores)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    scorer = BatchScorer.load(args.model_dir, args.processed, args.threshold)
    loaded = time.perf_counter()
    if args.requests_out:
        counts = write_requests(
            scorer, args.transactions, args.identity, args.output, args.chunk_rows
        )
    else:
        counts = score_file(
            scorer,
            args.transactions,
            args.identity,
            args.output,
            args.chunk_rows,
            processes=args.processes,
            load_args=(args.model_dir, args.processed, args.threshold),
        )
    scored = time.perf_counter()
    print(
        json.dumps(
            {
                **counts,
                "load_seconds": round(loaded - started, 3),
                "score_seconds": round(scored - loaded, 3),
                "output": str(args.output),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
