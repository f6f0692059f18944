"""The IEEE-CIS data layout and the fraud graph schema — one definition for every fraud component.

Used by the data generator, the Glue ETL (``glue/fraud_etl.py``), training, inference and the
real-time scoring path (Neptune queries, local Neptune stand-in). Pure Python, no third-party
imports, so a Lambda or the Glue job can import it cheaply.

Graph schema (Neptune openCypher bulk-load format and the live graph):

* ``Transaction`` nodes: ``~id`` = :func:`transaction_node_id` (``"t-<TransactionID>"``),
  properties ``id`` (TransactionID as a string), ``TransactionDT`` (Long), ``isFraud`` (Int,
  ``-1`` when unknown).
* One node label per entity column, :func:`entity_label` (``card1`` → ``Card1``, ``ProductCD`` →
  ``ProductCD``, ``P_emaildomain`` → ``PEmaildomain``, ``DeviceInfo`` → ``DeviceInfo``; see
  :data:`DEFAULT_ENTITY_LABELS`); ``~id`` = :func:`entity_node_id` (``"<column>-<key>"``),
  properties ``key`` (the canonical raw value as a string, :func:`canonical_key`), ``feat_sum``
  (base64 of the little-endian float32 sum of the feature vectors of the entity's transactions,
  see ``vigil.fraud.features.encode_vector``) and ``degree`` (Int, number of its transactions).
* One edge type per entity column, from the transaction to the entity: :func:`edge_type`
  (``card1`` → ``USES_CARD1``, ``P_emaildomain`` → ``USES_P_EMAILDOMAIN``); edge ``~id`` =
  :func:`edge_id`.

Bulk-load files (written by the ETL under ``<output>/neptune/``, one folder of CSV part files
each, every part with its own header): ``nodes_transaction/``, ``nodes_<column>/`` and
``edges_<column>/`` for each entity column (see :func:`bulk_load_folder`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

# --- IEEE-CIS columns ----------------------------------------------------------------------------
ID_COLUMN = "TransactionID"
LABEL_COLUMN = "isFraud"
TIME_COLUMN = "TransactionDT"
AMOUNT_COLUMN = "TransactionAmt"


def column_range(prefix: str, first: int, last: int, width: int = 0) -> list[str]:
    """``column_range("C", 1, 3)`` → ``["C1", "C2", "C3"]``; ``width=2`` zero-pads (``id_01``)."""
    return [f"{prefix}{i:0{width}d}" for i in range(first, last + 1)]


CARD_COLUMNS = column_range("card", 1, 6)
C_COLUMNS = column_range("C", 1, 14)
D_COLUMNS = column_range("D", 1, 15)
M_COLUMNS = column_range("M", 1, 9)
V_COLUMNS = column_range("V", 1, 339)

TRANSACTION_COLUMNS: list[str] = [
    ID_COLUMN,
    LABEL_COLUMN,
    TIME_COLUMN,
    AMOUNT_COLUMN,
    "ProductCD",
    *CARD_COLUMNS,
    "addr1",
    "addr2",
    "dist1",
    "dist2",
    "P_emaildomain",
    "R_emaildomain",
    *C_COLUMNS,
    *D_COLUMNS,
    *M_COLUMNS,
    *V_COLUMNS,
]
"""``train_transaction.csv`` columns, in Kaggle's order (394 columns)."""

ID_FEATURE_COLUMNS = column_range("id_", 1, 38, width=2)
IDENTITY_COLUMNS: list[str] = [ID_COLUMN, *ID_FEATURE_COLUMNS, "DeviceType", "DeviceInfo"]
"""``train_identity.csv`` columns, in Kaggle's order (41 columns)."""

IDENTITY_STRING_COLUMNS: list[str] = [
    "id_12",
    "id_15",
    "id_16",
    "id_23",
    "id_27",
    "id_28",
    "id_29",
    "id_30",
    "id_31",
    "id_33",
    "id_34",
    "id_35",
    "id_36",
    "id_37",
    "id_38",
    "DeviceType",
    "DeviceInfo",
]
"""Identity columns holding strings in the Kaggle files; every other ``id_NN`` is numeric."""

TRANSACTION_STRING_COLUMNS: list[str] = [
    "ProductCD",
    "card4",
    "card6",
    "P_emaildomain",
    "R_emaildomain",
    *M_COLUMNS,
]
"""Transaction columns holding strings; every other transaction column is numeric."""


def normalize_identity_column(name: str) -> str:
    """Kaggle's ``test_identity.csv`` spells ``id-01``; training files spell ``id_01``."""
    name = name.strip()
    return re.sub(r"^id-(\d+)$", r"id_\1", name)


# --- defaults for the ETL / featurizer (all overridable by job arguments) ------------------------
DEFAULT_ENTITY_COLUMNS: list[str] = [
    *CARD_COLUMNS,
    "ProductCD",
    "addr1",
    "addr2",
    "P_emaildomain",
    "R_emaildomain",
    "DeviceType",
    "DeviceInfo",
]
"""Columns whose values become entity nodes (one node type per column)."""

DEFAULT_LINK_ONLY_COLUMNS: list[str] = [
    "card3",
    "card4",
    "card5",
    "card6",
    "ProductCD",
    "addr2",
    "DeviceType",
]
"""Entity columns whose values are categories, not parties: linked online, refreshed by training.

Card brand and type, the low-cardinality card codes ``card3``/``card5``, the product code, the
billing country (``addr2``) and the device type are each shared by large, unrelated populations.
The scoring path links a new transaction to them and scores it with their state including that
transaction, but does not write their ``feat_sum``/``degree`` (each ETL + bulk load recomputes
them), as for hubs: one transaction says next to nothing new about a category; written from every
transaction they would be hot nodes in Neptune (concurrent writers of one node conflict); and
whether the insert updates them would otherwise depend on each value's degree, multiplying the
insert's query shapes (see ``docs/fraud-graph.md``). Cards, addresses, e-mail domains and devices
(the columns fraud rings share) are updated online."""

DEFAULT_CATEGORICAL_COLUMNS: list[str] = ["ProductCD", "card4", "card6", *M_COLUMNS, "DeviceType"]
"""Columns one-hot encoded into the transaction feature vector (vocabulary from training rows)."""

DEFAULT_NUMERIC_COLUMNS: list[str] = [AMOUNT_COLUMN, "dist1", "dist2", *C_COLUMNS, *D_COLUMNS]
"""Columns z-scored into the transaction feature vector (statistics from training rows).

The V and id columns are left out by default to keep the vector lean (they are mostly empty);
add them with the ETL's ``--numeric-cols`` (ranges allowed: ``V1-V339``)."""

DEFAULT_LOG_COLUMNS: list[str] = [AMOUNT_COLUMN]
"""Numeric columns transformed with ``sign(x)·log1p(|x|)`` before z-scoring."""

DEFAULT_MAX_CATEGORIES = 30
"""Most frequent values kept per one-hot column (training rows); the rest encode as all-zero."""

DEFAULT_TEST_FRACTION = 0.2
DEFAULT_VALID_FRACTION = 0.1

SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST = "train", "valid", "test"

MISSING_TOKENS = frozenset({"", "nan", "null", "none", "na"})
"""Raw values (case-insensitive, after stripping) that mean "missing"."""


def parse_columns(spec: str | Iterable[str] | None, default: list[str]) -> list[str]:
    """Parse a comma-separated column list with ranges: ``"card1-card6,ProductCD,V1-V20"``.

    A range ``<prefix><a>-<prefix><b>`` expands with the zero-padding of its first end
    (``id_01-id_05``). ``None`` or an empty string gives ``default``; ``"none"`` gives ``[]``.
    """
    if spec is None:
        return list(default)
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    items = [s for s in items if s]
    if not items:
        return list(default)
    if len(items) == 1 and items[0].lower() == "none":
        return []
    out: list[str] = []
    for item in items:
        match = re.fullmatch(r"([A-Za-z_]+?)(\d+)-([A-Za-z_]+?)(\d+)", item)
        if match and match.group(1) == match.group(3):
            prefix, first, last = match.group(1), match.group(2), match.group(4)
            width = len(first) if first.startswith("0") else 0
            out.extend(column_range(prefix, int(first), int(last), width))
        else:
            out.append(item)
    seen: set[str] = set()
    return [c for c in out if not (c in seen or seen.add(c))]


# --- values ----------------------------------------------------------------------------------------
def is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower() in MISSING_TOKENS


def canonical_key(value: object) -> str | None:
    """The canonical string form of a raw value: the entity key and the one-hot vocabulary value.

    Missing → ``None``; integral numbers lose their ``.0`` (``"315.0"``, ``315`` and ``315.0`` all
    give ``"315"``); anything else is its stripped string. The Glue ETL implements the same rule
    in Spark (``glue/fraud_etl.py:canonical_key_column``).
    """
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    text = value.strip() if isinstance(value, str) else str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number == math.floor(number) and abs(number) < 1e15:
        return str(int(number))
    return text


# --- graph schema ----------------------------------------------------------------------------------
TRANSACTION_LABEL = "Transaction"
TRANSACTION_NTYPE = "transaction"
"""DGL node type of transactions (entity node types are the column names)."""

KEY_PROPERTY = "key"
FEAT_SUM_PROPERTY = "feat_sum"
DEGREE_PROPERTY = "degree"
FIRST_DT_PROPERTY = "first_dt"
"""An entity's earliest ``TransactionDT``: kept exactly online (a minimum does not depend on the
order transactions arrive in), the graph-feature GBDT's entity age ``TransactionDT - first_dt``."""
TRANSACTION_ID_PROPERTY = "id"


def entity_age(transaction_dt: object, first_dt: object) -> float | None:
    """Seconds between an entity's first transaction and this one (``TransactionDT -
    first_dt``, both including this transaction), None when either is unknown."""
    if is_missing(transaction_dt) or is_missing(first_dt):
        return None
    try:
        return float(int(float(transaction_dt)) - int(float(first_dt)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def entity_label(column: str) -> str:
    """Neptune node label of an entity column: CamelCase of its ``_``-separated parts."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", column) if p]
    label = "".join(p[:1].upper() + p[1:] for p in parts)
    if not label or not label[0].isalpha():
        label = "E" + label
    return label


def edge_type(column: str) -> str:
    """Neptune relationship type from a transaction to an entity of this column."""
    return "USES_" + re.sub(r"[^0-9A-Za-z]+", "_", column).strip("_").upper()


def transaction_node_id(transaction_id: object) -> str:
    return f"t-{canonical_key(transaction_id)}"


def entity_node_id(column: str, key: str) -> str:
    return f"{column}-{key}"


def edge_id(column: str, transaction_id: object, key: str) -> str:
    return f"{column}-{canonical_key(transaction_id)}-{key}"


DEFAULT_ENTITY_LABELS: dict[str, str] = {c: entity_label(c) for c in DEFAULT_ENTITY_COLUMNS}
DEFAULT_EDGE_TYPES: dict[str, str] = {c: edge_type(c) for c in DEFAULT_ENTITY_COLUMNS}


# DGL relation names: one per direction per entity column.
def forward_relation(column: str) -> str:
    """DGL edge type transaction → entity."""
    return f"txn>{column}"


def reverse_relation(column: str) -> str:
    """DGL edge type entity → transaction."""
    return f"{column}>txn"


# --- bulk-load files -------------------------------------------------------------------------------
NEPTUNE_FOLDER = "neptune"
TRANSACTION_NODE_HEADER = [
    ":ID",
    ":LABEL",
    f"{TRANSACTION_ID_PROPERTY}:String",
    f"{TIME_COLUMN}:Long",
    f"{LABEL_COLUMN}:Int",
]
ENTITY_NODE_HEADER = [
    ":ID",
    ":LABEL",
    f"{KEY_PROPERTY}:String",
    f"{FEAT_SUM_PROPERTY}:String",
    f"{DEGREE_PROPERTY}:Int",
    f"{FIRST_DT_PROPERTY}:Long",
]
EDGE_HEADER = [":ID", ":START_ID", ":END_ID", ":TYPE"]


def bulk_load_folder(kind: str, column: str | None = None) -> str:
    """Folder (under ``<output>/neptune/``) of one bulk-load file set.

    ``kind`` is ``"transaction"`` (transaction nodes), ``"nodes"`` or ``"edges"`` (for ``column``).
    """
    if kind == "transaction":
        return "nodes_transaction"
    if kind in ("nodes", "edges") and column:
        return f"{kind}_{column}"
    raise ValueError(f"unknown bulk-load kind {kind!r} (column {column!r})")


# --- ETL output layout (the training channel) ------------------------------------------------------
FEATURES_FOLDER = "features"  # TransactionID, f_0..f_{d-1}
LABELS_FOLDER = "labels"  # TransactionID, TransactionDT, isFraud, split
EDGES_FOLDER = "edges"  # relation_<column>_edgelist/ : TransactionID, <column>
BAD_ROWS_FOLDER = "bad_rows"  # source, TransactionID, reason, raw
FEATURIZER_FILE = "featurizer.json"
ETL_REPORT_FILE = "etl_report.json"
FEATURE_PREFIX = "f_"


def edgelist_name(column: str) -> str:
    """Generic edge-list name the training reader accepts: ``relation_<column>_edgelist``."""
    return f"relation_{column}_edgelist"


EDGELIST_PATTERN = re.compile(r"^relation_(?P<type>.+)_edgelist(\.csv)?$")
