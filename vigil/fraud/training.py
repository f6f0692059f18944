"""Training the fraud RGCN and a feature-only GBDT baseline beside it: the loop, metrics, curves
and the run that ``training/fraud/train.py`` (SageMaker script mode) calls.

Flags: ``--train``, ``--model-dir``, ``--output-data-dir`` (defaults ``SM_CHANNEL_TRAIN``,
``SM_MODEL_DIR``, ``SM_OUTPUT_DATA_DIR``) and one ``--<kebab-case>`` flag per field of
:class:`vigil.fraud.hyperparameters.Hyperparameters`, with its default and description
(``--class-weight``: ``balanced`` (negatives/positives), ``none`` (1) or a positive number;
``--batch-size 0``: full-batch, N > 0: neighbour-sampled mini-batches of N targets).

Outputs. ``--model-dir``: ``model.pt``, ``model_config.json``, ``entity_keys.json``,
``featurizer.json`` (see ``vigil.fraud.model.FraudModelBundle``) and ``code/`` (the entry point's
inference.py and the ``vigil`` modules it imports, so the training job's ``model.tar.gz``
deploys as is). ``--output-data-dir``: ``metrics.json``, ``roc_curve.png``, ``pr_curve.png``,
``test_scores.csv`` (``TransactionID, isFraud, pred_prob, baseline_prob``: the offline
full-graph scores). Every metric is also printed as a ``name = value;`` line for SageMaker metric
definitions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.fraud import distributed
from vigil.fraud.hyperparameters import Hyperparameters

LOG = logging.getLogger("vigil.fraud.train")
SAGEMAKER_PATHS = ("train", "model-dir", "output-data-dir")  # set by SageMaker (SM_* variables)
# how this machine runs the job, not what it learns: no hyperparameter (SageMaker gives hosts)
RUN_FLAGS = ("workers",)


def add_hyperparameter_args(
    parser: argparse.ArgumentParser, model: type[Hyperparameters] = Hyperparameters
) -> None:
    """One ``--<kebab-case>`` flag per field of ``model``, typed and defaulted by the field."""
    for name, field in model.model_fields.items():
        parser.add_argument(
            f"--{model.flag(name)}",
            type=field.annotation,
            default=field.default,
            help=field.description,
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(description="Train the fraud RGCN and a GBDT baseline")
    parser.add_argument("--train", default=env.get("SM_CHANNEL_TRAIN"), help="training channel")
    parser.add_argument("--model-dir", default=env.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--output-data-dir", default=env.get("SM_OUTPUT_DATA_DIR", "output"))
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="training processes on this machine (DDP, vigil.fraud.distributed); on SageMaker "
        "one per host of the job instead",
    )
    add_hyperparameter_args(parser)
    args = parser.parse_args(argv)
    if not args.train:
        parser.error("no training data: pass --train or set SM_CHANNEL_TRAIN")
    if args.n_layers < 1 or args.n_hidden < 1 or args.embedding_size < 1 or args.n_epochs < 1:
        parser.error("--n-layers, --n-hidden, --embedding-size and --n-epochs must be >= 1")
    if not 0 <= args.dropout < 1:
        parser.error("--dropout must be in [0, 1)")
    if args.batch_size < 0 or args.fanout < 1 or args.patience < 1:
        parser.error("--batch-size must be >= 0, --fanout and --patience >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    patterned = ("model", "selection_metric", "threshold_rule", "entity_input")
    for name in (*patterned, "gbdt_recency", "gbdt_rgcn_embeddings"):
        pattern = Hyperparameters.model_fields[name].metadata[0].pattern
        if not re.match(pattern, getattr(args, name)):
            parser.error(
                f"--{Hyperparameters.flag(name)}: {Hyperparameters.model_fields[name].description}"
            )
    if args.class_weight not in ("balanced", "none"):
        try:
            if float(args.class_weight) <= 0:
                raise ValueError
        except ValueError:
            parser.error("--class-weight must be 'balanced', 'none' or a positive number")
    return args


def positive_weight(spec: str, labels: np.ndarray) -> float:
    if spec == "none":
        return 1.0
    if spec == "balanced":
        positives = max(1, int((labels == 1).sum()))
        return float((labels == 0).sum()) / positives
    return float(spec)


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        f1_score,
        precision_recall_curve,
        precision_score,
        recall_score,
        roc_auc_score,
    )
    from sklearn.metrics import auc as area

    predicted = (scores >= threshold).astype(int)
    both = len(np.unique(labels)) == 2
    precision, recall, _ = precision_recall_curve(labels, scores) if both else ([0], [0], None)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "pr_auc": float(area(recall, precision)) if both else float("nan"),
        "ap": float(average_precision_score(labels, scores)) if both else float("nan"),
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


def metric_lines(metrics: dict, prefix: str = "") -> list[str]:
    """``name = value;`` lines (SageMaker metric definitions match ``name = ([0-9.eE+-]+);``)."""
    lines = []
    for name, value in metrics.items():
        if isinstance(value, dict):
            lines.extend(metric_lines(value, f"{prefix}{name}_"))
        elif isinstance(value, int | float):
            lines.append(f"{prefix}{name} = {value:.6g};")
    return lines


def plot_curves(labels: np.ndarray, curves: dict[str, np.ndarray], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, scores in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    ax.legend(loc="lower right")
    fig.savefig(out_dir / "roc_curve.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, scores in curves.items():
        precision, recall, _ = precision_recall_curve(labels, scores)
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    ax.legend(loc="upper right")
    fig.savefig(out_dir / "pr_curve.png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def train_baseline(data, args) -> np.ndarray | None:
    """Gradient-boosted trees on the same transaction features; probabilities for every row."""
    if args.baseline_iter <= 0:
        return None
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = data.mask("train")
    if len(np.unique(data.labels[train])) < 2:
        return None
    model = HistGradientBoostingClassifier(
        max_iter=args.baseline_iter, learning_rate=0.1, random_state=args.seed
    )
    model.fit(data.features[train], data.labels[train])
    return model.predict_proba(data.features)[:, 1]


def fit(data, args, *, log=print):
    """Train the RGCN on ``data`` (a ``FraudGraphData``); returns (model, graph, history)."""
    import torch
    from tqdm.auto import tqdm

    from vigil.dgl_compat import dgl
    from vigil.fraud.model import FraudRGCN, RGCNConfig

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    dgl.seed(args.seed)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    graph = data.build_graph()
    x = torch.from_numpy(data.features)
    y = torch.from_numpy(data.labels).float()
    train_idx = torch.from_numpy(np.flatnonzero(data.mask("train")))
    valid_mask = data.mask("valid")
    if len(train_idx) == 0:
        raise ValueError("no labelled training transactions")
    config = RGCNConfig(
        in_dim=data.features.shape[1],
        entity_counts={t: len(k) for t, k in data.entity_keys.items()},
        n_hidden=args.n_hidden,
        n_layers=args.n_layers,
        embedding_size=args.embedding_size,
        dropout=args.dropout,
    )
    model = FraudRGCN(config)
    known = data.known_entities("train")
    if args.entity_input == "features":
        # inductive: no entity has an ID embedding (every entity's input is zero), so the model
        # sees an entity only through its transactions' mean features (layer 1), new ones too
        known = {etype: np.zeros_like(flags) for etype, flags in known.items()}
    model.set_known(known)
    rank, workers = distributed.world()
    batch_size = args.batch_size
    if workers > 1 and batch_size == 0:  # DDP shares out targets: mini-batches, not the graph
        batch_size = distributed.DEFAULT_BATCH_SIZE
        log(f"workers = {workers}; batch_size = {batch_size}; (neighbour-sampled, per worker)")
    step_model = distributed.block_module(model) if workers > 1 else None
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    pos_weight = torch.tensor(positive_weight(args.class_weight, data.labels[train_idx.numpy()]))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    loader = None
    if batch_size > 0:
        from dgl.dataloading import DataLoader, NeighborSampler

        sampler = NeighborSampler([args.fanout] * args.n_layers)

        def make_loader(targets):
            return DataLoader(
                graph,
                {"transaction": targets},
                sampler,
                batch_size=batch_size,
                shuffle=True,
                drop_last=False,
            )

        loader = make_loader(train_idx)

    history = {"loss": [], "valid_auc": [], "epoch_seconds": []}
    best_auc, best_state, best_epoch, stale = -1.0, None, -1, 0
    from sklearn.metrics import roc_auc_score

    progress = tqdm(range(args.n_epochs), desc="rgcn", unit="epoch", mininterval=1.0)
    for epoch in progress:
        start = time.perf_counter()
        model.train()
        if loader is None:
            logits = model(graph, x)
            loss = loss_fn(logits[train_idx], y[train_idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_loss = float(loss.detach())
        else:
            total, count = 0.0, 0
            if workers > 1:  # this worker's share of the epoch's targets
                share = distributed.epoch_share(train_idx.numpy(), epoch, args.seed, rank, workers)
                loader = make_loader(torch.from_numpy(share))
            for input_nodes, output_nodes, blocks in loader:
                inputs = x[input_nodes["transaction"]]
                if step_model is not None:
                    logits = step_model(blocks, inputs)
                else:
                    logits = model.forward_blocks(blocks, inputs)
                target = y[output_nodes["transaction"]]
                loss = loss_fn(logits, target)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss) * len(target)
                count += len(target)
            epoch_loss = distributed.mean_over_workers(total / max(count, 1))
        seconds = time.perf_counter() - start
        valid_auc = float("nan")
        if rank == 0:  # one worker validates; all stop at the epoch it chooses
            probs = model.inference(graph, x).numpy()
            if len(np.unique(data.labels[valid_mask])) == 2:
                valid_auc = float(roc_auc_score(data.labels[valid_mask], probs[valid_mask]))
        valid_auc = distributed.broadcast_float(valid_auc)
        history["loss"].append(epoch_loss)
        history["valid_auc"].append(valid_auc)
        history["epoch_seconds"].append(seconds)
        progress.set_postfix(loss=f"{epoch_loss:.4f}", valid_auc=f"{valid_auc:.4f}")
        log(f"epoch = {epoch}; train_loss = {epoch_loss:.6g}; valid_roc_auc = {valid_auc:.6g};")
        score = valid_auc if valid_auc == valid_auc else -epoch_loss  # no valid labels: by loss
        if score > best_auc:
            best_auc, best_epoch, stale = score, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= args.patience:
                log(f"early stop at epoch {epoch}: best valid AUC {best_auc:.4f} at {best_epoch}")
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_epoch"] = best_epoch
    return model, graph, history


def offline_scores(model, graph, data) -> np.ndarray:
    """Layer-wise full-graph fraud probability of every transaction (what serving reproduces)."""
    import torch

    return model.inference(graph, torch.from_numpy(data.features)).numpy()


# --- both models, selection, calibration, threshold ------------------------------------------------
MODEL_METRIC_PREFIX = {"rgcn": "rgcn", "graph-gbdt": "graph_gbdt"}


@dataclass
class Candidate:
    """One trained model and its offline logit for every transaction (full graph)."""

    kind: str
    model: object
    logits: np.ndarray
    info: dict


def model_kinds(spec: str) -> list[str]:
    return list(dict.fromkeys(k.strip() for k in spec.split(",") if k.strip()))


def train_rgcn(data, args, log, trained=()) -> Candidate:
    model, graph, history = fit(data, args, log=log)
    import torch

    logits = model.inference_logits(graph, torch.from_numpy(data.features)).numpy()
    info = {
        "best_epoch": history["best_epoch"],
        "epochs_run": len(history["loss"]),
        "epoch_seconds_mean": float(np.mean(history["epoch_seconds"])),
        "epoch_seconds": history["epoch_seconds"],
        "train_loss_first": history["loss"][0],
        "train_loss_last": history["loss"][-1],
    }
    return Candidate("rgcn", model, logits.astype(np.float64), info)


def train_graph_gbdt(data, args, log, trained=()) -> Candidate:
    """The graph-feature GBDT; with ``--gbdt-rgcn-embeddings on``, also each entity's vector
    from the RGCN among ``trained`` (or one trained here), frozen into the GBDT's tables."""
    import torch

    from vigil.fraud.graph_gbdt import GraphGBDTConfig, fit_graph_gbdt, rgcn_embedding_tables

    embeddings = None
    if args.gbdt_rgcn_embeddings == "on":
        rgcn = next((c.model for c in trained if c.kind == "rgcn"), None)
        if rgcn is None:
            rgcn = train_rgcn(data, args, log).model
        if getattr(rgcn, "embeddings", None) and len(rgcn.embeddings):
            embeddings = rgcn_embedding_tables(rgcn)
        else:  # --entity-input features: the RGCN has no per-entity vectors to lend
            log("graph-gbdt: the RGCN learned no entity embeddings; none added")

    config = GraphGBDTConfig(
        in_dim=data.features.shape[1],
        entity_types=data.entity_types,
        max_iter=args.gbdt_max_iter,
        learning_rate=args.gbdt_learning_rate,
        max_leaf_nodes=args.gbdt_max_leaf_nodes,
        l2_regularization=args.gbdt_l2,
        recency=args.gbdt_recency == "on" and data.transaction_dt is not None,
        embedding_size=0 if embeddings is None else next(iter(embeddings.values())).shape[1],
    )
    if args.gbdt_recency == "on" and not config.recency:
        log("graph-gbdt: no TransactionDT in the training data, so no entity age column")
    started = time.perf_counter()
    model, rows, classifier = fit_graph_gbdt(
        data, config, seed=args.seed, threads=args.num_threads, log=log, embeddings=embeddings
    )
    seconds = time.perf_counter() - started
    # the offline logits by the serving arithmetic (the exported trees), not scikit-learn's
    logits = model.trees.raw(torch.from_numpy(rows)).numpy()
    info = {
        "iterations": int(classifier.n_iter_),
        "fit_seconds": round(seconds, 2),
        "recency": config.recency,
        "rgcn_embedding_size": config.embedding_size,
    }
    return Candidate("graph-gbdt", model, logits, info)


def ranking_metric(name: str, labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(np.unique(labels)) < 2:
        return float("nan")
    if name == "average_precision":
        return float(average_precision_score(labels, scores))
    return float(roc_auc_score(labels, scores))


def select_model(candidates: list[Candidate], data, metric: str) -> tuple[Candidate, dict]:
    """The candidate with the best validation ``metric`` (the first when none can be scored),
    and every candidate's validation and test ROC-AUC and AUC-PR."""
    valid, test = data.mask("valid"), data.mask("test")
    scores = {}
    for c in candidates:
        scores[c.kind] = {
            f"{split}_{name}": ranking_metric(name, data.labels[mask], c.logits[mask])
            for split, mask in (("valid", valid), ("test", test))
            for name in ("roc_auc", "average_precision")
        }
    chosen = max(
        candidates,
        key=lambda c: (
            -1.0
            if np.isnan(scores[c.kind][f"valid_{metric}"])
            else scores[c.kind][f"valid_{metric}"]
        ),
    )
    return chosen, scores


def entity_label_counts(data) -> dict[str, list[list[int]]]:
    """Per entity: [labelled training transactions, of which fraud]."""
    rows = data.mask("train")
    out = {}
    for etype, (tx, ent) in data.edges.items():
        n = len(data.entity_keys[etype])
        labelled = np.bincount(ent[rows[tx]], minlength=n)
        frauds = np.bincount(ent[rows[tx] & (data.labels[tx] == 1)], minlength=n)
        out[etype] = np.stack([labelled, frauds], axis=1).tolist()
    return out


def offline_dense(data, targets: np.ndarray):
    """The dense serving contexts (``vigil.fraud.context``) of ``targets`` from the full training
    graph, with the ETL's arithmetic (float64 sums kept as float32, mean in float32); None when a
    target has several entities of one type."""
    import torch

    from vigil.fraud.context import DenseContexts

    n, dim = len(targets), data.features.shape[1]
    types = data.entity_types
    index = np.full((n, len(types)), -1, dtype=np.int64)
    mean = np.zeros((n, len(types), dim), dtype=np.float32)
    degree = np.ones((n, len(types)), dtype=np.float64)
    present = np.zeros((n, len(types)), dtype=bool)
    age = np.full((n, len(types)), np.nan, dtype=np.float64)
    position = np.full(len(data.transaction_ids), -1, dtype=np.int64)
    position[targets] = np.arange(n)
    for k, etype in enumerate(types):
        tx, ent = data.edges[etype]
        if np.bincount(tx, minlength=len(position)).max(initial=0) > 1:
            return None
        entity_mean, count = data.entity_mean(etype)
        rows = position[tx]
        mine = rows >= 0
        index[rows[mine], k] = ent[mine]
        mean[rows[mine], k] = entity_mean[ent[mine]]
        degree[rows[mine], k] = count[ent[mine]]
        present[rows[mine], k] = True
        if data.transaction_dt is not None:
            first = data.entity_first_dt(etype)
            age[rows[mine], k] = data.transaction_dt[tx[mine]] - first[ent[mine]]
    return DenseContexts(
        index=torch.from_numpy(index),
        mean=torch.from_numpy(mean),
        has_mean=torch.from_numpy(present.copy()),
        degree=torch.from_numpy(degree),
        present=torch.from_numpy(present),
        age=torch.from_numpy(age),
    )


def offline_explanations(model, calibration, data, targets: np.ndarray, batch: int = 4096):
    """Per target: the base logit (every entity fresh) and each entity type's contribution, in
    calibrated log-odds, by serving's definition (``vigil.fraud.serving.entity_contributions``;
    with one entity per type, as in IEEE-CIS, the same numbers; with several, the type's
    entities are made fresh together). All zeros when the model has no entity types."""
    import torch

    base = np.zeros(len(targets))
    contributions = {etype: np.zeros(len(targets)) for etype in data.entity_types}
    n_types = len(data.entity_types)
    for start in range(0, len(targets), batch):
        chunk = targets[start : start + batch]
        dense = offline_dense(data, chunk)
        if dense is None:  # several entities of a type: the type's entities fresh together
            return _offline_explanations_by_type(model, calibration, data, targets)
        features = torch.from_numpy(data.features[chunk])
        full = model.dense_logits(features, dense).double().numpy()
        everything = torch.ones(n_types, dtype=torch.bool)
        fresh = model.dense_logits(features, dense.with_fresh(everything)).double().numpy()
        base[start : start + len(chunk)] = calibration.a * fresh + calibration.b
        for k, etype in enumerate(data.entity_types):
            only = torch.zeros(n_types, dtype=torch.bool)
            only[k] = True
            without = model.dense_logits(features, dense.with_fresh(only)).double().numpy()
            contributions[etype][start : start + len(chunk)] = calibration.a * (full - without)
    return base, contributions


def _offline_explanations_by_type(model, calibration, data, targets: np.ndarray):
    import torch

    from vigil.fraud.serving import entity_contributions

    base = np.zeros(len(targets))
    contributions = {etype: np.zeros(len(targets)) for etype in data.entity_types}
    contexts = _offline_contexts(data, targets)
    features = torch.from_numpy(data.features[targets])
    for i, (_, base_logit, slots) in enumerate(
        entity_contributions(model, calibration, features, contexts)
    ):
        base[i] = base_logit
        for etype, _, contribution in slots:
            contributions[etype][i] += contribution
    return base, contributions


def _offline_contexts(data, targets: np.ndarray):
    import torch

    contexts = [{} for _ in targets]
    position = {int(t): i for i, t in enumerate(targets)}
    dt = data.transaction_dt
    for etype, (tx, ent) in data.edges.items():
        feat_sum, count = data.entity_state(etype)
        first = None if dt is None else data.entity_first_dt(etype)
        sums = torch.from_numpy(feat_sum)
        for context in contexts:
            context[etype] = []
        for t, e in zip(tx.tolist(), ent.tolist(), strict=True):
            if t in position:
                mean = sums[e] / torch.tensor(float(count[e]))
                age = float("nan") if first is None else float(dt[t] - first[e])
                contexts[position[t]][etype].append((e, mean, int(count[e]), age))
    return contexts


def main(argv: list[str] | None = None, *, inference_entry: str | Path) -> int:
    """Train the asked models, keep the best on validation, calibrate it, choose its operating
    threshold, evaluate and save it as a deployable model (``inference_entry`` becomes
    ``code/inference.py``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    workers = distributed.workers_from(args.workers)
    if workers.spawn_locally:
        return distributed.spawn_local(workers, main, argv, inference_entry=inference_entry)
    distributed.init(workers)
    try:
        return _train_and_save(args, workers, inference_entry)
    finally:
        distributed.shutdown()


def _train_and_save(args, workers, inference_entry) -> int:
    import pandas as pd

    from vigil.fraud.calibration import (
        THRESHOLD_TABLE_FILE,
        PlattCalibration,
        choose_threshold,
        expected_calibration_error,
        threshold_table,
    )
    from vigil.fraud.dataset import load_training_data
    from vigil.fraud.model import FraudModelBundle

    model_dir, out_dir = Path(args.model_dir), Path(args.output_data_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = load_training_data(args.train)
    if not workers.is_main:  # a worker's share of the RGCN's training; rank 0 saves the model
        if "rgcn" in model_kinds(args.model):
            fit(data, args, log=lambda line: None)
        return 0
    print(
        f"transactions = {len(data.transaction_ids)}; features = {data.features.shape[1]}; "
        f"entity_types = {len(data.entity_keys)}; "
        f"entities = {sum(len(k) for k in data.entity_keys.values())};",
        flush=True,
    )
    log = lambda line: print(line, flush=True)  # noqa: E731
    trainers = {"rgcn": train_rgcn, "graph-gbdt": train_graph_gbdt}
    candidates: list[Candidate] = []
    for kind in model_kinds(args.model):
        candidates.append(trainers[kind](data, args, log, candidates))
    chosen, scores = select_model(candidates, data, args.selection_metric)
    for kind, values in scores.items():
        for name, value in values.items():
            print(f"{MODEL_METRIC_PREFIX[kind]}_{name} = {value:.6g};")
    print(f"selected_model: {chosen.kind} (by validation {args.selection_metric})", flush=True)

    valid, test = data.mask("valid"), data.mask("test")
    calibration = PlattCalibration.fit(chosen.logits[valid], data.labels[valid])
    raw_probs = 1.0 / (1.0 + np.exp(-chosen.logits))
    probs = 1.0 / (1.0 + np.exp(-(calibration.a * chosen.logits + calibration.b)))
    threshold = choose_threshold(probs[valid], data.labels[valid], args.threshold_rule)
    table = threshold_table(probs[valid], data.labels[valid], threshold)
    baseline = train_baseline(data, args)

    metrics = binary_metrics(data.labels[test], probs[test], threshold)
    metrics["ece_before"] = expected_calibration_error(raw_probs[test], data.labels[test])
    metrics["ece"] = expected_calibration_error(probs[test], data.labels[test])
    result = {
        "selected_model": chosen.kind,
        "selection_metric": args.selection_metric,
        "models": {c.kind: {**scores[c.kind], **c.info} for c in candidates},
        "calibration": calibration.to_dict(),
        "threshold": threshold,
        "threshold_rule": args.threshold_rule,
        "test": metrics,
        "valid_roc_auc": scores[chosen.kind]["valid_roc_auc"],
        "transactions": len(data.transaction_ids),
        "test_transactions": int(test.sum()),
        "hyperparameters": {k: v for k, v in vars(args).items() if k not in ("train",)},
        "seconds": None,
        "workers": workers.world_size,
    }
    if "rgcn" in result["models"]:  # the RGCN's training history, at the top as before
        for key in ("best_epoch", "epochs_run", "epoch_seconds_mean"):
            result[key] = result["models"]["rgcn"][key]
    for line in metric_lines(metrics, "test_"):
        print(line)
    print(f"operating_threshold = {threshold:.6g};", flush=True)
    curves = {f"{c.kind} (selected)" if c is chosen else c.kind: c.logits[test] for c in candidates}
    if baseline is not None:
        result["baseline_test"] = binary_metrics(data.labels[test], baseline[test], 0.5)
        curves["GBDT baseline (row only)"] = baseline[test]
        print(f"baseline_test_roc_auc = {result['baseline_test']['roc_auc']:.6g};")
    if len(np.unique(data.labels[test])) == 2:
        plot_curves(data.labels[test], curves, out_dir)

    test_rows = np.flatnonzero(test)
    columns = {
        "TransactionID": data.transaction_ids[test],
        "isFraud": data.labels[test],
        "pred_prob": probs[test],
        "flag": np.where(probs[test] >= threshold, "fraud", "legit"),
    }
    for c in candidates:
        columns[f"{MODEL_METRIC_PREFIX[c.kind]}_logit"] = c.logits[test]
    if baseline is not None:
        columns["baseline_prob"] = baseline[test]
    base, contributions = offline_explanations(chosen.model, calibration, data, test_rows)
    columns["base_logit"] = base
    for etype, values in contributions.items():
        columns[f"contribution_{etype}"] = values
    pd.DataFrame(columns).to_csv(out_dir / "test_scores.csv", index=False, float_format="%.8g")
    (out_dir / THRESHOLD_TABLE_FILE).write_text(json.dumps(table, indent=1))

    bundle = FraudModelBundle(
        model=chosen.model,
        entity_keys=data.entity_keys,
        featurizer=data.featurizer,
        calibration=calibration.to_dict(),
        threshold=threshold,
        entity_labels=entity_label_counts(data),
        metadata={
            "feature_names": data.feature_names,
            "selection_metric": args.selection_metric,
            "threshold_rule": args.threshold_rule,
            "valid_roc_auc": result["valid_roc_auc"],
            "test_roc_auc": metrics["roc_auc"],
            "candidates": {k: v for k, v in scores.items()},
        },
    )
    bundle.save(model_dir)
    (model_dir / THRESHOLD_TABLE_FILE).write_text(json.dumps(table, indent=1))
    try:  # make SM_MODEL_DIR a deployable model: code/inference.py + the vigil modules it needs
        from vigil.fraud.serving import add_serving_code

        add_serving_code(model_dir, inference_entry)
    except (ImportError, FileNotFoundError) as error:  # a source dir without the entry point
        LOG.warning("model saved without code/: %s", error)
    result["seconds"] = round(time.perf_counter() - started, 2)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=1, default=float))
    print(f"training_seconds = {result['seconds']};", flush=True)
    return 0
