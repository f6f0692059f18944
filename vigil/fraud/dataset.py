"""The training channel (ETL output, or generic edge lists) → arrays → a DGL heterograph.

Reads what ``glue/fraud_etl.py`` writes (``features/``, ``labels/``, ``edges/relation_*_edgelist/``,
``featurizer.json``; folders of CSV part files or single ``.csv`` files) and also graphs that did
not come from our ETL:

* ``features.csv`` / ``features/``: ``TransactionID`` then one column per feature (any names);
* ``labels.csv`` / ``tags.csv`` / ``labels/``: ``TransactionID, isFraud`` and optionally
  ``TransactionDT`` and ``split`` (``train``/``valid``/``test``). Without ``split``, the latest
  20% by ``TransactionDT`` (or by row order) is test and the 10% before it validation;
  a ``test.csv`` listing TransactionIDs marks the test rows explicitly;
* ``relation_<type>_edgelist.csv`` (anywhere in the channel, or folders of that name): two
  columns, transaction id then entity key, many-to-many rows allowed (duplicates are dropped).

Node types: ``transaction`` plus one per edge-list type; edges in both directions per type
(``txn><type>`` and ``<type>>txn``, see ``vigil.fraud.schema``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vigil.fraud import schema

LOG = logging.getLogger(__name__)


@dataclass
class FraudGraphData:
    transaction_ids: np.ndarray  # int64 [N], node index → TransactionID
    features: np.ndarray  # float32 [N, D]
    labels: np.ndarray  # int64 [N], -1 when unknown
    split: np.ndarray  # object [N]: train / valid / test
    entity_keys: dict[str, list[str]]  # type → index → key
    edges: dict[str, tuple[np.ndarray, np.ndarray]]  # type → (transaction index, entity index)
    feature_names: list[str] = field(default_factory=list)
    featurizer: dict | None = None
    transaction_dt: np.ndarray | None = None

    @property
    def entity_types(self) -> list[str]:
        return list(self.entity_keys)

    def mask(self, split: str) -> np.ndarray:
        return (self.split == split) & (self.labels >= 0)

    def known_entities(self, split: str = schema.SPLIT_TRAIN) -> dict[str, np.ndarray]:
        """Per type, whether each entity touches at least one labelled ``split`` transaction."""
        rows = self.mask(split)
        known = {}
        for etype, (tx, ent) in self.edges.items():
            flag = np.zeros(len(self.entity_keys[etype]), dtype=bool)
            flag[ent[rows[tx]]] = True
            known[etype] = flag
        return known

    def entity_state(self, etype: str) -> tuple[np.ndarray, np.ndarray]:
        """Every ``etype`` entity's ``feat_sum`` (float32 [n, D]) and degree (int64 [n]) over
        the whole graph, with the ETL's arithmetic: float64 sums of the float32 vectors, stored
        as float32 (what the live graph holds for each entity). Cached."""
        cache = self.__dict__.setdefault("_entity_state", {})
        if etype not in cache:
            import torch

            tx, ent = self.edges[etype]
            n = len(self.entity_keys[etype])
            rows = torch.from_numpy(self.features.astype(np.float64)[tx])
            index = torch.from_numpy(np.asarray(ent, dtype=np.int64))
            total = torch.zeros(n, self.features.shape[1], dtype=torch.float64)
            total.index_add_(0, index, rows)
            cache[etype] = (
                total.numpy().astype(np.float32),
                np.bincount(ent, minlength=n).astype(np.int64),
            )
        return cache[etype]

    def entity_first_dt(self, etype: str) -> np.ndarray:
        """Every ``etype`` entity's earliest ``TransactionDT`` (int64 [n]) over the whole graph:
        the ``first_dt`` the ETL writes for it. Needs ``transaction_dt``."""
        if self.transaction_dt is None:
            raise ValueError("the training data has no TransactionDT: no entity recency")
        tx, ent = self.edges[etype]
        first = np.full(len(self.entity_keys[etype]), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, ent, self.transaction_dt[tx])
        return first

    def entity_mean(self, etype: str) -> tuple[np.ndarray, np.ndarray]:
        """(``feat_sum / degree`` in float32, degree) of every ``etype`` entity."""
        feat_sum, degree = self.entity_state(etype)
        return feat_sum / np.maximum(degree, 1).astype(np.float32)[:, None], degree

    def build_graph(self):
        """The DGL heterograph (both directions per entity type)."""
        import torch

        from vigil.dgl_compat import dgl

        data = {}
        num_nodes = {schema.TRANSACTION_NTYPE: len(self.transaction_ids)}
        for etype, (tx, ent) in self.edges.items():
            tx_t = torch.from_numpy(np.array(tx, dtype=np.int64))  # a writable copy
            ent_t = torch.from_numpy(np.array(ent, dtype=np.int64))
            data[(schema.TRANSACTION_NTYPE, schema.forward_relation(etype), etype)] = (tx_t, ent_t)
            data[(etype, schema.reverse_relation(etype), schema.TRANSACTION_NTYPE)] = (ent_t, tx_t)
            num_nodes[etype] = len(self.entity_keys[etype])
        return dgl.heterograph(data, num_nodes_dict=num_nodes)


# --- reading -------------------------------------------------------------------------------------------
def _csv_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix == ".csv")


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    files = _csv_files(path)
    if not files:
        raise FileNotFoundError(f"no CSV files in {path}")
    frames = [pd.read_csv(f, **kwargs) for f in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _find(root: Path, *names: str) -> Path | None:
    for name in names:
        candidate = root / name
        if candidate.exists():
            return candidate
    return None


def find_edge_lists(root: Path) -> dict[str, Path]:
    """``relation_<type>_edgelist`` files or folders in ``root`` and ``root/edges``."""
    found: dict[str, Path] = {}
    for folder in (root, root / schema.EDGES_FOLDER):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            match = schema.EDGELIST_PATTERN.match(path.name)
            if match and (path.is_dir() or path.suffix == ".csv"):
                found.setdefault(match.group("type"), path)
    return found


def _time_split(order_key: np.ndarray, test_fraction: float, valid_fraction: float) -> np.ndarray:
    n = len(order_key)
    order = np.argsort(order_key, kind="stable")
    n_train = round(n * (1 - test_fraction - valid_fraction))
    n_valid = round(n * (1 - test_fraction)) - n_train
    split = np.empty(n, dtype=object)
    split[order[:n_train]] = schema.SPLIT_TRAIN
    split[order[n_train : n_train + n_valid]] = schema.SPLIT_VALID
    split[order[n_train + n_valid :]] = schema.SPLIT_TEST
    return split


def load_training_data(
    channel: str | Path,
    *,
    test_fraction: float = schema.DEFAULT_TEST_FRACTION,
    valid_fraction: float = schema.DEFAULT_VALID_FRACTION,
) -> FraudGraphData:
    """Load a training channel (see the module docstring for the accepted layouts)."""
    root = Path(channel)
    if not root.is_dir():
        raise FileNotFoundError(f"training channel {root} is not a folder")
    features_path = _find(root, schema.FEATURES_FOLDER, "features.csv")
    if features_path is None:
        raise FileNotFoundError(f"{root} has no features/ folder or features.csv")
    features = _read_csv(features_path)
    id_column = features.columns[0]
    features = features.rename(columns={id_column: schema.ID_COLUMN})
    if features[schema.ID_COLUMN].duplicated().any():
        raise ValueError(f"{features_path}: duplicate transaction ids")
    features = features.sort_values(schema.ID_COLUMN, kind="stable").reset_index(drop=True)
    ids = features[schema.ID_COLUMN].to_numpy(np.int64)
    x = features.drop(columns=[schema.ID_COLUMN]).to_numpy(np.float32)
    x = np.nan_to_num(x, nan=0.0)
    index = pd.Index(ids)

    labels_path = _find(root, schema.LABELS_FOLDER, "labels.csv", "tags.csv")
    y = np.full(len(ids), -1, dtype=np.int64)
    split = None
    dt = None
    if labels_path is not None:
        labels = _read_csv(labels_path)
        labels = labels.rename(columns={labels.columns[0]: schema.ID_COLUMN})
        position = index.get_indexer(labels[schema.ID_COLUMN].to_numpy(np.int64))
        ok = position >= 0
        if (~ok).any():
            LOG.warning("%d labelled transactions have no features; ignored", int((~ok).sum()))
        label_col = schema.LABEL_COLUMN if schema.LABEL_COLUMN in labels else labels.columns[1]
        y[position[ok]] = labels[label_col].fillna(-1).to_numpy(np.int64)[ok]
        if "split" in labels:
            split = np.full(len(ids), schema.SPLIT_TRAIN, dtype=object)
            split[position[ok]] = labels["split"].to_numpy(object)[ok]
        if schema.TIME_COLUMN in labels:
            dt = np.zeros(len(ids), dtype=np.int64)
            dt[position[ok]] = labels[schema.TIME_COLUMN].to_numpy(np.int64)[ok]
    if split is None:
        test_list = _find(root, "test.csv")
        if test_list is not None:
            test_ids = pd.read_csv(test_list, header=None).iloc[:, 0]
            test_ids = pd.to_numeric(test_ids, errors="coerce").dropna().to_numpy(np.int64)
            is_test = index.isin(test_ids)
            split = _time_split(dt if dt is not None else ids, 0.0 + 1e-12, valid_fraction)
            split[is_test] = schema.SPLIT_TEST
        else:
            split = _time_split(dt if dt is not None else ids, test_fraction, valid_fraction)

    entity_keys: dict[str, list[str]] = {}
    edges: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    edge_files = find_edge_lists(root)
    if not edge_files:
        raise FileNotFoundError(f"{root} has no relation_<type>_edgelist files or folders")
    for etype, path in edge_files.items():
        frame = _read_csv(path, dtype=str, keep_default_na=False)
        if frame.shape[1] < 2:
            raise ValueError(f"{path}: an edge list needs two columns (transaction id, key)")
        tx_raw, key_raw = frame.columns[0], frame.columns[1]
        tx_ids = pd.to_numeric(frame[tx_raw], errors="coerce")
        keys = frame[key_raw].map(schema.canonical_key)
        ok = tx_ids.notna() & keys.notna()
        position = index.get_indexer(tx_ids[ok].to_numpy(np.int64))
        keys = keys[ok].to_numpy(object)
        keep = position >= 0
        if (~keep).any():
            LOG.warning("%s: %d edges to unknown transactions ignored", etype, int((~keep).sum()))
        pairs = pd.DataFrame({"t": position[keep], "k": keys[keep]}).drop_duplicates()
        codes, uniques = pd.factorize(pairs["k"], sort=True)
        entity_keys[etype] = [str(k) for k in uniques]
        edges[etype] = (pairs["t"].to_numpy(np.int64), codes.astype(np.int64))

    spec_path = root / schema.FEATURIZER_FILE
    featurizer = json.loads(spec_path.read_text()) if spec_path.exists() else None
    names = list(featurizer["feature_names"]) if featurizer else list(features.columns[1:])
    if len(names) != x.shape[1]:
        raise ValueError(f"featurizer names {len(names)} features but the data has {x.shape[1]}")
    return FraudGraphData(
        transaction_ids=ids,
        features=x,
        labels=y,
        split=np.asarray(split, dtype=object),
        entity_keys=entity_keys,
        edges=edges,
        feature_names=names,
        featurizer=featurizer,
        transaction_dt=dt,
    )
