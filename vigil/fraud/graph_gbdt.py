"""The graph-feature GBDT — its one definition, used by training, offline scoring and serving.

Gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``) on a transaction's
own feature vector plus, for each entity type, what the live graph already keeps for every
entity: the MEAN feature vector of its transactions (``feat_sum / degree``) and its degree. So
the model is served with the same one read and one write as the RGCN, and online equals offline.

Design row of one transaction (:func:`design_width` values, float64)::

    x_t (D) | per entity type, in model order: mean of its entities' means (D), mean degree,
                                                number of entities of that type
                                                [, mean age: TransactionDT - first_dt, seconds]
                                                [, mean RGCN entity embedding (E)]

The age column is there when the model was trained with ``recency``: each entity's earliest
``TransactionDT`` (``first_dt``) is graph state kept exactly online (a minimum, whatever order
transactions arrive in) and computed the same way offline from the full graph. An entity type
the transaction does not use has NaN means and ages and 0 degree and count (the trees'
missing-value branch); an entity whose first_dt is unknown has a NaN age.

The embedding columns are there when the model was trained with an RGCN's entity embeddings
(``embedding_size`` > 0, ``--gbdt-rgcn-embeddings on``): the trained RGCN's learned vector of
each entity, frozen into this model as a lookup table (an entity the RGCN never learned, or a
fresh one, takes its type's mean, as in the RGCN). A table lookup needs no RGCN at scoring time,
so online still equals offline. An entity without a stored state (new, or unseen by the read) counts as a
fresh entity: its only transaction is the target (mean ``x_t``, degree 1) — the same rule as the
RGCN's ``neighbour_mean=None``.

Serving evaluates the trees itself (:class:`TreeEnsemble`; torch, or numba where installed, as
for batch scoring): the fitted trees are
exported as flat node arrays, so the endpoint needs neither scikit-learn nor a pickle, and a test
checks the export against scikit-learn's own ``decision_function``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

try:  # compiled tree walking for batch scoring; the endpoint image without numba walks in torch
    import numba
except ImportError:  # pragma: no cover - exercised where numba is not installed
    numba = None

from vigil.fraud.context import DenseContexts, densify

GBDT_FILE = "graph_gbdt.pt"


@dataclass
class GraphGBDTConfig:
    in_dim: int
    entity_types: list[str]
    max_iter: int = 300
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    l2_regularization: float = 1.0
    min_samples_leaf: int = 20
    recency: bool = False  # each type's entity age (TransactionDT - first_dt) as a column
    embedding_size: int = 0  # each type's RGCN entity embedding as columns (0: none)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def block(self) -> int:
        """Columns per entity type: mean (in_dim), degree, count[, age][, embedding]."""
        return self.in_dim + 2 + int(self.recency) + self.embedding_size


def design_width(in_dim: int, n_types: int, recency: bool = False, embedding_size: int = 0) -> int:
    return in_dim + n_types * (in_dim + 2 + int(recency) + embedding_size)


def design_names(
    feature_names: Sequence[str],
    entity_types: Sequence[str],
    recency: bool = False,
    embedding_size: int = 0,
) -> list[str]:
    names = list(feature_names)
    for etype in entity_types:
        names.extend(f"{etype}.mean.{name}" for name in feature_names)
        names.extend([f"{etype}.degree", f"{etype}.count"])
        if recency:
            names.append(f"{etype}.age")
        names.extend(f"{etype}.rgcn.{i}" for i in range(embedding_size))
    return names


def _walk_trees_python(
    rows, feature, threshold, missing_left, left, right, value, roots, depth, baseline
):
    out = np.empty(rows.shape[0])
    for r in range(rows.shape[0]):
        total = 0.0
        for t in range(roots.size):
            node = roots[t]
            for _ in range(depth):
                x = rows[r, feature[node]]
                goes_left = missing_left[node] if x != x else x <= threshold[node]
                step = left[node] if goes_left else right[node]
                if step == node:  # a leaf
                    break
                node = step
            total += value[node]
        out[r] = total + baseline
    return out


_walk_trees = numba.njit(cache=True)(_walk_trees_python) if numba is not None else None


class TreeEnsemble:
    """Boosted regression trees as flat node arrays; ``raw(X)`` = baseline + Σ leaf values.

    Node ``i``: ``feature[i]``, ``threshold[i]``; a row goes left when its value is NaN and
    ``missing_left[i]``, or when it is ``<= threshold[i]`` (scikit-learn's rule). A leaf's
    ``left``/``right`` point at itself, so every row walks ``depth`` steps and stays put.
    """

    FIELDS = ("feature", "threshold", "missing_left", "left", "right", "value", "roots")

    def __init__(self, arrays: Mapping[str, torch.Tensor], baseline: float, depth: int):
        self.feature = arrays["feature"].long()
        self.threshold = arrays["threshold"].double()
        self.missing_left = arrays["missing_left"].bool()
        self.left = arrays["left"].long()
        self.right = arrays["right"].long()
        self.value = arrays["value"].double()
        self.roots = arrays["roots"].long()
        self.baseline = float(baseline)
        self.depth = int(depth)
        if numba is not None:  # compile (or load from numba's cache) now, not on the first rows
            self.raw(torch.zeros((1, int(self.feature.max()) + 1), dtype=torch.float64))

    @classmethod
    def from_sklearn(cls, classifier) -> TreeEnsemble:
        """Export a fitted binary ``HistGradientBoostingClassifier`` (numeric features only)."""
        import numpy as np

        parts = {name: [] for name in cls.FIELDS if name != "roots"}
        roots, offset, depth = [], 0, 0
        for (predictor,) in classifier._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported")
            n = len(nodes)
            leaf = nodes["is_leaf"].astype(bool)
            own = np.arange(n) + offset
            parts["feature"].append(np.where(leaf, 0, nodes["feature_idx"]))
            parts["threshold"].append(nodes["num_threshold"])
            parts["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
            parts["left"].append(np.where(leaf, own, nodes["left"].astype(np.int64) + offset))
            parts["right"].append(np.where(leaf, own, nodes["right"].astype(np.int64) + offset))
            parts["value"].append(np.where(leaf, nodes["value"], 0.0))
            roots.append(offset)
            depth = max(depth, int(nodes["depth"].max()))
            offset += n
        arrays = {k: torch.from_numpy(np.concatenate(v)) for k, v in parts.items()}
        arrays["roots"] = torch.tensor(roots, dtype=torch.int64)
        baseline = float(np.ravel(classifier._baseline_prediction)[0])
        return cls(arrays, baseline, depth)

    def raw(self, rows: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Raw score (log-odds) of each row of ``rows`` ``[B, F]``: compiled where numba is
        installed (a row walks each tree until its leaf), else in torch (every row walks
        ``depth`` steps of every tree at once). Both add the trees' leaves in model order."""
        if numba is not None and rows.shape[0] > 0:
            return torch.from_numpy(
                _walk_trees(
                    rows.double().numpy(),
                    self.feature.numpy(),
                    self.threshold.numpy(),
                    self.missing_left.numpy(),
                    self.left.numpy(),
                    self.right.numpy(),
                    self.value.numpy(),
                    self.roots.numpy(),
                    self.depth,
                    self.baseline,
                )
            )
        return self._raw_torch(rows, chunk)

    def _raw_torch(self, rows: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        rows = rows.double()
        out = []
        for start in range(0, rows.shape[0], chunk):
            block = rows[start : start + chunk]
            node = self.roots.unsqueeze(0).expand(block.shape[0], -1)
            for _ in range(self.depth):
                value = block.gather(1, self.feature[node])
                left = torch.where(
                    torch.isnan(value), self.missing_left[node], value <= self.threshold[node]
                )
                node = torch.where(left, self.left[node], self.right[node])
            out.append(self.value[node].sum(dim=1) + self.baseline)
        return torch.cat(out) if out else rows.new_zeros(0)

    def state(self) -> dict:
        arrays = {name: getattr(self, name) for name in self.FIELDS}
        return {
            "arrays": arrays,
            "baseline": torch.tensor(self.baseline, dtype=torch.float64),
            "depth": torch.tensor(self.depth),
        }

    @classmethod
    def from_state(cls, state: Mapping) -> TreeEnsemble:
        return cls(state["arrays"], float(state["baseline"]), int(state["depth"]))


class GraphGBDT:
    """Trees over a transaction's features and its entities' graph state; logits per target."""

    kind = "graph-gbdt"

    def __init__(
        self,
        config: GraphGBDTConfig,
        trees: TreeEnsemble,
        embeddings: Mapping[str, torch.Tensor] | None = None,
    ):
        """``embeddings``: per entity type, the RGCN's table ``[entities + 1, E]`` whose last
        row is the type's mean (an unseen or fresh entity); needed when ``embedding_size``."""
        self.config = config
        self.trees = trees
        self.type_index = {t: i for i, t in enumerate(config.entity_types)}
        self.embeddings = {t: e.double() for t, e in (embeddings or {}).items()}
        if config.embedding_size and set(self.embeddings) != set(config.entity_types):
            raise ValueError("embedding_size needs an embedding table for every entity type")

    def embedding(self, etype: str, index: int | None) -> torch.Tensor:
        """The RGCN vector of entity ``index`` (the type's mean when None)."""
        table = self.embeddings[etype]
        return table[-1 if index is None else index]

    @property
    def in_dim(self) -> int:
        return self.config.in_dim

    @property
    def entity_types(self) -> list[str]:
        return list(self.config.entity_types)

    def design_rows(
        self,
        features: torch.Tensor,
        contexts: Sequence[Mapping[str, Sequence[tuple]]],
    ) -> torch.Tensor:
        """Design rows from serving contexts: ``contexts[b][etype]`` is a list of
        ``(index, neighbour_mean, degree[, age])`` (``neighbour_mean=None``: a fresh entity)."""
        dim, n_types, block = self.in_dim, len(self.config.entity_types), self.config.block
        config = self.config
        width = design_width(dim, n_types, config.recency, config.embedding_size)
        rows = torch.full((len(contexts), width), float("nan"), dtype=torch.float64)
        for b, context in enumerate(contexts):
            x_t = features[b].float()
            rows[b, :dim] = x_t.double()
            for etype, entities in context.items():
                if not entities:
                    continue
                start = dim + self.type_index[etype] * block
                means, degrees, ages = [], [], []
                for entity in entities:
                    mean = entity[1]
                    means.append(x_t if mean is None else mean.float())
                    degrees.append(1 if mean is None else int(entity[2]))
                    ages.append(0.0 if mean is None else _age(entity))
                mean = means[0] if len(means) == 1 else torch.stack(means).sum(0) / len(means)
                rows[b, start : start + dim] = mean.double()
                rows[b, start + dim] = sum(degrees) / len(degrees)
                rows[b, start + dim + 1] = len(entities)
                if config.recency:
                    rows[b, start + dim + 2] = sum(ages) / len(ages)
                if config.embedding_size:
                    vectors = [self.embedding(etype, entity[0]) for entity in entities]
                    at = start + dim + 2 + int(config.recency)
                    rows[b, at : at + config.embedding_size] = sum(vectors) / len(vectors)
        rows[:, :dim] = torch.nan_to_num(rows[:, :dim])
        return rows

    def dense_rows(self, features: torch.Tensor, dense: DenseContexts) -> torch.Tensor:
        """:meth:`design_rows` for targets with at most one entity per type, vectorised."""
        dim, block, recency = self.in_dim, self.config.block, self.config.recency
        size = self.config.embedding_size
        x = features.float()
        rows = torch.full(
            (x.shape[0], design_width(dim, len(self.config.entity_types), recency, size)),
            float("nan"),
            dtype=torch.float64,
        )
        rows[:, :dim] = x.double()
        means = torch.where(dense.has_mean.unsqueeze(-1), dense.mean, x.unsqueeze(1)).double()
        ages = None
        if recency:
            unknown = torch.full(dense.degree.shape, float("nan"), dtype=torch.float64)
            ages = torch.where(dense.has_mean, unknown if dense.age is None else dense.age, 0.0)
        for k in range(len(self.config.entity_types)):
            start, present = dim + k * block, dense.present[:, k]
            rows[present, start : start + dim] = means[present, k]
            rows[present, start + dim] = dense.degree[present, k]
            rows[present, start + dim + 1] = 1.0
            if ages is not None:
                rows[present, start + dim + 2] = ages[present, k]
            if size:
                table = self.embeddings[self.config.entity_types[k]]
                index = dense.index[:, k]
                vectors = table[torch.where(index >= 0, index, table.shape[0] - 1)]
                at = start + dim + 2 + int(recency)
                rows[present, at : at + size] = vectors[present]
        return rows

    def logits(self, features: torch.Tensor, contexts) -> torch.Tensor:
        dense = densify(contexts, self.config.entity_types, self.in_dim)
        if dense is not None:
            return self.dense_logits(features, dense)
        return self.trees.raw(self.design_rows(features, contexts))

    def dense_logits(self, features: torch.Tensor, dense: DenseContexts) -> torch.Tensor:
        return self.trees.raw(self.dense_rows(features, dense))

    def score_targets(self, features: torch.Tensor, contexts) -> torch.Tensor:
        return torch.sigmoid(self.logits(features, contexts))

    # -- artifacts ------------------------------------------------------------------------------
    def save(self, model_dir: str | Path) -> None:
        state = self.trees.state()
        if self.embeddings:
            state["embeddings"] = dict(self.embeddings)
        torch.save(state, Path(model_dir) / GBDT_FILE)

    @classmethod
    def load(cls, model_dir: str | Path, config: Mapping) -> GraphGBDT:
        state = torch.load(Path(model_dir) / GBDT_FILE, map_location="cpu", weights_only=True)
        trees = TreeEnsemble.from_state(state)
        return cls(GraphGBDTConfig(**config), trees, state.get("embeddings"))


def rgcn_embedding_tables(rgcn) -> dict[str, torch.Tensor]:
    """Per entity type, a trained RGCN's entity inputs (unknown entities as the type mean) with
    the type mean as the last row: what :class:`GraphGBDT` looks entities up in."""
    with torch.no_grad():
        return {
            etype: torch.cat(
                [rgcn.entity_input(etype), rgcn.mean_embedding(etype).unsqueeze(0)]
            ).double()
            for etype in rgcn.entity_types
        }


def _age(entity: Sequence) -> float:
    return float(entity[3]) if len(entity) > 3 and entity[3] is not None else float("nan")


# --- training side (numpy + scikit-learn) -------------------------------------------------------------
def offline_design(
    data,
    entity_types: Sequence[str] | None = None,
    recency: bool = False,
    embeddings: Mapping[str, torch.Tensor] | None = None,
):
    """Every transaction's design row from the full training graph (``FraudGraphData``), with
    the arithmetic the online path uses: each entity's ``feat_sum`` summed in float64 and kept as
    float32 (what the ETL writes to the graph), its mean ``feat_sum / degree`` in float32, and
    with ``recency`` its age ``TransactionDT - first_dt`` (first_dt: the earliest TransactionDT
    of its transactions, as the ETL writes it), with ``embeddings`` (:func:`rgcn_embedding_tables`)
    each entity's RGCN vector."""
    import numpy as np

    x = data.features.astype(np.float32)
    n, dim = x.shape
    types = list(entity_types or data.entity_types)
    size = next(iter(embeddings.values())).shape[1] if embeddings else 0
    block = dim + 2 + int(recency) + size
    width = design_width(dim, len(types), recency, size)
    rows = np.full((n, width), np.nan, dtype=np.float64)
    rows[:, :dim] = x
    for k, etype in enumerate(types):
        tx, ent = data.edges[etype]
        mean, degree = data.entity_mean(etype)
        count = np.bincount(tx, minlength=n)
        start = dim + k * block
        single = count == 1
        # the usual case, one entity of the type per transaction: its mean as is
        first = np.full(n, -1, dtype=np.int64)
        first[tx] = ent
        rows[single, start : start + dim] = mean[first[single]]
        rows[single, start + dim] = degree[first[single]]
        many = count > 1
        if many.any():  # generic graphs: the mean of the means, as design_rows takes it
            mean_sum = np.zeros((n, dim), dtype=np.float32)
            np.add.at(mean_sum, tx, mean[ent])
            degree_sum = np.zeros(n, dtype=np.float64)
            np.add.at(degree_sum, tx, degree[ent])
            rows[many, start : start + dim] = mean_sum[many] / count[many, None].astype(np.float32)
            rows[many, start + dim] = degree_sum[many] / count[many]
        rows[count > 0, start + dim + 1] = count[count > 0]
        if recency:
            age = data.transaction_dt[tx].astype(np.float64) - data.entity_first_dt(etype)[ent]
            age_sum = np.zeros(n, dtype=np.float64)
            np.add.at(age_sum, tx, age)
            rows[count > 0, start + dim + 2] = age_sum[count > 0] / count[count > 0]
        if size:
            table = embeddings[etype].double().numpy()
            at = start + dim + 2 + int(recency)
            rows[single, at : at + size] = table[first[single]]
            if many.any():
                vector_sum = np.zeros((n, size), dtype=np.float64)
                np.add.at(vector_sum, tx, table[ent])
                rows[many, at : at + size] = vector_sum[many] / count[many, None]
    return rows


def fit_graph_gbdt(
    data,
    config: GraphGBDTConfig,
    *,
    seed: int = 0,
    threads: int = 1,
    log=print,
    embeddings: Mapping[str, torch.Tensor] | None = None,
):
    """Fit on the labelled training split; returns (model, design rows of every transaction,
    the fitted scikit-learn classifier). ``threads``: OpenMP threads while fitting (0: all; on a
    small or busy machine more threads than cores slow the fit down many times over)."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    rows = offline_design(data, config.entity_types, config.recency, embeddings)
    train = data.mask("train")
    if len(np.unique(data.labels[train])) < 2:
        raise ValueError("graph-gbdt needs both classes in the training split")
    classifier = HistGradientBoostingClassifier(
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes,
        l2_regularization=config.l2_regularization,
        min_samples_leaf=config.min_samples_leaf,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )
    with threadpool_limits(threads or None):
        classifier.fit(rows[train], data.labels[train])
    log(f"graph_gbdt_iterations = {classifier.n_iter_};")
    model = GraphGBDT(config, TreeEnsemble.from_sklearn(classifier), embeddings)
    return model, rows, classifier
